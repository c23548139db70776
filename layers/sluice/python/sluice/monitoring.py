"""The scheduled drift check: for each model in production, captured inputs of the last window
against the reference sample of that version, the drift of its predictions, live accuracy where
feedback exists; a report in S3, metrics, an alert and (if the spec allows) one retraining."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel

from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.executions import Executions
from sluice.adapters.notifications import Notifier
from sluice.adapters.registry import Registry
from sluice.adapters.traffic import TrafficStore
from sluice.drift.engine import check_drift
from sluice.drift.report import ColumnDrift, DriftReport
from sluice.drift.report_html import render_html
from sluice.errors import ModelNotFound, SluiceError
from sluice.observability import NAMESPACE, logger, metrics
from sluice.pipeline import Services as PipelineServices
from sluice.pipeline import retraining_run, start_training
from sluice.records import EventType, Trigger
from sluice.reference import PREDICTION_COLUMN, read_reference
from sluice.settings import MonitorSettings
from sluice.spec import ModelSpec, NumericFeature, Task, parse_spec
from sluice.table import table_from_records

RUNNING = "RUNNING"


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
    retraining: str | None = None  # the execution ARN started, or why none was
    retrain_skipped: str | None = None
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


@dataclass(frozen=True)
class MonitorServices:
    registry: Registry
    artifacts: ArtifactStore
    traffic: TrafficStore
    notifier: Notifier
    executions: Executions

    @classmethod
    def from_settings(cls, settings: MonitorSettings) -> MonitorServices:
        return cls(
            registry=Registry(settings.registry_table),
            artifacts=ArtifactStore(settings.artifact_bucket),
            traffic=TrafficStore(settings.artifact_bucket),
            notifier=Notifier(settings.notification_topic_arn),
            executions=Executions(settings.state_machine_arn),
        )


def _spec(services: MonitorServices, model: str, sha256: str | None) -> ModelSpec:
    uri = services.artifacts.uri(f"specs/{model}/{sha256}.yaml")
    return parse_spec(services.artifacts.get_bytes(uri).decode("utf-8"), uri)


def _prediction_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _live_metric(
    spec: ModelSpec, records: list[dict[str, Any]], labels: dict[tuple[str, int], Any]
) -> dict[str, float | int] | None:
    pairs = [
        (labels[(str(r["request_id"]), int(r.get("instance", 0)))], r["outputs"]["prediction"])
        for r in records
        if (str(r["request_id"]), int(r.get("instance", 0))) in labels
    ]
    if not pairs:
        return None
    if spec.task is Task.REGRESSION:
        errors = [(float(truth) - float(predicted)) ** 2 for truth, predicted in pairs]
        return {"rmse": math.sqrt(sum(errors) / len(errors)), "labelled_rows": len(pairs)}
    correct = sum(str(truth) == str(predicted) for truth, predicted in pairs)
    return {"accuracy": correct / len(pairs), "labelled_rows": len(pairs)}


def _notes(prediction_drift: ColumnDrift | None, live_metric: dict[str, float | int] | None) -> list[str]:
    """Lines a person reads under the verdict: prediction drift and live accuracy (or RMSE)."""
    notes = []
    if prediction_drift is not None and prediction_drift.score is not None:
        verdict = "drifted" if prediction_drift.drifted else "not drifted"
        notes.append(
            f"Predictions: {verdict} ({prediction_drift.method} {prediction_drift.score:.3g}, threshold "
            f"{prediction_drift.threshold:g}) against the model's own predictions on its reference sample."
        )
    if live_metric:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in live_metric.items() if k != "labelled_rows")
        notes.append(f"Live {shown} on {live_metric['labelled_rows']} captured rows with feedback labels.")
    return notes


def _emit_metrics(model: str, report: DriftReport) -> None:
    """CloudWatch metrics in EMF: per model and feature, and DatasetDrift by service alone (what the
    template's DriftAlarm watches, whichever model drifted)."""
    metrics.add_metric(name="DatasetDrift", unit=MetricUnit.Count, value=1.0 if report.dataset_drift else 0.0)
    for name, column in report.features.items():
        if column.score is None:
            continue
        with single_metric(
            name="DriftScore", unit=MetricUnit.NoUnit, value=column.score, namespace=NAMESPACE
        ) as m:
            m.add_dimension(name="model", value=model)
            m.add_dimension(name="feature", value=name)
    for metric, value, unit in (
        ("DriftShare", report.drift_share, MetricUnit.NoUnit),
        ("DatasetDrift", 1.0 if report.dataset_drift else 0.0, MetricUnit.Count),
        ("RowsChecked", float(report.n_current), MetricUnit.Count),
    ):
        with single_metric(name=metric, unit=unit, value=value, namespace=NAMESPACE) as m:
            m.add_dimension(name="model", value=model)


def _retrain(
    services: MonitorServices, settings: MonitorSettings, spec: ModelSpec, now: datetime
) -> tuple[str | None, str | None]:
    """Start one retraining on the latest dataset, unless one is running or the cool-down holds.
    Returns (execution ARN, None) or (None, why not)."""
    model = spec.name
    for execution in services.executions.list(status=RUNNING):
        payload = json.loads(services.executions.describe(execution["executionArn"]).get("input") or "{}")
        if payload.get("model") == model:
            return None, f"a training run is already running ({execution['name']})"
    cooldown = timedelta(hours=settings.retrain_cooldown_hours)
    for event in services.registry.list_events(model):
        recent = now - datetime.fromisoformat(event.time) < cooldown
        if event.type is EventType.TRAINING_STARTED and event.trigger is Trigger.DRIFT and recent:
            return None, f"cool-down: drift started a retraining at {event.time}"
    try:
        run = retraining_run(model, Trigger.DRIFT, services.registry)
    except ModelNotFound:
        return None, "no dataset to retrain on"
    # The same start as an upload's (execution name, audit event); the trigger makes the name unique.
    started = start_training(
        run,
        PipelineServices(
            artifacts=services.artifacts,
            registry=services.registry,
            notifier=services.notifier,
            executions=services.executions,
        ),
    )
    return started.arn, None


def check_model(
    services: MonitorServices, settings: MonitorSettings, model: str, version: int, now: datetime
) -> ModelCheck:
    """Run the drift check for one model's production version and act on its verdict."""
    record = services.registry.get_version(model, version)
    spec = _spec(services, model, record.spec_sha256)
    reference = read_reference(services.artifacts.get_verified(record.artifacts["reference"]))
    start = now - timedelta(hours=settings.drift_window_hours)
    records = [r for r in services.traffic.captured(model, start, now) if r.get("version") == version]
    column_types = {
        f.name: "numerical" if isinstance(f, NumericFeature) else "categorical" for f in spec.features
    }
    current = table_from_records([r.get("inputs") or {} for r in records], f"capture/{model}")
    for name in spec.feature_names:  # a column no instance sent is all-missing, not absent
        if name not in current.columns:
            current.columns[name] = [""] * len(records)
            current.header.append(name)
    report = check_drift(
        reference,
        current,
        column_types=column_types,
        overrides=spec.drift.columns,
        share_threshold=spec.drift.share_threshold,
        min_rows=settings.drift_min_rows,
        columns=spec.feature_names,
    )
    prediction_report = None
    if report.status == "ok" and PREDICTION_COLUMN in reference.columns:
        predicted = table_from_records(
            [{PREDICTION_COLUMN: _prediction_text(r["outputs"]["prediction"])} for r in records],
            "predictions",
        )
        kind = "categorical" if spec.task.is_classification else "numerical"
        prediction_report = check_drift(
            reference, predicted, column_types={PREDICTION_COLUMN: kind}, columns=[PREDICTION_COLUMN]
        )
    prediction_drift = prediction_report.features[PREDICTION_COLUMN] if prediction_report else None
    live_metric = _live_metric(spec, records, services.traffic.feedback(model, start, now))
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    document = report.model_dump(mode="json") | {
        "model": model,
        "version": version,
        "window": {"start": start.isoformat(), "end": now.isoformat()},
        "prediction_drift": prediction_drift.model_dump(mode="json") if prediction_drift else None,
        "live_metric": live_metric,
    }
    json_uri = services.artifacts.put_json(f"drift/{model}/{stamp}.json", document).uri
    html = render_html(
        report,
        title=f"Drift: {model} v{version}, {start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC",
        notes=_notes(prediction_drift, live_metric),
        appendix=prediction_report,
    )
    html_uri = services.artifacts.put_bytes(f"drift/{model}/{stamp}.html", html.encode(), "text/html").uri
    _emit_metrics(model, report)
    check = ModelCheck(
        model=model,
        version=version,
        status=report.status,
        rows=report.n_current,
        dataset_drift=report.dataset_drift,
        drift_share=report.drift_share,
        drifted_features=sorted(n for n, c in report.features.items() if c.drifted),
        prediction_drift=prediction_drift,
        live_metric=live_metric,
        report_uri=json_uri,
        html_uri=html_uri,
    )
    if report.dataset_drift:
        services.notifier.publish(
            f"Sluice: drift in {model}",
            {
                "model": model,
                "version": version,
                "drifted": check.drifted_features,
                "report": json_uri,
                "html": html_uri,
            },
        )
        check.alerted = True
        if spec.retrain_on_drift:
            check.retraining, check.retrain_skipped = _retrain(services, settings, spec, now)
        else:
            check.retrain_skipped = "the spec does not allow retraining on drift (retrain_on_drift: false)"
    logger.info("drift checked", extra=check.model_dump(mode="json", exclude={"prediction_drift"}))
    return check


def check_production_models(
    services: MonitorServices, settings: MonitorSettings, now: datetime | None = None
) -> list[ModelCheck]:
    """The scheduled check over every model that has a production version."""
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
            metrics.add_metric(name="DriftCheckErrors", unit=MetricUnit.Count, value=1)
            logger.exception("drift check failed", extra={"model": model, "version": alias.version})
            checks.append(ModelCheck.failed(model, alias.version, str(exc)))
    return checks
