"""Self-contained HTML pieces for reports people read: a page shell, tables and inline SVG charts.
No scripts, fonts or images from the network, so a report opens anywhere, offline."""

from __future__ import annotations

import math
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
MINUS = "\u2212"  # a typographic minus: "−35%", not a hyphen
NICE_MANTISSAS = (1.0, 2.0, 5.0, 10.0)


def plain_number(value: float, digits: int = 3) -> str:
    """`value` rounded to `digits` significant digits and written out in full, with thousands
    separators and no exponent: 48213.7 → "48,200", 0.0001234 → "0.000123", −3.5 → "−3.5"."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    rounded = round(value, digits - 1 - math.floor(math.log10(abs(value))))
    if rounded == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(rounded))), 0)
    text = f"{abs(rounded):,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return (MINUS if rounded < 0 else "") + text


def plain_percent(share: float) -> str:
    """A share (0.35) as a percentage a person reads: whole from 1% to 99% ("35%"), finer below 1% and
    above 99% ("0.4%", "99.6%"), so that only none reads "0%" and only all reads "100%"."""
    percent = share * 100
    if 99 < abs(percent) < 100:
        return (MINUS if percent < 0 else "") + f"{min(abs(percent), 99.9):.1f}%"
    if percent == 0 or abs(percent) >= 1:
        text = f"{abs(round(percent)):.0f}"
        return (MINUS if round(percent) < 0 else "") + text + "%"
    return plain_number(percent, 1) + "%"


def nice_step(span: float, count: int) -> float:
    """The round step (1, 2 or 5 times a power of ten) closest to dividing `span` into `count` parts."""
    raw = abs(span) / max(count, 1) or 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    mantissa = min(NICE_MANTISSAS, key=lambda m: abs(math.log(raw / (m * power))))
    return mantissa * power


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (multiples of a `nice_step`) from at or below `low` to at or above `high` (to a
    billionth of a step, so float rounding adds no tick), about `count` of them, for an axis a person
    reads (Heckbert's nice numbers)."""
    if high < low:
        low, high = high, low
    if high == low:
        low, high = (low - 1, high + 1) if low == 0 else (low - abs(low) / 2, high + abs(high) / 2)
    step = nice_step(high - low, max(count - 1, 1))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    decimals = tick_decimals(step)
    return [round(k * step, decimals) for k in range(first, last + 1)]


def tick_decimals(step: float) -> int:
    """The decimals a tick on a grid of `step` needs to be written exactly (0 for steps of 1 or more)."""
    return max(-math.floor(math.log10(step) + 1e-9), 0)


def tick_label(value: float, step: float) -> str:
    """A tick value written as plainly as its grid allows: 10000 → "10,000", 0.25 on a 0.05 grid → "0.25",
    1 on a 0.2 grid → "1"."""
    text = f"{abs(value):,.{tick_decimals(step)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    negative = value < 0 and text != "0"
    return (MINUS if negative else "") + text


def page(title: str, body: str, style: str = STYLE) -> str:
    """A complete HTML document: no scripts, nothing fetched, inline CSS (the shared style unless the
    report brings its own)."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>"
    )


class Html(str):
    """Markup already escaped (e.g. a link): `table` puts it in its cell as it is."""


def link(href: str, text: str) -> Html:
    """An <a> element, its address and text escaped."""
    return Html(f"<a href='{escape(href)}'>{escape(text)}</a>")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; numbers are right-aligned and shown with four significant digits; `Html` cells
    are put in as they are, other text is escaped."""

    def cell(value: object) -> str:
        if isinstance(value, Html):
            return f"<td>{value}</td>"
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


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    name: str,
    width: int = 320,
    height: int = 90,
    colour: str = REFERENCE_COLOUR,
    limit: float | None = None,
) -> str:
    """A small trend line over labelled points, oldest first (a missing value breaks the line). Each
    point is a circle carrying its value and label in `data-value`/`data-label` and a <title> (what a
    reader hovers and a test reads back); `name` goes in the chart's `data-chart`. `limit`, when given,
    is drawn as a dashed line (e.g. a gate)."""
    known = [v for _, v in points if v is not None]
    if not known:
        return f"<p class='muted' data-chart='{escape(name)}'>no values yet</p>"
    low, high = (
        min(known + ([limit] if limit is not None else [])),
        max(known + ([limit] if limit is not None else [])),
    )
    # The y-axis runs between round ticks around the values, labelled in plain numbers.
    ticks = nice_ticks(low, high, 3)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    low, high = ticks[0], ticks[-1]
    left, right, top, bottom = 48, 8, 8, 18
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (high - value) / (high - low)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
        f"data-chart='{escape(name)}'>",
        f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + plot_h}' stroke='#9aa5b1'/>",
    ]
    for tick in ticks:
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y(tick):.1f}' y2='{y(tick):.1f}' stroke='#e4e7eb'/>"
            f"<text x='{left - 4}' y='{y(tick) + 3:.1f}' text-anchor='end' font-size='10' fill='#52606d' "
            f"data-tick='{tick!r}'>{tick_label(tick, step)}</text>"
        )
    if limit is not None:
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y(limit):.1f}' y2='{y(limit):.1f}' "
            f"stroke='#c53030' stroke-dasharray='4 3'><title>limit {limit:.4g}</title></line>"
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, value) in enumerate(points):
        if value is None:
            segments.append(segment)
            segment = []
        else:
            segment.append(f"{x(i):.1f},{y(value):.1f}")
    segments.append(segment)
    parts.extend(
        f"<polyline points='{' '.join(s)}' fill='none' stroke='{colour}' stroke-width='1.5'/>"
        for s in segments
        if len(s) > 1
    )
    for i, (label, value) in enumerate(points):
        if value is not None:
            parts.append(
                f"<circle cx='{x(i):.1f}' cy='{y(value):.1f}' r='3' fill='{colour}' data-value='{value!r}' "
                f"data-label='{escape(label)}'><title>{escape(label)}: {value:.4g}</title></circle>"
            )
    if len(points) == 1:
        parts.append(
            f"<text x='{x(0):.1f}' y='{height - 4}' text-anchor='middle' font-size='10' fill='#52606d'>"
            f"{escape(points[0][0])}</text>"
        )
    else:
        parts.append(
            f"<text x='{left}' y='{height - 4}' font-size='10' fill='#52606d'>{escape(points[0][0])}</text>"
            f"<text x='{left + plot_w}' y='{height - 4}' text-anchor='end' font-size='10' fill='#52606d'>"
            f"{escape(points[-1][0])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
