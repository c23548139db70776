"""The comparison report of a live rollout as a page a person reads: the decision in one sentence, each
limit as ✓/✗ with its numbers, and both versions side by side (requests, error rate, p99 latency,
labelled metric) with a latency chart."""

from __future__ import annotations

from html import escape

from sluice.domain.reports.charts import CURRENT_COLOUR, REFERENCE_COLOUR, horizontal_bars, page, table
from sluice.domain.rollout.live import Decision, RolloutComparison

_CLASS = {Decision.PROMOTE: "ok", Decision.ROLL_BACK: "bad", Decision.WAIT: "neutral"}


def render_rollout_html(model: str, comparison: RolloutComparison) -> str:
    c = comparison
    summary = c.summary()
    word = "Shadow" if c.mode == "shadow" else "Canary"
    rows = []
    for name, side in (
        (f"version {c.version} (candidate)", summary["candidate"]),
        (f"version {c.production_version} (production)", summary["production"]),
    ):
        rows.append(
            [
                name,
                side["requests"],
                side["error_rate"],
                side["latency_p99_ms"],
                side["labelled_rows"],
                side["metric"],
            ]
        )
    guards = [
        [
            "✓" if not g.breached else "✗",
            g.name,
            g.value,
            g.limit,
            "yes" if g.judged else "not yet",
            g.sentence,
        ]
        for g in c.guards
    ]
    latency = [
        (f"v{c.version} p50", c.candidate.latency_quantile_ms(0.5) or 0.0),
        (f"v{c.version} p99", c.candidate.latency_quantile_ms(0.99) or 0.0),
        (f"v{c.production_version} p50", c.production.latency_quantile_ms(0.5) or 0.0),
        (f"v{c.production_version} p99", c.production.latency_quantile_ms(0.99) or 0.0),
    ]
    agreement = summary["agreement"]
    body = (
        f"<h1>{escape(word)} rollout of {escape(model)} version {c.version}</h1>"
        f"<p class='muted'>checked {escape(c.checked_at)}, {c.elapsed_hours:.2f} h after it began, against "
        f"production version {c.production_version}</p>"
        f"<div class='summary {_CLASS[c.decision]}'>{escape(c.decision.value.replace('_', ' '))}: "
        f"{escape(c.reason)}</div>"
        + (
            f"<p>The shadow agreed with production on {agreement:.1%} of instances.</p>"
            if agreement is not None
            else ""
        )
        + "<h2>Both versions over the same period</h2>"
        + table(["version", "requests", "error rate", "p99 ms", "labelled rows", "metric"], rows)
        + "<h2>Limits</h2>"
        + table(["", "limit", "value", "allowed", "judged", "what it saw"], guards)
        + "<h2>Latency (ms, upper edge of the histogram bucket)</h2>"
        + "<div class='pair'>"
        + horizontal_bars(latency[:2], colour=CURRENT_COLOUR)
        + horizontal_bars(latency[2:], colour=REFERENCE_COLOUR)
        + "</div>"
    )
    return page(f"{model} v{c.version} {c.mode} rollout", body)
