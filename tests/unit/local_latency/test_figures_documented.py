"""The latency figures the local stack draws from are the ones docs/guides/local-stack.md tables, with
their sources: every operation of the code's table is in the guide's, with the same median and p99, and
the guide lists nothing the code lacks."""

from __future__ import annotations

import re

from sluice.tools.local.latency import DEFAULT, FIGURES
from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "guides" / "local-stack.md"
ROW = re.compile(
    r"^\| (?P<operations>[^|]+?) \| (?P<median>[\d.]+) \| (?P<p99>[\d.]+) \| (?P<basis>[^|]+) \|$"
)


def documented() -> dict[str, tuple[float, float]]:
    """operation → (median, p99) from the guide's figures table (a row may name several operations of
    one service, `stepfunctions:SendTaskSuccess`, `SendTaskFailure`)."""
    section = GUIDE.read_text(encoding="utf-8").split("### The figures", 1)[1]
    figures: dict[str, tuple[float, float]] = {}
    for line in section.splitlines():
        match = ROW.match(line.strip())
        if match is None:
            continue
        values = (float(match["median"]), float(match["p99"]))
        names = re.findall(r"`([^`]+)`", match["operations"])
        if not names:  # "any other operation"
            figures["default"] = values
            continue
        service = names[0].split(":", 1)[0]
        for name in names:
            figures[name if ":" in name else f"{service}:{name}"] = values
    return figures


def test_the_guide_tables_the_figures_the_stack_draws_from() -> None:
    table = documented()
    expected = {op: (f.median_ms, f.p99_ms) for op, f in FIGURES.items()}
    expected["default"] = (DEFAULT.median_ms, DEFAULT.p99_ms)
    assert table == expected
