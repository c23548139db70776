"""The scheduled drift check's second half: act on what `assess_model` found for one production version.
Open, repeat or resolve the model's incidents (one alert per incident: `sluice.app.monitoring.incidents`),
start at most one retraining, then store the reports (JSON and HTML under drift/<model>/), which say in
words what was found and what was done about it; the check returned carries what its metrics say (the
entry point emits them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from sluice.app.data.stored import drift_report_key, model_prefix
from sluice.app.monitoring.assess import DriftAssessment
from sluice.app.monitoring.incidents import handle_incidents
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.monitoring.retrain import decide_retraining
from sluice.app.ports import CoreDeps, TrainingDeps
from sluice.domain.monitoring.capture_window import window_notes
from sluice.domain.monitoring.drift.explain import Explanation
from sluice.domain.monitoring.drift.live import LiveGate, report_notes
from sluice.domain.monitoring.drift.next_steps import CheckOutcome, explain_check
from sluice.domain.monitoring.drift.report import ColumnDrift, MultivariateDrift
from sluice.domain.monitoring.drift.report_html import render_html
from sluice.domain.monitoring.estimation.basis import PerformanceEstimate
from sluice.domain.monitoring.estimation.notes import estimate_notes
from sluice.domain.registry.incidents import IncidentKind
from sluice.errors import ArtifactCorrupt, ArtifactNotFound, ModelNotFound

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredReports:
    """Where one check's reports are written."""

    json_uri: str
    html_uri: str


class ModelCheck(BaseModel):
    """What the scheduled check found and did for one model."""

    model: str
    version: int
    status: str  # ok | insufficient_data | error
    rows: int  # the rows checked: every captured row of the version, or a uniform sample of them
    dataset_drift: bool
    drift_share: float
    drifted_features: list[str]
    window_rows: int | None = None  # the version's captured rows in the window, sampled or not
    unmatched_labels: int | None = None  # labels sent in the window whose record is not in it
    prediction_drift: ColumnDrift | None = None
    live_metric: dict[str, float | int] | None = None
    live_gate: LiveGate | None = None
    report_uri: str | None = None
    html_uri: str | None = None
    alerted: bool = False  # this check announced drift (an incident opened, or repeated)
    # what this check did with the model's incidents, by kind: open | repeat | resolved (announced) or
    # ongoing (open, announced before)
    incidents: dict[str, str] = Field(default_factory=dict)
    retraining: str | None = None  # the ARN of the retraining execution started
    retrain_skipped: str | None = None  # why none was started, after dataset drift
    error: str | None = None
    headline: str | None = None  # the report's headline in words
    # the drift score of each feature that has one, by feature (for the metrics; not in the JSON)
    drift_scores: dict[str, float] = Field(default_factory=dict, exclude=True)
    # the classifier judging the columns together; its changed relationship is in dataset_drift
    multivariate: MultivariateDrift | None = None
    estimated: PerformanceEstimate | None = None  # performance estimated without labels (CBPE, DLE)
    reject_rate: float | None = None  # rejected requests over all requests in the window (data quality)
    data_quality_violations: int | None = None  # constraints the window violated (data quality)

    @classmethod
    def failed(cls, model: str, version: int, error: str) -> ModelCheck:
        return cls(
            model=model,
            version=version,
            status="error",
            rows=0,
            dataset_drift=False,
            drift_share=0.0,
            drifted_features=[],
            error=error,
        )


def act_on_drift(
    deps: TrainingDeps, limits: DriftCheckLimits, assessment: DriftAssessment, now: datetime
) -> ModelCheck:
    """Open, repeat or resolve the model's incidents (drift, live metric, data quality) as the
    assessment says, announcing each change once; on dataset drift, start one retraining, unless the spec
    forbids it, one is running, or the cool-down since drift last started one holds (the check says
    which); then store the assessment as JSON and HTML under drift/<model>/, explained in words with
    what was done. The check returned carries what the metrics say (drift and live quality); the
    entry point emits them."""
    report = assessment.report
    key = drift_report_key(assessment.model, now)
    reports = StoredReports(
        json_uri=deps.artifacts.uri(f"{key}.json"), html_uri=deps.artifacts.uri(f"{key}.html")
    )
    scores = {name: column.score for name, column in report.features.items() if column.score is not None}
    incidents = handle_incidents(
        deps,
        assessment,
        min_rows=limits.drift_min_rows,
        repeat_hours=limits.alert_repeat_hours,
        reports=(reports.json_uri, reports.html_uri),
        now=now,
    )
    alerted = incidents.announced(IncidentKind.DRIFT)
    gate = assessment.live_gate
    retraining = decide_retraining(
        deps,
        limits,
        assessment.spec,
        now,
        dataset_drift=report.dataset_drift,
        quality_fell=gate is not None and gate.below_minimum,
    )
    outcome = CheckOutcome(
        model=assessment.model,
        version=assessment.version,
        alerted=alerted,
        retraining=retraining,
        drift_incident=incidents.notes.get(IncidentKind.DRIFT.value),
    )
    explanation = explain_check(report, assessment.spec, assessment.prediction_drift, outcome)
    _store_reports(deps, assessment, key, explanation)
    _card_shows_live_quality(deps, assessment, reports, now)
    check = ModelCheck(
        model=assessment.model,
        version=assessment.version,
        status=report.status,
        rows=assessment.rows,
        dataset_drift=report.dataset_drift,
        drift_share=report.drift_share,
        drifted_features=assessment.drifted_features,
        window_rows=assessment.captured.sampled_from if assessment.captured else None,
        unmatched_labels=assessment.captured.unmatched_labels if assessment.captured else None,
        prediction_drift=assessment.prediction_drift,
        live_metric=assessment.live_metric,
        live_gate=gate,
        report_uri=reports.json_uri,
        html_uri=reports.html_uri,
        alerted=outcome.alerted,
        incidents=incidents.states,
        retraining=retraining.execution,
        retrain_skipped=retraining.why,
        headline=explanation.headline,
        drift_scores=scores,
        multivariate=report.multivariate,
        estimated=assessment.estimation.estimate if assessment.estimation else None,
        reject_rate=assessment.data_quality.requests.reject_rate if assessment.data_quality else None,
        data_quality_violations=len(assessment.data_quality.violations) if assessment.data_quality else None,
    )
    return check


def _store_reports(
    deps: CoreDeps, assessment: DriftAssessment, key: str, explanation: Explanation
) -> StoredReports:
    model, version, window = assessment.model, assessment.version, assessment.window
    prediction_drift, gate = assessment.prediction_drift, assessment.live_gate
    estimation = assessment.estimation
    estimate = estimation.estimate if estimation else None
    document = assessment.report.model_dump(mode="json") | {
        "model": model,
        "version": version,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()}
        | (assessment.captured.summary() if assessment.captured else {}),
        "prediction_drift": prediction_drift.model_dump(mode="json") if prediction_drift else None,
        "live_metric": assessment.live_metric,
        "live_gate": gate.model_dump(mode="json") if gate else None,
        "estimated": estimate.document() if estimate else None,
        "estimated_unavailable": estimation.unavailable if estimation else None,
        "explanation": explanation.model_dump(mode="json"),
        "data_quality": assessment.data_quality.model_dump(mode="json") if assessment.data_quality else None,
    }
    json_uri = deps.artifacts.put_json(f"{key}.json", document).uri
    html = render_html(
        assessment.report,
        title=f"Drift: {model} v{version}, {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC",
        notes=[
            *window_notes(assessment.captured, version),
            *report_notes(prediction_drift, assessment.live_metric, gate),
            *estimate_notes(estimation, assessment.live_metric),
            *(assessment.data_quality.summary if assessment.data_quality else []),
        ],
        appendix=assessment.prediction_report,
        explanation=explanation,
    )
    html_uri = deps.artifacts.put_bytes(f"{key}.html", html.encode(), "text/html").uri
    return StoredReports(json_uri=json_uri, html_uri=html_uri)


def _card_shows_live_quality(
    deps: CoreDeps, assessment: DriftAssessment, reports: StoredReports, now: datetime
) -> None:
    """Rewrite the version's card (card.json and card.html) with its live quality from this check, and
    record their new sha256 in the registry, when there is something to show (labels or an estimate)."""
    from sluice.domain.reports.card import LiveQuality, ModelCard, render_card_html

    live, gate = assessment.live_metric, assessment.live_gate
    estimate = assessment.estimation.estimate if assessment.estimation else None
    if not live and estimate is None:
        return
    try:
        stored = deps.registry.get_version(assessment.model, assessment.version).artifacts.get("card")
        if stored is None:
            return
        card = ModelCard.model_validate_json(deps.artifacts.get_verified(stored))
    except (ModelNotFound, ArtifactCorrupt, ArtifactNotFound, ValueError) as exc:
        logger.warning(
            "the card cannot show live quality", extra={"model": assessment.model, "error": str(exc)}
        )
        return
    card.live = LiveQuality(
        checked_at=now.isoformat(timespec="seconds"),
        window_start=assessment.window.start.isoformat(timespec="seconds"),
        window_end=assessment.window.end.isoformat(timespec="seconds"),
        metrics={name: float(value) for name, value in (live or {}).items() if name != "labelled_rows"},
        labelled_rows=int((live or {}).get("labelled_rows", 0)),
        estimated=estimate.values if estimate else {},
        estimated_band={k: list(v) for k, v in estimate.band.items()} if estimate else {},
        estimated_rows=estimate.rows if estimate else 0,
        gate=gate.gate if gate else None,
        limit=gate.limit if gate else None,
        below_minimum=gate is not None and gate.below_minimum,
        report=reports.html_uri,
    )
    prefix = model_prefix(assessment.model, assessment.version)
    card_json = deps.artifacts.put_bytes(
        prefix + "card.json", card.model_dump_json(indent=2).encode(), "application/json"
    )
    card_html = deps.artifacts.put_bytes(prefix + "card.html", render_card_html(card).encode(), "text/html")
    deps.registry.set_version_artifacts(
        assessment.model, assessment.version, {"card": card_json, "card_html": card_html}
    )
