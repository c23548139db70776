"""A drift report a person reads first: one self-contained HTML page (inline CSS and SVG, no scripts,
no network) with the verdict, a table of columns sorted by drift, and each column's reference and
current distributions drawn side by side on the same scale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from sluice.domain.monitoring.drift.explain import Explanation
from sluice.domain.monitoring.drift.methods import P_VALUE_METHODS
from sluice.domain.monitoring.drift.report import ColumnDrift, Distribution, DriftReport, MultivariateDrift
from sluice.domain.reports.charts import CURRENT_COLOUR, REFERENCE_COLOUR, nice_ticks, page, tick_label

HIGHLIGHT_COLOUR = "#c53030"
CHART_WIDTH = 500
CHART_HEIGHT = 190
PLOT_LEFT = 44
PLOT_RIGHT = 14  # room for the last x tick's label
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
.words{margin:.4rem 0 1rem}.words p,.words li{margin:.25rem 0}.headline{font-weight:600;font-size:1.05rem}
.sentence{font-size:1rem;margin:.3rem 0}
"""


def render_html(
    report: DriftReport,
    title: str = "Drift report",
    notes: Sequence[str] = (),
    appendix: DriftReport | None = None,
    explanation: Explanation | None = None,
) -> str:
    """The whole report as one HTML document (UTF-8 text) that opens offline in any browser. `notes`
    are lines shown under the verdict; `appendix` holds columns drawn after the features but outside
    the dataset verdict (the scheduled check puts the model's predictions there); `explanation` puts
    the report in words under the verdict, and each column's sentence by its chart."""
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
    if explanation is not None:
        parts.insert(2, _words(explanation))
    sentences = explanation.columns if explanation is not None else {}
    if report.multivariate is not None:
        parts.append(_multivariate_section(report.multivariate))
    if ordered:
        parts.append(_summary_table(ordered))
    for name, column in ordered:
        parts.append(_column_section(name, column, report.distributions.get(name), sentences.get(name)))
    if appendix is not None:
        parts.append("<h2>Outside the dataset verdict</h2>")
        said = explanation.predictions if explanation is not None else None
        for name, column in appendix.features.items():
            parts.append(_column_section(name, column, appendix.distributions.get(name), said))
    return page(title, "".join(parts), STYLE)


def _words(explanation: Explanation) -> str:
    """The report in words: headline, each drifted column's sentence, the predictions, what happens
    next and what a person can do."""
    lines = [f"<p class='headline'>{escape(explanation.headline)}</p>"]
    if explanation.columns:
        items = "".join(f"<li>{escape(sentence)}</li>" for sentence in explanation.columns.values())
        lines.append(f"<ul>{items}</ul>")
    if explanation.multivariate:
        lines.append(f"<p>{escape(explanation.multivariate)}</p>")
    if explanation.predictions:
        lines.append(f"<p>Predictions: {escape(explanation.predictions)}.</p>")
    lines.append(f"<p><strong>What happens next:</strong> {escape(explanation.next)}</p>")
    if explanation.actions:
        items = "".join(f"<li>{escape(action)}</li>" for action in explanation.actions)
        lines.append(f"<p><strong>What you can do:</strong></p><ul>{items}</ul>")
    return f"<div class='words'>{''.join(lines)}</div>"


def _multivariate_section(together: MultivariateDrift) -> str:
    """The classifier that judges the columns together: its verdict, ROC AUC against the threshold, the
    rows it learnt from and the columns it leans on most, with the ROC AUC each costs when shuffled."""
    verdict = "<td class='yes'>drift</td>" if together.drift else "<td class='no'>no drift</td>"
    named = "".join(
        f"<tr><td>{escape(name)}</td><td class='num'>{lost:.3f}</td></tr>"
        for name, lost in together.importance.items()
    )
    columns = (
        f"<table><tr><th>Column it leans on</th><th>ROC AUC lost when shuffled</th></tr>{named}</table>"
        if named
        else ""
    )
    return (
        "<h2>The columns together</h2><p class='muted'>A classifier trained to tell current rows from "
        "reference rows, cross-validated: ROC AUC 0.5 means it cannot tell them apart, 1 that it always "
        "can. It sees a changed relationship between columns that no single column shows.</p>"
        "<table><tr><th>Drift</th><th>ROC AUC</th><th>Threshold</th><th>Rows (reference + current)</th>"
        f"<th>Folds</th></tr><tr>{verdict}<td class='num'>{together.roc_auc:.3f}</td>"
        f"<td class='num'>{together.threshold:.2f}</td><td class='num'>{together.rows.reference:,} + "
        f"{together.rows.current:,}</td><td class='num'>{together.folds}</td></tr></table>{columns}"
    )


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


def _column_section(
    name: str, column: ColumnDrift, distribution: Distribution | None, sentence: str | None = None
) -> str:
    verdict = "not computed" if column.status != "computed" else "drifted" if column.drifted else "no drift"
    header = (
        f"<section id='col-{_anchor(name)}'><h2>{escape(name)} — {verdict}</h2>"
        f"<p class='muted'>{column.type}; {column.method} score {_number(column.score)} "
        f"(threshold {_number(column.threshold)})"
        + (f"; {escape(column.note)}" if column.note else "")
        + "</p>"
        + (f"<p class='sentence'>{escape(sentence)}</p>" if sentence else "")
    )
    if distribution is None or not distribution.labels:
        return header + "<p class='muted'>No values to draw.</p></section>"
    # Both panels share one y-axis of round percentages, so their bars compare by height.
    percent_ticks = nice_ticks(0.0, 100 * max([*distribution.reference, *distribution.current, 1e-12]), 4)
    charts = _bar_chart(
        "reference", distribution, distribution.reference, percent_ticks, REFERENCE_COLOUR
    ) + _bar_chart("current", distribution, distribution.current, percent_ticks, CURRENT_COLOUR)
    return f"{header}<div class='pair'>{charts}</div></section>"


def _bar_chart(
    side: str, distribution: Distribution, shares: list[float], percent_ticks: list[float], colour: str
) -> str:
    """One panel: bars of the shares on a y-axis from 0 to the last of `percent_ticks` (the same for
    both panels), a numerical histogram on an x-axis of round values."""
    n = len(shares)
    plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    step = plot_width / n
    bar_width = max(step * (0.94 if distribution.edges else 0.7), 1.0)
    base_y = PLOT_TOP + plot_height
    top = percent_ticks[-1] / 100
    items = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{CHART_WIDTH}' height='{CHART_HEIGHT}' "
        f"viewBox='0 0 {CHART_WIDTH} {CHART_HEIGHT}' role='img' aria-label='{side} distribution'>",
        f"<text x='{PLOT_LEFT}' y='14' font-size='12' font-weight='600' fill='#1f2933'>{side}</text>",
        f"<line x1='{PLOT_LEFT}' y1='{base_y}' x2='{CHART_WIDTH - PLOT_RIGHT}' y2='{base_y}' stroke='#9aa5b1'/>",
        f"<line x1='{PLOT_LEFT}' y1='{PLOT_TOP}' x2='{PLOT_LEFT}' y2='{base_y}' stroke='#9aa5b1'/>",
    ]
    tick_step = percent_ticks[1] - percent_ticks[0]
    for tick in percent_ticks:
        y = base_y - plot_height * tick / percent_ticks[-1]
        items.append(
            f"<line x1='{PLOT_LEFT - 3}' y1='{y:.1f}' x2='{PLOT_LEFT}' y2='{y:.1f}' stroke='#9aa5b1'/>"
            f"<text class='y-tick' x='{PLOT_LEFT - 5}' y='{y + 3:.1f}' font-size='10' text-anchor='end' "
            f"fill='#52606d'>{tick_label(tick, tick_step)}%</text>"
        )
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
        ticks = [t for t in nice_ticks(low, high, 5) if low <= t <= high]
        spacing = ticks[1] - ticks[0] if len(ticks) > 1 else high - low
        plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT
        labels = []
        for tick in ticks:
            x = PLOT_LEFT + plot_width * (tick - low) / (high - low)
            labels.append(
                f"<line x1='{x:.1f}' y1='{base_y}' x2='{x:.1f}' y2='{base_y + 3}' stroke='#9aa5b1'/>"
                f"<text class='x-tick' x='{x:.1f}' y='{base_y + 14}' font-size='10' text-anchor='middle' "
                f"fill='#52606d'>{tick_label(tick, spacing)}</text>"
            )
        return labels
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
