"""The data-quality part of a model's dashboard section: the last check's data quality in words, and
the share of requests rejected and the constraints violated per check (oldest first)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from sluice.domain.registry.dashboard import ModelSection
from sluice.domain.reports.charts import CURRENT_COLOUR, line_chart


def data_quality_html(section: ModelSection, label: Callable[[str], str] = str) -> str:
    """Nothing when no check of the model judged its data quality; `label` names a check by its time."""
    points = [p for p in section.drift if p.reject_rate is not None or p.quality_violations is not None]
    if not points:
        return ""
    last = points[-1]
    tone = "bad" if last.quality_violations else "ok"
    words = " ".join(escape(s) for s in last.quality_summary)
    rejected = [(label(p.at), p.reject_rate) for p in points]
    violations = [
        (label(p.at), None if p.quality_violations is None else float(p.quality_violations)) for p in points
    ]
    return (
        f"<h3>Data quality</h3><p class='summary {tone}' data-quality-violations='{last.quality_violations or 0}'>"
        f"{words}</p><div class='charts'>"
        f"<figure>{line_chart(rejected, name=f'{section.model}:reject_rate', colour=CURRENT_COLOUR)}"
        "<figcaption>share of requests rejected by validation per check</figcaption></figure>"
        f"<figure>{line_chart(violations, name=f'{section.model}:quality_violations')}"
        "<figcaption>data-quality constraints violated per check</figcaption></figure></div>"
    )
