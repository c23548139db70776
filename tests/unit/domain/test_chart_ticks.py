"""Readable chart axes: round ticks in plain numbers (`sluice.domain.reports.charts`), checked over many ranges,
and the drift report's histogram bins on those round numbers."""

from __future__ import annotations

import math
import re
from itertools import pairwise

import numpy as np
import pytest

from sluice.domain.monitoring.drift import NumericalColumn, check_drift_columns
from sluice.domain.monitoring.drift.report_html import render_html
from sluice.domain.reports.charts import line_chart, nice_ticks, plain_number, plain_percent, tick_label

PLAIN = re.compile(r"^−?\d{1,3}(,\d{3})*(\.\d+)?$")  # 48,000 or 0.25 or −3: no exponent, no padding


def ranges(n: int) -> list[tuple[float, float]]:
    """Seeded ranges from a millionth to billions wide, anywhere from −1e9 to 1e9, some of one point; no
    narrower than a millionth of their distance from zero (past that, float64 cannot hold round ticks)."""
    rng = np.random.default_rng(13)
    found = []
    for _ in range(n):
        low = float(rng.uniform(-1, 1) * 10 ** rng.uniform(-6, 9))
        width = max(float(10 ** rng.uniform(-6, 9)), abs(low) * 1e-6) if rng.random() > 0.05 else 0.0
        found.append((low, low + width))
    return found


@pytest.mark.parametrize("count", [3, 5, 8])
def test_ticks_are_round_evenly_spaced_and_cover_the_range(count: int) -> None:
    for low, high in ranges(400):
        # When ticks are chosen for the range
        ticks = nice_ticks(low, high, count)
        # Then they cover it (to a billionth of a step: float64's rounding), about `count` of them
        step = ticks[1] - ticks[0]
        assert ticks[0] <= low + 1e-9 * step and ticks[-1] >= high - 1e-9 * step, (low, high, ticks)
        assert 2 <= len(ticks) <= 2 * count + 1, (low, high, ticks)
        # And they are evenly spaced by 1, 2 or 5 times a power of ten
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6, (low, high, step)
        assert np.allclose(np.diff(ticks), step, rtol=1e-6, atol=0)
        # And each is written plainly, and reads back as its value
        for tick in ticks:
            label = tick_label(tick, step)
            assert PLAIN.match(label), (label, tick, step)
            assert float(label.replace(",", "").replace("−", "-")) == pytest.approx(tick, abs=step * 1e-6)


def test_plain_numbers_and_percentages() -> None:
    # Given numbers of every size, Then they are written in full, rounded to 3 significant digits
    assert [plain_number(v) for v in (48_213.7, 31_000, 0.0001234, -3.5, 999.6, 1.5e9, 0)] == [
        "48,200",
        "31,000",
        "0.000123",
        "−3.5",
        "1,000",
        "1,500,000,000",
        "0",
    ]
    # And shares are whole percentages, finer only below 1% and above 99%: only none is 0%, only all 100%
    assert [plain_percent(s) for s in (0.35, 0.6149, 0.004, 0.0, 0.9962, 0.99999, 1.0)] == [
        "35%",
        "61%",
        "0.4%",
        "0%",
        "99.6%",
        "99.9%",
        "100%",
    ]


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4, 1e7])
def test_histogram_bins_and_axes_of_the_html_report_are_plain_round_numbers(scale: float) -> None:
    # Given a numerical column at some scale, shifted by half a spread
    rng = np.random.default_rng(5)
    reference = rng.normal(10 * scale, scale, 3000)
    current = rng.normal(10.5 * scale, scale, 2000)
    report = check_drift_columns({"x": NumericalColumn(reference)}, {"x": NumericalColumn(current)})
    # When the report is drawn
    distribution = report.distributions["x"]
    page = render_html(report)
    # Then each bin reads "a–b" of plain numbers on one round step, the edges shared by both sides
    edges = distribution.edges or []
    step = edges[1] - edges[0]
    for label, (a, b) in zip(distribution.labels, pairwise(edges), strict=True):
        start, end = label.split("–")
        assert PLAIN.match(start) and PLAIN.match(end), label
        assert (start, end) == (tick_label(a, step), tick_label(b, step))
    assert len(distribution.reference) == len(distribution.current) == len(edges) - 1
    # And the axes carry plain tick labels only: no exponent, no "≤"
    ticks = re.findall(r"class='[xy]-tick'[^>]*>([^<]*)<", page)
    assert ticks and all(PLAIN.match(t.removesuffix("%")) for t in ticks), ticks
    assert "≤" not in page and "e+" not in page and "e-0" not in page


@pytest.mark.parametrize(
    "values", [[0.78, 0.838, None, 0.81], [0.0, 0.55, 0.2], [48_213.0, 31_002.5], [-0.4, 0.3], [3.0]]
)
def test_trend_lines_have_a_y_axis_of_round_plain_ticks_around_every_value(
    values: list[float | None],
) -> None:
    # Given a trend (e.g. the dashboard's live metric per check)
    points = [(f"check {i}", v) for i, v in enumerate(values)]

    # When it is drawn
    svg = line_chart(points, name="trend")

    # Then the y-axis ticks are evenly spaced round numbers written plainly, and they span every value
    ticks = [(float(value), label) for value, label in re.findall(r"data-tick='([^']+)'>([^<]+)<", svg)]
    assert len(ticks) >= 2
    steps = {round(b - a, 12) for (a, _), (b, _) in pairwise(ticks)}
    assert len(steps) == 1
    (step,) = steps
    assert round(step / 10 ** math.floor(math.log10(step)), 9) in {1.0, 2.0, 5.0}
    for value, label in ticks:
        assert "e" not in label and float(label.replace(",", "").replace("\u2212", "-")) == pytest.approx(
            value
        )
    known = [v for v in values if v is not None]
    assert ticks[0][0] <= min(known) and ticks[-1][0] >= max(known)
