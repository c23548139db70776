"""The scheduled drift check, for each model in production: assess (captured inputs of the last window
against the reference sample of that version, the drift of its predictions, live accuracy where
feedback exists), then act (a report in S3, metrics, an alert and, if the spec allows, one retraining)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from sluice.app.ports import Executions, Registry, Services
from sluice.app.start_training import prepare_retraining, start_training
from sluice.app.stored import load_spec, model_prefix, spec_key
from sluice.domain.capture_window import CapturedWindow, window_notes
from sluice.domain.drift.live import (
    AccuracyEstimate,
    LiveGate,
    LiveMetric,
    check_input_drift,
    check_prediction_drift,
    estimated_accuracy,
    live_gate,
    live_metric,
    report_notes,
)
from sluice.domain.drift.report import ColumnDrift, DriftReport
from sluice.domain.drift.report_html import render_html
from sluice.domain.records import EventType, TrafficWindow, Trigger
from sluice.domain.reference import PREDICTION_COLUMN, read_reference
from sluice.domain.spec import ModelSpec
from sluice.domain.table import RawTable
from sluice.errors import ArtifactCorrupt, ArtifactNotFound, ModelNotFound, SluiceError
from sluice.observability import (
    emit_drift_check_error,
    emit_drift_metrics,
    emit_live_quality_metrics,
    logger,
)
from sluice.settings import DriftCheckSettings

RUNNING = "RUNNING"


@dataclass(frozen=True)
class DriftAssessment:
    """What the check found for one production version, before acting on it: the dataset verdict on
    its inputs, the drift of its predictions (beside the verdict, not part of it), its live metric and,
    for a classifier, the accuracy its own probabilities lead to expect over the window's traffic."""

    model: str
    version: int
    spec: ModelSpec
    window: TrafficWindow
    rows: int
    report: DriftReport
    prediction_report: DriftReport | None
    live_metric: LiveMetric | None
    estimated_accuracy: AccuracyEstimate | None = None
    captured: CapturedWindow | None = None

    @property
    def live_gate(self) -> LiveGate | None:
        """The spec's metric measured live against its gate; None when no captured row has a label."""
        return live_gate(self.spec, self.live_metric)

    @property
    def prediction_drift(self) -> ColumnDrift | None:
        return self.prediction_report.features[PREDICTION_COLUMN] if self.prediction_report else None

    @property
    def drifted_features(self) -> list[str]:
        return sorted(name for name, column in self.report.features.items() if column.drifted)


@dataclass(frozen=True)
class StoredReports:
    """Where one check's reports were written."""

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
    estimated_accuracy: AccuracyEstimate | None = None
    report_uri: str | None = None
    html_uri: str | None = None
    alerted: bool = False
    retraining: str | None = None  # the ARN of the retraining execution started
    retrain_skipped: str | None = None  # why none was started, after dataset drift
    error: str | None = None

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


def check_production_models(
    services: Services, settings: DriftCheckSettings, now: datetime | None = None
) -> list[ModelCheck]:
    """The scheduled check over every model that has a production version. A model whose check raises
    a SluiceError is reported with status "error" (and counted in DriftCheckErrors); the others are
    still checked."""
    moment = now or datetime.now(UTC)
    checks = []
    for meta in services.registry.list_models():
        model = str(meta["model"])
        alias = services.registry.get_alias(model)
        if alias is None:
            continue
        try:
            checks.append(check_model(services, settings, model, alias.version, moment))
        except SluiceError as exc:  # one model's broken artifacts must not stop the others' checks
            emit_drift_check_error()
            logger.exception("drift check failed", extra={"model": model, "version": alias.version})
            checks.append(ModelCheck.failed(model, alias.version, str(exc)))
    return checks


def check_model(
    services: Services, settings: DriftCheckSettings, model: str, version: int, now: datetime
) -> ModelCheck:
    """Run the drift check for one model's production version and act on its verdict."""
    return act_on_drift(services, settings, assess_model(services, settings, model, version, now), now)


def assess_model(
    services: Services, settings: DriftCheckSettings, model: str, version: int, now: datetime
) -> DriftAssessment:
    """Read the version's spec and reference sample and the traffic it served in the window ending at
    `now`, then check input drift (at least `drift_min_rows` rows on each side, else
    "insufficient_data"), prediction drift (when the inputs were checked and the reference holds the
    model's predictions), the live metric from feedback labels (with the spec's primary metric) and,
    for a classifier, the accuracy estimated from its probabilities on every captured row. Writes
    nothing."""
    record = services.registry.get_version(model, version)
    spec = load_spec(services.artifacts.uri(spec_key(model, str(record.spec_sha256))), services.artifacts)
    reference = read_reference(services.artifacts.get_verified(record.artifacts["reference"]))
    window = TrafficWindow(start=now - timedelta(hours=settings.drift_window_hours), end=now)
    captured = services.traffic.window(
        model, window.start, window.end, max_rows=settings.drift_max_rows, version=version
    )
    return assess_window(spec, version, reference, window, captured, min_rows=settings.drift_min_rows)


def assess_window(
    spec: ModelSpec,
    version: int,
    reference: RawTable,
    window: TrafficWindow,
    captured: CapturedWindow,
    *,
    min_rows: int,
) -> DriftAssessment:
    """The checks of `assess_model` on a window already read: input drift, prediction drift and the
    estimated accuracy on its sample of `version`'s rows (every row when the window held no more than
    the sample's size; the report then names the window's row count), the live metric on every
    labelled row of `version`."""
    records = captured.sample
    report = check_input_drift(spec, reference, records, min_rows=min_rows, source=f"capture/{spec.name}")
    report = report.model_copy(update={"n_current_window": captured.sampled_from})
    predictions = check_prediction_drift(spec.task, reference, records) if report.status == "ok" else None
    return DriftAssessment(
        model=spec.name,
        version=version,
        spec=spec,
        window=window,
        rows=report.n_current,
        report=report,
        prediction_report=predictions,
        live_metric=live_metric(spec.task, captured.labelled_of(version), captured.labels, spec.metric),
        estimated_accuracy=estimated_accuracy(spec.task, records),
        captured=captured,
    )


def act_on_drift(
    services: Services, settings: DriftCheckSettings, assessment: DriftAssessment, now: datetime
) -> ModelCheck:
    """Store the assessment as JSON and HTML under drift/<model>/ and emit its metrics (drift and live
    quality: LiveMetricBelowMinimum is 1 when the spec's metric is worse than its gate); on dataset
    drift, alert and start one retraining, unless the spec forbids it, one is running, or the cool-down
    since drift last started one holds (the check says which)."""
    reports = _store_reports(services, assessment, now)
    report = assessment.report
    scores = {name: column.score for name, column in report.features.items() if column.score is not None}
    emit_drift_metrics(assessment.model, report.dataset_drift, report.drift_share, assessment.rows, scores)
    _emit_live_quality(assessment)
    _card_shows_live_quality(services, assessment, reports, now)
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
        live_gate=assessment.live_gate,
        estimated_accuracy=assessment.estimated_accuracy,
        report_uri=reports.json_uri,
        html_uri=reports.html_uri,
    )
    if report.dataset_drift:
        _alert(services, assessment, reports)
        check.alerted = True
    # Concept drift shows in the labels, not the inputs: live quality under the gate retrains too
    # (LiveQualityAlarm tells people; the input drift alert stays about inputs).
    quality_fell = assessment.live_gate is not None and assessment.live_gate.below_minimum
    if report.dataset_drift or quality_fell:
        check.retraining, check.retrain_skipped = _retrain(services, settings, assessment.spec, now)
    if check.retraining is None and _schedule_due(services.registry, assessment.spec, now):
        check.retraining, check.retrain_skipped = _retrain(
            services, settings, assessment.spec, now, Trigger.SCHEDULE
        )
    logger.info("drift checked", extra=check.model_dump(mode="json", exclude={"prediction_drift"}))
    return check


def _store_reports(services: Services, assessment: DriftAssessment, now: datetime) -> StoredReports:
    model, version, window = assessment.model, assessment.version, assessment.window
    key = f"drift/{model}/{now:%Y%m%dT%H%M%SZ}"
    prediction_drift, gate = assessment.prediction_drift, assessment.live_gate
    estimate = assessment.estimated_accuracy
    document = assessment.report.model_dump(mode="json") | {
        "model": model,
        "version": version,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()}
        | (assessment.captured.summary() if assessment.captured else {}),
        "prediction_drift": prediction_drift.model_dump(mode="json") if prediction_drift else None,
        "live_metric": assessment.live_metric,
        "live_gate": gate.model_dump(mode="json") if gate else None,
        "estimated_accuracy": estimate.model_dump(mode="json") if estimate else None,
    }
    json_uri = services.artifacts.put_json(f"{key}.json", document).uri
    html = render_html(
        assessment.report,
        title=f"Drift: {model} v{version}, {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC",
        notes=[
            *window_notes(assessment.captured, version),
            *report_notes(prediction_drift, assessment.live_metric, estimate, gate),
        ],
        appendix=assessment.prediction_report,
    )
    html_uri = services.artifacts.put_bytes(f"{key}.html", html.encode(), "text/html").uri
    return StoredReports(json_uri=json_uri, html_uri=html_uri)


def _card_shows_live_quality(
    services: Services, assessment: DriftAssessment, reports: StoredReports, now: datetime
) -> None:
    """Rewrite the version's card (card.json and card.html) with its live quality from this check, and
    record their new sha256 in the registry, when there is something to show (labels or an estimate)."""
    from sluice.domain.card import LiveQuality, ModelCard, render_card_html

    live, estimate, gate = assessment.live_metric, assessment.estimated_accuracy, assessment.live_gate
    if not live and estimate is None:
        return
    try:
        stored = services.registry.get_version(assessment.model, assessment.version).artifacts.get("card")
        if stored is None:
            return
        card = ModelCard.model_validate_json(services.artifacts.get_verified(stored))
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
        estimated_accuracy=estimate.accuracy if estimate else None,
        gate=gate.gate if gate else None,
        limit=gate.limit if gate else None,
        below_minimum=gate is not None and gate.below_minimum,
        report=reports.html_uri,
    )
    prefix = model_prefix(assessment.model, assessment.version)
    card_json = services.artifacts.put_bytes(
        prefix + "card.json", card.model_dump_json(indent=2).encode(), "application/json"
    )
    card_html = services.artifacts.put_bytes(
        prefix + "card.html", render_card_html(card).encode(), "text/html"
    )
    services.registry.set_version_artifacts(
        assessment.model, assessment.version, {"card": card_json, "card_html": card_html}
    )


def _emit_live_quality(assessment: DriftAssessment) -> None:
    live = assessment.live_metric or {}
    gate, estimate = assessment.live_gate, assessment.estimated_accuracy
    emit_live_quality_metrics(
        assessment.model,
        assessment.version,
        {name: float(value) for name, value in live.items() if name != "labelled_rows"},
        int(live.get("labelled_rows", 0)),
        estimate.accuracy if estimate else None,
        gate is not None and gate.below_minimum,
    )


def _alert(services: Services, assessment: DriftAssessment, reports: StoredReports) -> None:
    services.notifier.publish(
        f"Sluice: drift in {assessment.model}",
        {
            "model": assessment.model,
            "version": assessment.version,
            "drifted": assessment.drifted_features,
            "report": reports.json_uri,
            "html": reports.html_uri,
        },
    )


def _retrain(
    services: Services,
    settings: DriftCheckSettings,
    spec: ModelSpec,
    now: datetime,
    trigger: Trigger = Trigger.DRIFT,
) -> tuple[str | None, str | None]:
    """Start one retraining (see `prepare_retraining`: the latest accepted upload, plus the labelled
    traffic the spec's `retraining:` asks for), unless the spec forbids retraining on drift (trigger
    `drift`), one is running or the cool-down since drift or the schedule last started one holds.
    Returns (execution ARN, None) or (None, why not)."""
    if trigger is Trigger.DRIFT and not spec.retrain_on_drift:
        return None, "the spec does not allow retraining on drift (retrain_on_drift: false)"
    held = _running_training(services.executions, spec.name) or _cooldown(
        services.registry, spec.name, now, timedelta(hours=settings.retrain_cooldown_hours)
    )
    if held:
        return None, held
    try:
        run = prepare_retraining(spec.name, trigger, services, now=now)
    except ModelNotFound:
        return None, "no dataset to retrain on"
    # The same start as an upload's (execution name, audit event); the trigger makes the name unique.
    return start_training(run, services).arn, None


def _running_training(executions: Executions, model: str) -> str | None:
    for execution in executions.list(status=RUNNING):
        payload = json.loads(executions.describe(execution["executionArn"]).get("input") or "{}")
        if payload.get("model") == model:
            return f"a training run is already running ({execution['name']})"
    return None


def _schedule_due(registry: Registry, spec: ModelSpec, now: datetime) -> bool:
    """Whether the spec's `retraining.schedule_days` asks for a retraining: the model's last training
    start (any trigger) is older than that, or it never started one."""
    days = spec.retraining.schedule_days if spec.retraining else None
    if days is None:
        return False
    starts = [
        datetime.fromisoformat(event.time)
        for event in registry.list_events(spec.name)
        if event.type is EventType.TRAINING_STARTED
    ]
    return not starts or now - max(starts) >= timedelta(days=days)


# The retrainings the check starts itself; one of them holds the next back for the cool-down.
AUTOMATIC_TRIGGERS = frozenset({Trigger.DRIFT, Trigger.SCHEDULE})


def _cooldown(registry: Registry, model: str, now: datetime, cooldown: timedelta) -> str | None:
    for event in registry.list_events(model):
        recent = now - datetime.fromisoformat(event.time) < cooldown
        if event.type is EventType.TRAINING_STARTED and event.trigger in AUTOMATIC_TRIGGERS and recent:
            return f"cool-down: {event.trigger.value} started a retraining at {event.time}"
    return None
