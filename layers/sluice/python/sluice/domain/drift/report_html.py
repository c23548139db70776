"""A drift report a person reads first: one self-contained HTML page (inline CSS and SVG, no scripts,
no network) with the verdict, a table of columns sorted by drift, and each column's reference and
current distributions drawn side by side on the same scale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from sluice.domain.charts import CURRENT_COLOUR, REFERENCE_COLOUR, page
from sluice.domain.drift.methods import P_VALUE_METHODS
from sluice.domain.drift.report import ColumnDrift, Distribution, DriftReport

HIGHLIGHT_COLOUR = "#c53030"
CHART_WIDTH = 500
CHART_HEIGHT = 190
PLOT_LEFT = 44
PLOT_BOTTOM = 44
PLOT_TOP = 22

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:1.5rem auto;max-width:1120px;
color:#1f2933;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .4rem}h2{font-size:1.1rem;margin:1.6rem 0 .3rem}
.summary{font-size:1.05rem;padding:.7rem 1rem;border-radius:6px;margin:.8rem 0}
.ok{background:#e3f9e5;border-left:6px solid #3f9142}.bad{background:#ffe3e3;border-left:6px solid #c53030}
.neutral{background:#f0f4f8;border-left:6px solid #627d98}
table{border-collapse:collapse;margin:.5rem 0;font-size:.92rem}
th,td{padding:.28rem .6rem;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:top}
th{background:#f5f7fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.yes{color:#c53030;font-weight:600}.no{color:#3f9142}.skip{color:#627d98}
.muted{color:#627d98;font-size:.88rem}.pair{display:flex;gap:1rem;flex-wrap:wrap}
.key{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}
section{border-top:1px solid #d9e2ec;margin-top:1rem}
"""


def render_html(
    report: DriftReport,
    title: str = "Drift report",
    notes: Sequence[str] = (),
    appendix: DriftReport | None = None,
) -> str:
    """The whole report as one HTML document (UTF-8 text) that opens offline in any browser. `notes`
    are lines shown under the verdict; `appendix` holds columns drawn after the features but outside
    the dataset verdict (the scheduled check puts the model's predictions there)."""
    ordered = sorted(report.features.items(), key=lambda item: _drift_order(item[1]))
    verdict_class = "neutral" if report.status != "ok" else "bad" if report.dataset_drift else "ok"
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p class='summary {verdict_class}'>{escape(report.summary())}</p>",
        "<p class='muted'>Columns are sorted by drift: drifted first, then by how far the score is past "
        "its threshold. Scores are p-values for ks, chisquare and z (drift when small) and distances "
        "for wasserstein, jensenshannon and psi (drift when large). Missing values are left out of "
        "each test; their share is shown beside it."
        f"<span class='key' style='background:{REFERENCE_COLOUR}'></span>reference"
        f"<span class='key' style='background:{CURRENT_COLOUR}'></span>current"
        f"<span class='key' style='background:{HIGHLIGHT_COLOUR}'></span>absent from the reference</p>",
    ]
    parts[2:2] = [f"<p>{escape(note)}</p>" for note in notes]
    if ordered:
        parts.append(_summary_table(ordered))
    for name, column in ordered:
        parts.append(_column_section(name, column, report.distributions.get(name)))
    if appendix is not None:
        parts.append("<h2>Outside the dataset verdict</h2>")
        for name, column in appendix.features.items():
            parts.append(_column_section(name, column, appendix.distributions.get(name)))
    return page(title, "".join(parts), STYLE)


def _drift_order(column: ColumnDrift) -> tuple[int, float]:
    if column.status != "computed" or column.score is None:
        return (2, 0.0)
    if column.method in P_VALUE_METHODS:
        severity = math.log10(column.threshold) - math.log10(max(column.score, 1e-300))
    else:
        severity = column.score / column.threshold if column.threshold else column.score
    return (0 if column.drifted else 1, -severity)


def _summary_table(ordered: list[tuple[str, ColumnDrift]]) -> str:
    head = (
        "<tr><th>Column</th><th>Type</th><th>Method</th><th>Score</th><th>Threshold</th><th>Drift</th>"
        "<th>Missing (ref)</th><th>Missing (cur)</th><th>New categories</th></tr>"
    )
    rows = []
    for name, column in ordered:
        if column.status != "computed":
            drift = "<td class='skip'>not computed</td>"
        elif column.drifted:
            drift = "<td class='yes'>drifted</td>"
        else:
            drift = "<td class='no'>no</td>"
        unseen = ", ".join(column.unseen_categories[:5]) + ("…" if len(column.unseen_categories) > 5 else "")
        rows.append(
            f"<tr><td><a href='#col-{_anchor(name)}'>{escape(name)}</a></td><td>{column.type}</td>"
            f"<td>{column.method}</td><td class='num'>{_number(column.score)}</td>"
            f"<td class='num'>{_number(column.threshold)}</td>{drift}"
            f"<td class='num'>{column.missing_reference:.1%}</td>"
            f"<td class='num'>{column.missing_current:.1%}</td>"
            f"<td>{escape(unseen)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _column_section(name: str, column: ColumnDrift, distribution: Distribution | None) -> str:
    verdict = "not computed" if column.status != "computed" else "drifted" if column.drifted else "no drift"
    header = (
        f"<section id='col-{_anchor(name)}'><h2>{escape(name)} — {verdict}</h2>"
        f"<p class='muted'>{column.type}; {column.method} score {_number(column.score)} "
        f"(threshold {_number(column.threshold)})"
        + (f"; {escape(column.note)}" if column.note else "")
        + "</p>"
    )
    if distribution is None or not distribution.labels:
        return header + "<p class='muted'>No values to draw.</p></section>"
    top = max([*distribution.reference, *distribution.current, 1e-12])
    charts = _bar_chart(
        "reference", distribution, distribution.reference, top, REFERENCE_COLOUR
    ) + _bar_chart("current", distribution, distribution.current, top, CURRENT_COLOUR)
    return f"{header}<div class='pair'>{charts}</div></section>"


def _bar_chart(side: str, distribution: Distribution, shares: list[float], top: float, colour: str) -> str:
    """One panel: bars of the shares on a y-axis from 0 to `top`, the same for both panels."""
    n = len(shares)
    plot_width = CHART_WIDTH - PLOT_LEFT - 10
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    step = plot_width / n
    bar_width = max(step * (0.94 if distribution.edges else 0.7), 1.0)
    base_y = PLOT_TOP + plot_height
    items = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{CHART_WIDTH}' height='{CHART_HEIGHT}' "
        f"viewBox='0 0 {CHART_WIDTH} {CHART_HEIGHT}' role='img' aria-label='{side} distribution'>",
        f"<text x='{PLOT_LEFT}' y='14' font-size='12' font-weight='600' fill='#1f2933'>{side}</text>",
        f"<line x1='{PLOT_LEFT}' y1='{base_y}' x2='{CHART_WIDTH - 10}' y2='{base_y}' stroke='#9aa5b1'/>",
        f"<line x1='{PLOT_LEFT}' y1='{PLOT_TOP}' x2='{PLOT_LEFT}' y2='{base_y}' stroke='#9aa5b1'/>",
        f"<text x='{PLOT_LEFT - 4}' y='{PLOT_TOP + 4}' font-size='10' text-anchor='end' fill='#52606d'>"
        f"{top:.0%}</text>",
        f"<text x='{PLOT_LEFT - 4}' y='{base_y}' font-size='10' text-anchor='end' fill='#52606d'>0%</text>",
    ]
    for i, share in enumerate(shares):
        height = plot_height * share / top
        x = PLOT_LEFT + i * step + (step - bar_width) / 2
        fill = (
            HIGHLIGHT_COLOUR if i < len(distribution.highlighted) and distribution.highlighted[i] else colour
        )
        items.append(
            f"<rect x='{x:.1f}' y='{base_y - height:.1f}' width='{bar_width:.1f}' height='{height:.1f}' "
            f"fill='{fill}'><title>{escape(distribution.labels[i])}: {share:.2%}</title></rect>"
        )
    items.extend(_x_labels(distribution, step, base_y))
    items.append("</svg>")
    return "".join(items)


def _x_labels(distribution: Distribution, step: float, base_y: float) -> list[str]:
    if distribution.edges:
        low, high = distribution.edges[0], distribution.edges[-1]
        return [
            f"<text x='{PLOT_LEFT}' y='{base_y + 14}' font-size='10' fill='#52606d'>≤{low:.4g}</text>",
            f"<text x='{CHART_WIDTH - 10}' y='{base_y + 14}' font-size='10' text-anchor='end' "
            f"fill='#52606d'>≥{high:.4g}</text>",
        ]
    labels = []
    for i, label in enumerate(distribution.labels):
        text = label if len(label) <= 12 else label[:11] + "…"
        x = PLOT_LEFT + (i + 0.5) * step
        labels.append(
            f"<text x='{x:.1f}' y='{base_y + 12}' font-size='10' fill='#52606d' text-anchor='end' "
            f"transform='rotate(-35 {x:.1f} {base_y + 12})'>{escape(text)}</text>"
        )
    return labels


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _anchor(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name)
