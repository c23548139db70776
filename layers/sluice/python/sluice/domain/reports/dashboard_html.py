"""The registry dashboard as one static HTML page: an overview of every model, then a section per model
(production, rollout, last drift verdict and its trends, last training, versions with fairness, the
audit log). Inline SVG only, no script. Every link to another page goes through `link(key)`, so the
same page works as files in a folder, behind the API, or with pre-signed addresses.

Numbers the charts draw are in `data-value` attributes (and <title>s), so a reader (or a test) can read
them back from the page."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from sluice.domain.registry.dashboard import Dashboard, DriftPoint, ModelSection, VersionRow
from sluice.domain.reports.charts import (
    CURRENT_COLOUR,
    REFERENCE_COLOUR,
    STYLE,
    Html,
    line_chart,
    link,
    page,
    table,
)
from sluice.domain.reports.dashboard_quality import data_quality_html

Link = Callable[[str], str]  # an artifact key → the address the page links to

DASHBOARD_STYLE = (
    STYLE
    + """
.model{border:1px solid #d9e2ec;border-radius:8px;padding:0 1rem 1rem;margin:1.5rem 0}
.facts{display:flex;gap:2rem;flex-wrap:wrap}.facts div{min-width:9rem}.facts b{display:block;font-size:1.3rem}
.charts{display:flex;gap:1.5rem;flex-wrap:wrap}.charts figure{margin:0}.charts figcaption{font-size:.85rem;color:#52606d}
"""
)
DRIFTED_COLOUR, STEADY_COLOUR, UNKNOWN_COLOUR = "#c53030", "#3f9142", "#bcccdc"


def when(at: str) -> str:
    """A check's time key (20261202T060000Z) as people read it (2026-12-02 06:00); other text unchanged."""
    if len(at) == 16 and at[8] == "T" and at.endswith("Z") and at[:8].isdigit():
        return f"{at[:4]}-{at[4:6]}-{at[6:8]} {at[9:11]}:{at[11:13]}"
    return at


def model_anchor(model: str) -> str:
    return f"model-{model}"


def render_dashboard(dashboard: Dashboard, link_to: Link) -> str:
    """The dashboard page; `link_to(key)` gives the address of each linked artifact page."""
    body = [
        "<h1>Sluice models</h1>",
        f"<p class='muted'>Generated {escape(dashboard.generated_at)} · {len(dashboard.models)} "
        f"model{'' if len(dashboard.models) == 1 else 's'}</p>",
        _incidents(dashboard),
        _overview(dashboard),
        *(_section(section, link_to) for section in dashboard.models),
    ]
    return page("Sluice dashboard", "".join(body), style=DASHBOARD_STYLE)


def _incidents(dashboard: Dashboard) -> str:
    """Open incidents, first: model, kind, severity, since when, last announced, and in words."""
    rows = [
        [
            link(f"#{model_anchor(section.model)}", section.model),
            incident.kind,
            incident.severity,
            _minute(incident.since),
            f"{_minute(incident.last_announced)} ({incident.announcements}×)",
            incident.words,
        ]
        for section in dashboard.models
        for incident in section.incidents
    ]
    if not rows:
        return "<section id='incidents'><h2>Open incidents</h2><p class='muted'>None.</p></section>"
    return (
        "<section id='incidents'><h2>Open incidents</h2>"
        + table(["model", "kind", "severity", "since", "last announced", "in words"], rows)
        + "</section>"
    )


def _minute(iso: str) -> str:
    """An ISO-8601 UTC time to the minute (2026-12-02T06:00:00+00:00 → 2026-12-02 06:00 UTC)."""
    return f"{iso[:16].replace('T', ' ')} UTC"


def _overview(dashboard: Dashboard) -> str:
    if not dashboard.models:
        return "<p class='neutral summary'>No models yet: upload a spec and data to the raw bucket.</p>"
    rows = []
    for section in dashboard.models:
        last = section.last_drift
        rows.append(
            [
                link(f"#{model_anchor(section.model)}", section.model),
                section.production_version if section.production_version is not None else "none",
                _rollout_text(section) or "—",
                ("drift" if last.dataset_drift else last.status if last.status != "ok" else "no drift")
                if last
                else "not checked",
                last.live_metric if last and last.live_metric is not None else None,
            ]
        )
    return table(["model", "production", "rollout", "last drift check", "live metric"], rows)


def _rollout_text(section: ModelSection) -> str | None:
    rollout = section.rollout
    if rollout is None:
        return None
    return f"{rollout.mode} of v{rollout.version} at {rollout.weight:.0%} ({rollout.status})"


def _section(section: ModelSection, link_to: Link) -> str:
    production = section.production_version
    facts = [
        ("production", f"v{production}" if production is not None else "none"),
        ("rollout", _rollout_text(section) or "none"),
        ("primary metric", section.metric or "—"),
        ("drift checks", str(len(section.drift))),
    ]
    parts = [
        f"<section class='model' id='{escape(model_anchor(section.model))}' data-model='{escape(section.model)}' "
        f"data-production-version='{production if production is not None else ''}'>",
        f"<h2>{escape(section.model)}</h2>",
        "<div class='facts'>"
        + "".join(f"<div><span class='muted'>{escape(k)}</span><b>{escape(v)}</b></div>" for k, v in facts)
        + "</div>",
        _verdict(section.last_drift, link_to),
        _trends(section),
        data_quality_html(section, when),
        _column_trends(section),
        _checks(section, link_to),
        _training(section.last_training, link_to),
        _versions(section, link_to),
        _audit(section),
        "</section>",
    ]
    return "".join(parts)


def _verdict(last: DriftPoint | None, link_to: Link) -> str:
    if last is None:
        return "<p class='summary neutral'>No drift check yet.</p>"
    tone = "bad" if last.dataset_drift else "ok" if last.status == "ok" else "neutral"
    report = f" {link(link_to(last.report), 'drift report')}" if last.report else ""
    following = f"<br><span class='muted'>Next: {escape(last.next)}</span>" if last.next else ""
    return (
        f"<p class='summary {tone}' data-verdict='{'drift' if last.dataset_drift else last.status}'>"
        f"Last check {escape(when(last.at))} UTC (v{last.version}): {escape(last.headline or '')}{report}"
        f"{_together(last)}{following}</p>"
    )


def _together(last: DriftPoint) -> str:
    """The classifier judging the columns together, in one line under the verdict (when it ran)."""
    if last.multivariate_auc is None:
        return ""
    verdict = "told apart" if last.multivariate_drift else "not told apart"
    by = f", by {', '.join(last.multivariate_columns)}" if last.multivariate_columns else ""
    return (
        f"<br><span class='muted' data-multivariate='{str(bool(last.multivariate_drift)).lower()}'>"
        f"The columns together: {verdict} from the reference (ROC AUC {last.multivariate_auc:.2f}, drift "
        f"above {last.multivariate_threshold or 0.55:.2f}){escape(by)}.</span>"
    )


def _trends(section: ModelSection) -> str:
    if not section.drift:
        return ""
    live = [(when(p.at), p.live_metric) for p in section.drift]
    estimated = [(when(p.at), p.estimated_metric) for p in section.drift]
    share = [(when(p.at), p.drift_share) for p in section.drift]
    together = [(when(p.at), p.multivariate_auc) for p in section.drift]
    metric = section.metric or "live metric"
    multivariate = (
        f"<figure>{line_chart(together, name=f'{section.model}:multivariate_auc')}"
        "<figcaption>ROC AUC of the classifier telling the window from the reference (0.5: alike)"
        "</figcaption></figure>"
        if any(value is not None for _, value in together)
        else ""
    )
    return (
        "<div class='charts'>"
        f"<figure>{line_chart(live, name=f'{section.model}:live_metric', colour=CURRENT_COLOUR)}"
        f"<figcaption>live {escape(metric)} per check (labelled traffic)</figcaption></figure>"
        f"<figure>{line_chart(estimated, name=f'{section.model}:estimated_metric', colour=CURRENT_COLOUR)}"
        f"<figcaption>{escape(metric)} estimated per check without labels{_last_band(section)}</figcaption>"
        "</figure>"
        f"<figure>{line_chart(share, name=f'{section.model}:drift_share')}"
        "<figcaption>share of drifted columns per check</figcaption></figure>"
        f"{multivariate}</div>"
    )


def _last_band(section: ModelSection) -> str:
    """The last check's band around its estimate, in words."""
    last = next((p for p in reversed(section.drift) if p.estimated_band), None)
    if last is None or last.estimated_band is None:
        return ""
    low, high = last.estimated_band
    return f" (last: {low:.3g}–{high:.3g}, ±3 sampling errors)"


def _column_trends(section: ModelSection) -> str:
    """The verdict per check of each column that drifted at least once, as a strip of cells (red
    drifted, green steady, grey not checked), oldest first; the steady columns are named in one line."""
    columns = sorted({name for point in section.drift for name in point.column_drifted})
    moved = [c for c in columns if any(point.column_drifted.get(c) for point in section.drift)]
    steady = [c for c in columns if c not in moved]
    if not columns:
        return ""
    cell, gap = 12, 2
    rows = []
    for name in moved:
        strip = [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{len(section.drift) * (cell + gap)}' "
            f"height='{cell}' role='img' data-chart='{escape(section.model)}:column:{escape(name)}'>"
        ]
        for i, point in enumerate(section.drift):
            drifted = point.column_drifted.get(name)
            score = point.scores.get(name)
            colour = UNKNOWN_COLOUR if drifted is None else DRIFTED_COLOUR if drifted else STEADY_COLOUR
            strip.append(
                f"<rect x='{i * (cell + gap)}' width='{cell}' height='{cell}' fill='{colour}' "
                f"data-drifted='{str(drifted).lower()}'><title>{escape(when(point.at))}"
                f"{'' if score is None else f' {score:.3g}'}</title></rect>"
            )
        strip.append("</svg>")
        last = section.drift[-1]
        rows.append([name, Html("".join(strip)), last.scores.get(name), last.column_drifted.get(name)])
    steady_line = (
        f"<p class='muted'>No drift in any check: {escape(', '.join(steady))}.</p>" if steady else ""
    )
    table_html = (
        table(["column", "checks (oldest → newest)", "last score", "drifted now"], rows) if rows else ""
    )
    return "<h3>Drift per column</h3>" + table_html + steady_line


def _checks(section: ModelSection, link_to: Link) -> str:
    """Every drift check charted, newest first, each linking its report (folded: the charts come first)."""
    if not section.drift:
        return ""
    rows = [
        [
            link(link_to(p.report), when(p.at)) if p.report else when(p.at),
            p.version,
            "drift" if p.dataset_drift else p.status if p.status != "ok" else "no drift",
            p.drift_share,
            p.live_metric,
            p.headline or "",
        ]
        for p in reversed(section.drift)
    ]
    headers = ["check", "version", "verdict", "drift share", f"live {section.metric or 'metric'}", "summary"]
    return (
        f"<details><summary>{len(rows)} drift checks, newest first</summary>{table(headers, rows)}</details>"
    )


def _training(row: VersionRow | None, link_to: Link) -> str:
    if row is None:
        return "<p class='muted'>No training yet.</p>"
    card = f" {link(link_to(row.card), 'card')}" if row.card else ""
    tone = (
        "ok" if row.status == "production" else "bad" if row.status in ("rejected", "failed") else "neutral"
    )
    return (
        f"<h3>Last training</h3><p class='summary {tone}' data-last-training='{row.version}'>"
        f"v{row.version} ({escape(row.trigger)}): <b>{escape(row.status)}</b>"
        f"{' — ' + escape(row.reason) if row.reason else ''}{card}</p>"
    )


def _versions(section: ModelSection, link_to: Link) -> str:
    if not section.versions:
        return ""
    rows = [
        [
            link(link_to(v.card), f"v{v.version}") if v.card else f"v{v.version}",
            v.status,
            v.trigger,
            v.created_at[:19].replace("T", " "),
            v.metric,
            v.fairness.demographic_parity_gap if v.fairness else None,
            v.reason or "",
        ]
        for v in section.versions
    ]
    metric = section.metric or "metric"
    oldest_first = list(reversed(section.versions))
    fairness = [
        (f"v{v.version}", v.fairness.demographic_parity_gap if v.fairness else None) for v in oldest_first
    ]
    metric_points = [(f"v{v.version}", v.metric) for v in oldest_first]
    attribute = next((v.fairness.attribute for v in section.versions if v.fairness), None)
    charts = (
        "<div class='charts'>"
        f"<figure>{line_chart(metric_points, name=f'{section.model}:metric', colour=REFERENCE_COLOUR)}"
        f"<figcaption>holdout {escape(metric)} per version</figcaption></figure>"
        + (
            f"<figure>{line_chart(fairness, name=f'{section.model}:fairness', colour=CURRENT_COLOUR)}"
            f"<figcaption>demographic parity gap by {escape(attribute)} per version</figcaption></figure>"
            if attribute
            else ""
        )
        + "</div>"
    )
    return (
        "<h3>Versions</h3>"
        + charts
        + table(["version", "status", "trigger", "created (UTC)", metric, "parity gap", "reason"], rows)
    )


def _audit(section: ModelSection) -> str:
    if not section.events:
        return ""
    rows = [
        [
            e.time[:19].replace("T", " "),
            e.type,
            e.version if e.version is not None else e.to_version,
            f"v{e.from_version} → v{e.to_version}"
            if e.from_version is not None and e.to_version is not None
            else "",
            e.reason or "",
            f"{e.by_email} ({e.by})" if e.by_email else e.by or "",
            e.note or "",
        ]
        for e in section.events
    ]
    return "<h3>Audit log (newest first)</h3>" + table(
        ["time", "event", "version", "change", "reason", "by", "note"], rows
    )
