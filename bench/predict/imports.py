"""Where the built PredictFunction's import (Lambda's init) goes, for bench.predict.cold: `python -X
importtime` of the sam build bundle, by package and module by module."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from dataclasses import dataclass

from bench.predict.common import table

IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass
class ImportBreakdown:
    """`-X importtime` of the built handler module (Lambda's init), medians over runs."""

    tree: list[tuple[int, str, float]]  # (depth, module, cumulative ms), two levels below app.py
    packages: list[tuple[str, float]]  # (package, ms its modules take themselves), largest first


def import_breakdown(
    python: list[str], bundle: list[str], env: dict[str, str], runs: int = 3
) -> ImportBreakdown:
    """`-X importtime` of the built handler module as the cold start imports it, with `python` (the
    interpreter and its options) and `bundle` as sys.path: Lambda's init (its imports, then the deps
    and their clients, which import botocore), median of `runs`. app.py's imports and theirs, two
    levels down, in importtime's order (a module's imports before it), and every module's own time
    summed by package (the standard library as one)."""
    code = f"import sys; sys.path[:0] = {bundle!r}; import app"
    samples: dict[tuple[int, str], list[float]] = {}
    by_package: dict[str, list[float]] = {}
    for _ in range(runs):
        result = subprocess.run(
            [*python, "-X", "importtime", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        own: dict[str, float] = {}
        for line in result.stderr.splitlines():
            match = IMPORTTIME.match(line)
            if not match:
                continue
            package = package_of(match.group(4))
            own[package] = own.get(package, 0.0) + int(match.group(1)) / 1000
            depth = (len(match.group(3)) - 1) // 2  # app.py 0, its imports 1, theirs 2
            if depth <= 2:
                samples.setdefault((depth, match.group(4)), []).append(int(match.group(2)) / 1000)
        for package, ms in own.items():
            by_package.setdefault(package, []).append(ms)
    return ImportBreakdown(
        tree=[(depth, name, statistics.median(values)) for (depth, name), values in samples.items()],
        packages=sorted(
            ((package, statistics.median(values)) for package, values in by_package.items()),
            key=lambda item: -item[1],
        ),
    )


def package_of(module: str) -> str:
    """What a module's import time is counted under: sluice's parts (sluice.domain, …), app.py (its own
    code: create_app and init's deps and clients), the standard library, or the top-level package."""
    top = module.split(".")[0]
    if top == "sluice":
        return ".".join(module.split(".")[:2])
    if top == "app":
        return "app.py (create_app; init: settings, deps, clients)"
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "standard library"
    return top


def import_table(breakdown: ImportBreakdown, threshold_ms: float = 5.0, top: int = 14) -> None:
    total = sum(ms for _, ms in breakdown.packages)
    print(
        "\nWhat the built handler's import (Lambda's init) still spends, by package (`python -X importtime` in\n"
        "the sam build bundle, median of 3; each module's own time, summed):"
    )
    shown = breakdown.packages[:top]
    rest = sum(ms for _, ms in breakdown.packages[top:])
    rows = [[name, f"{ms:,.1f}", f"{ms / total:.0%}"] for name, ms in shown]
    rows += [[f"{len(breakdown.packages) - top} other packages", f"{rest:,.1f}", f"{rest / total:.0%}"]]
    table(["package", "ms", "share"], [*rows, ["total", f"{total:,.1f}", "100%"]])
    print(
        "\nThe same import, module by module (cumulative ms; app.py's imports and theirs, two levels down,\n"
        f"those over {threshold_ms:.0f} ms):"
    )
    tree = [["  " * depth + name, f"{ms:,.1f}"] for depth, name, ms in reversed(breakdown.tree)]
    table(["module", "ms"], [r for r in tree if float(r[1].replace(",", "")) >= threshold_ms])
