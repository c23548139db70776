"""Self-contained HTML pieces for reports people read: a page shell, tables and inline SVG charts.
No scripts, fonts or images from the network, so a report opens anywhere, offline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2933;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.3rem}
.summary{font-size:1.1rem;padding:.8rem 1rem;border-radius:6px;margin:1rem 0}
.ok{background:#e3f9e5;border-left:6px solid #3f9142}.bad{background:#ffe3e3;border-left:6px solid #c53030}
.neutral{background:#f0f4f8;border-left:6px solid #627d98}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.3rem .7rem;border-bottom:1px solid #e4e7eb;text-align:left}
th{background:#f5f7fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#627d98;font-size:.9rem}.pair{display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start}
code{background:#f0f4f8;padding:.1rem .3rem;border-radius:3px}
"""

REFERENCE_COLOUR = "#4c78a8"
CURRENT_COLOUR = "#f58518"


def page(title: str, body: str, style: str = STYLE) -> str:
    """A complete HTML document: no scripts, nothing fetched, inline CSS (the shared style unless the
    report brings its own)."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; numbers are right-aligned and shown with four significant digits."""

    def cell(value: object) -> str:
        if isinstance(value, bool) or value is None:
            return f"<td>{escape(str(value if value is not None else '—'))}</td>"
        if isinstance(value, int):
            return f"<td class='num'>{value:,}</td>"
        if isinstance(value, float):
            return f"<td class='num'>{value:.4g}</td>"
        return f"<td>{escape(str(value))}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def horizontal_bars(
    items: Sequence[tuple[str, float]], *, width: int = 520, colour: str = REFERENCE_COLOUR
) -> str:
    """A labelled horizontal bar chart (e.g. feature importance); negative values draw left of zero."""
    if not items:
        return "<p class='muted'>nothing to chart</p>"
    label_width, bar_height, gap = 160, 18, 6
    values = [v for _, v in items]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0
    plot = width - label_width - 70
    zero = label_width + plot * (-low / span)
    height = len(items) * (bar_height + gap) + gap
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_height + gap)
        x0 = zero if value >= 0 else zero - plot * (-value / span)
        length = max(plot * abs(value) / span, 1.0)
        parts.append(
            f"<text x='{label_width - 6}' y='{y + 13}' text-anchor='end' font-size='12'>{escape(label[:24])}</text>"
            f"<rect x='{x0:.1f}' y='{y}' width='{length:.1f}' height='{bar_height}' fill='{colour}'/>"
            f"<text x='{x0 + length + 4:.1f}' y='{y + 13}' font-size='11' fill='#52606d'>{value:.3g}</text>"
        )
    parts.append(f"<line x1='{zero:.1f}' x2='{zero:.1f}' y1='0' y2='{height}' stroke='#9aa5b1'/></svg>")
    return "".join(parts)


def heatmap(row_labels: Sequence[str], column_labels: Sequence[str], values: Sequence[Sequence[int]]) -> str:
    """A small matrix (e.g. a confusion matrix) as an HTML table shaded by value."""
    top = max((v for row in values for v in row), default=0) or 1
    head = "<th>true \\ predicted</th>" + "".join(f"<th>{escape(c)}</th>" for c in column_labels)
    rows = []
    for label, row in zip(row_labels, values, strict=True):
        cells = "".join(
            f"<td class='num' style='background:rgba(76,120,168,{0.1 + 0.8 * v / top:.2f})'>{v}</td>"
            for v in row
        )
        rows.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def score_bars(
    items: Sequence[tuple[str, float, float | None]], *, highlight: int | None = None, width: int = 560
) -> str:
    """Scores as horizontal bars with a ± spread whisker each (e.g. cross-validated mean ± std). The axis
    starts a little below the lowest whisker, not at zero, so close scores stay apart (the axis's start is
    printed under the chart); the bar at index `highlight` is drawn in CURRENT_COLOUR, the others in
    REFERENCE_COLOUR."""
    if not items:
        return "<p class='muted'>nothing to chart</p>"
    label_width, bar_height, gap = 190, 18, 6
    lows = [mean - (spread or 0.0) for _, mean, spread in items]
    highs = [mean + (spread or 0.0) for _, mean, spread in items]
    span = (max(highs) - min(lows)) or abs(max(highs)) or 1.0
    start, end = min(lows) - 0.25 * span, max(highs) + 0.05 * span
    plot = width - label_width - 70

    def x(value: float) -> float:
        return label_width + plot * (value - start) / (end - start)

    height = len(items) * (bar_height + gap) + gap
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    for i, (label, mean, spread) in enumerate(items):
        y = gap + i * (bar_height + gap)
        colour = CURRENT_COLOUR if i == highlight else REFERENCE_COLOUR
        parts.append(
            f"<text x='{label_width - 6}' y='{y + 13}' text-anchor='end' font-size='12'>{escape(label[:30])}</text>"
            f"<rect x='{label_width}' y='{y}' width='{max(x(mean) - label_width, 1.0):.1f}' "
            f"height='{bar_height}' fill='{colour}'/>"
        )
        if spread:
            middle = y + bar_height / 2
            parts.append(
                f"<line x1='{x(mean - spread):.1f}' x2='{x(mean + spread):.1f}' y1='{middle}' y2='{middle}' "
                "stroke='#1f2933' stroke-width='1.5'/>"
            )
        parts.append(
            f"<text x='{x(mean + (spread or 0.0)) + 4:.1f}' y='{y + 13}' font-size='11' fill='#52606d'>"
            f"{mean:.4g}</text>"
        )
    parts.append(f"<line x1='{label_width}' x2='{label_width}' y1='0' y2='{height}' stroke='#9aa5b1'/></svg>")
    return "".join(parts) + f"<p class='muted'>axis starts at {start:.4g}</p>"
