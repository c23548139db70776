"""The scheduled drift check, for each model in production: assess (captured inputs of the last window
against the reference sample of that version, the drift of its predictions, live accuracy where
feedback exists), then act (a report in S3, metrics, an alert and, if the spec allows, one retraining)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from sluice.app.ports import Executions, Registry, Services
from sluice.app.start_training import retraining_run, start_training
from sluice.app.stored import load_spec, spec_key
from sluice.domain.drift.live import (
    LiveMetric,
    check_input_drift,
    check_prediction_drift,
    live_metric,
    report_notes,
)
from sluice.domain.drift.report import ColumnDrift, DriftReport
from sluice.domain.drift.report_html import render_html
from sluice.domain.records import EventType, Trigger
from sluice.domain.reference import PREDICTION_COLUMN, read_reference
from sluice.domain.spec import ModelSpec
from sluice.errors import ModelNotFound, SluiceError
from sluice.observability import emit_drift_check_error, emit_drift_metrics, logger
from sluice.settings import DriftCheckSettings

RUNNING = "RUNNING"


@dataclass(frozen=True)
class Window:
    """The span of captured traffic a check reads: the last `drift_window_hours` before `end`."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class DriftAssessment:
    """What the check found for one production version, before acting on it: the dataset verdict on
    its inputs, the drift of its predictions (beside the verdict, not part of it) and its live metric."""

    model: str
    version: int
    spec: ModelSpec
    window: Window
    rows: int
    report: DriftReport
    prediction_report: DriftReport | None
    live_metric: LiveMetric | None

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
    rows: int
    dataset_drift: bool
    drift_share: float
    drifted_features: list[str]
    prediction_drift: ColumnDrift | None = None
    live_metric: dict[str, float | int] | None = None
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
    model's predictions) and the live metric from feedback labels. Writes nothing."""
    record = services.registry.get_version(model, version)
    spec = load_spec(services.artifacts.uri(spec_key(model, str(record.spec_sha256))), services.artifacts)
    reference = read_reference(services.artifacts.get_verified(record.artifacts["reference"]))
    window = Window(start=now - timedelta(hours=settings.drift_window_hours), end=now)
    served = services.traffic.captured(model, window.start, window.end)
    records = [r for r in served if r.get("version") == version]
    report = check_input_drift(
        spec, reference, records, min_rows=settings.drift_min_rows, source=f"capture/{model}"
    )
    predictions = check_prediction_drift(spec.task, reference, records) if report.status == "ok" else None
    labels = services.traffic.feedback(model, window.start, window.end)
    return DriftAssessment(
        model=model,
        version=version,
        spec=spec,
        window=window,
        rows=report.n_current,
        report=report,
        prediction_report=predictions,
        live_metric=live_metric(spec.task, records, labels),
    )


def act_on_drift(
    services: Services, settings: DriftCheckSettings, assessment: DriftAssessment, now: datetime
) -> ModelCheck:
    """Store the assessment as JSON and HTML under drift/<model>/ and emit its metrics; on dataset
    drift, alert and start one retraining, unless the spec forbids it, one is running, or the cool-down
    since drift last started one holds (the check says which)."""
    reports = _store_reports(services, assessment, now)
    report = assessment.report
    scores = {name: column.score for name, column in report.features.items() if column.score is not None}
    emit_drift_metrics(assessment.model, report.dataset_drift, report.drift_share, assessment.rows, scores)
    check = ModelCheck(
        model=assessment.model,
        version=assessment.version,
        status=report.status,
        rows=assessment.rows,
        dataset_drift=report.dataset_drift,
        drift_share=report.drift_share,
        drifted_features=assessment.drifted_features,
        prediction_drift=assessment.prediction_drift,
        live_metric=assessment.live_metric,
        report_uri=reports.json_uri,
        html_uri=reports.html_uri,
    )
    if report.dataset_drift:
        _alert(services, assessment, reports)
        check.alerted = True
        check.retraining, check.retrain_skipped = _retrain(services, settings, assessment.spec, now)
    logger.info("drift checked", extra=check.model_dump(mode="json", exclude={"prediction_drift"}))
    return check


def _store_reports(services: Services, assessment: DriftAssessment, now: datetime) -> StoredReports:
    model, version, window = assessment.model, assessment.version, assessment.window
    key = f"drift/{model}/{now:%Y%m%dT%H%M%SZ}"
    prediction_drift = assessment.prediction_drift
    document = assessment.report.model_dump(mode="json") | {
        "model": model,
        "version": version,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "prediction_drift": prediction_drift.model_dump(mode="json") if prediction_drift else None,
        "live_metric": assessment.live_metric,
    }
    json_uri = services.artifacts.put_json(f"{key}.json", document).uri
    html = render_html(
        assessment.report,
        title=f"Drift: {model} v{version}, {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC",
        notes=report_notes(prediction_drift, assessment.live_metric),
        appendix=assessment.prediction_report,
    )
    html_uri = services.artifacts.put_bytes(f"{key}.html", html.encode(), "text/html").uri
    return StoredReports(json_uri=json_uri, html_uri=html_uri)


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
    services: Services, settings: DriftCheckSettings, spec: ModelSpec, now: datetime
) -> tuple[str | None, str | None]:
    """Start one retraining on the latest dataset, unless the spec forbids it, one is running or the
    cool-down holds. Returns (execution ARN, None) or (None, why not)."""
    if not spec.retrain_on_drift:
        return None, "the spec does not allow retraining on drift (retrain_on_drift: false)"
    held = _running_training(services.executions, spec.name) or _cooldown(
        services.registry, spec.name, now, timedelta(hours=settings.retrain_cooldown_hours)
    )
    if held:
        return None, held
    try:
        run = retraining_run(spec.name, Trigger.DRIFT, services.registry)
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


def _cooldown(registry: Registry, model: str, now: datetime, cooldown: timedelta) -> str | None:
    for event in registry.list_events(model):
        recent = now - datetime.fromisoformat(event.time) < cooldown
        if event.type is EventType.TRAINING_STARTED and event.trigger is Trigger.DRIFT and recent:
            return f"cool-down: drift started a retraining at {event.time}"
    return None
