"""The HTML drift report as text: verdict first, columns sorted by drift, charts inline, nothing external."""

from __future__ import annotations

import re

import numpy as np

from sluice.domain.monitoring.drift import (
    CategoricalColumn,
    Column,
    DriftReport,
    NumericalColumn,
    check_drift_columns,
)
from sluice.domain.monitoring.drift.report_html import (
    CURRENT_COLOUR,
    HIGHLIGHT_COLOUR,
    REFERENCE_COLOUR,
    render_html,
)


def mixed_report() -> DriftReport:
    rng = np.random.default_rng(21)
    reference: dict[str, Column] = {
        "calm": NumericalColumn(rng.normal(size=5000)),
        "moved": NumericalColumn(rng.normal(size=5000)),
        "moved_more": NumericalColumn(rng.normal(size=5000)),
        "<segment>": CategoricalColumn.from_labels(rng.choice(["a", "b"], size=5000).tolist()),
        "empty": NumericalColumn(rng.normal(size=5000)),
    }
    current: dict[str, Column] = {
        "calm": NumericalColumn(rng.normal(size=3000)),
        "moved": NumericalColumn(rng.normal(0.4, size=3000)),
        "moved_more": NumericalColumn(rng.normal(2.0, size=3000)),
        "<segment>": CategoricalColumn.from_labels(rng.choice(["a", "b", "<new>"], size=3000).tolist()),
        "empty": NumericalColumn(np.full(3000, np.nan)),
    }
    return check_drift_columns(reference, current)


def test_report_leads_with_the_verdict_and_sorts_columns_by_drift() -> None:
    # Given a report with three drifted columns, one calm and one not computed
    report = mixed_report()
    # When rendered
    page = render_html(report)
    # Then the summary line comes before the table, and rows go most drifted first, not-computed last
    assert page.index("Dataset drift detected: 3 of 4 columns drifted") < page.index("<table>")
    table = page[page.index("<table>") : page.index("</table>")]
    order = re.findall(r"<a href='#col-[^']*'>([^<]*)</a>", table)
    assert order == ["moved_more", "moved", "&lt;segment&gt;", "calm", "empty"]
    assert "not computed" in table


def test_each_column_gets_reference_and_current_charts_side_by_side() -> None:
    # Given the same report
    page = render_html(mixed_report())
    # Then each computed column has two SVG panels (4 columns × 2), coloured per side, and the unseen
    # category is highlighted; the empty column says there is nothing to draw
    assert page.count("<svg") == 8
    assert page.count("aria-label='reference distribution'") == 4
    assert page.count("aria-label='current distribution'") == 4
    assert REFERENCE_COLOUR in page and CURRENT_COLOUR in page
    assert f"fill='{HIGHLIGHT_COLOUR}'" in page
    assert "No values to draw." in page


def test_report_is_self_contained_and_escapes_names() -> None:
    # Given the same report
    page = render_html(mixed_report())
    # Then nothing is loaded from elsewhere (no scripts, links or remote URLs) and names are escaped
    assert "<script" not in page
    assert "<link" not in page
    assert re.findall(r"https?://[^'\"]*", page) == ["http://www.w3.org/2000/svg"] * 8
    assert "<segment>" not in page and "&lt;segment&gt;" in page
    assert "&lt;new&gt;" in page


def test_insufficient_data_report_renders_its_reason() -> None:
    # Given a report from the minimum-rows guard
    report = check_drift_columns(
        {"x": NumericalColumn(np.zeros(5))}, {"x": NumericalColumn(np.zeros(5))}, min_rows=10
    )
    # When rendered, Then the page says why there is no verdict and draws nothing
    page = render_html(report)
    assert "Insufficient data: 5 rows on one side, fewer than the minimum of 10" in page
    assert "<svg" not in page
