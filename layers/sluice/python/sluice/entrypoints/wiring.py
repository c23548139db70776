"""The one place that turns a function's settings into the adapters behind its ports. Handlers, the API
and the CLI ask here; use cases receive the result and never build an adapter themselves."""

from __future__ import annotations

from dataclasses import replace

from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.executions import Executions
from sluice.adapters.firehose import FirehoseTraffic
from sluice.adapters.notifications import Notifier
from sluice.adapters.registry.store import Registry
from sluice.adapters.traffic import TrafficStore
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.ports import Services
from sluice.entrypoints.outcomes import COUNTED
from sluice.settings import (
    BatchScoreSettings,
    DriftCheckSettings,
    IngestSettings,
    PredictSettings,
    StackSettings,
    StepSettings,
)


def stack_services(
    artifact_bucket: str,
    registry_table: str,
    notification_topic_arn: str | None = None,
    state_machine_arn: str | None = None,
    batch_state_machine_arn: str | None = None,
) -> Services:
    """Adapters for a stack named by its resources (the CLI reads them from the stack's outputs)."""
    return Services(
        batch_jobs=Executions(batch_state_machine_arn) if batch_state_machine_arn else None,
        registry=Registry(registry_table),
        artifacts=ArtifactStore(artifact_bucket),
        notifier=Notifier(notification_topic_arn),
        state_machine=Executions(state_machine_arn) if state_machine_arn else None,
        captured_traffic=TrafficStore(artifact_bucket),
    )


def _from_settings(settings: StackSettings, state_machine_arn: str | None = None) -> Services:
    """A function's ports; what its use cases survive is counted in the invocation's metrics."""
    services = stack_services(
        settings.artifact_bucket, settings.registry_table, settings.notification_topic_arn, state_machine_arn
    )
    return replace(services, outcomes=COUNTED)


def ingest_services(settings: IngestSettings) -> Services:
    """IngestFunction: registers specs and datasets, quarantines, starts training and batch jobs."""
    services = _from_settings(settings, settings.state_machine_arn)
    if settings.batch_state_machine_arn:
        services = replace(services, batch_jobs=Executions(settings.batch_state_machine_arn))
    return services


def batch_services(settings: BatchScoreSettings) -> Services:
    """BatchScoreFunction: reads the source CSV and the pinned model, writes results, records events."""
    return _from_settings(settings)


def step_services(settings: StepSettings) -> Services:
    """The TrainAndPromote task functions: they read and write artifacts and the registry."""
    return _from_settings(settings)


def drift_services(settings: DriftCheckSettings) -> Services:
    """DriftFunction: reads captured traffic, alerts, and may start a retraining."""
    return _from_settings(settings, settings.state_machine_arn)


def drift_limits(settings: DriftCheckSettings) -> DriftCheckLimits:
    """DriftFunction: the drift check's window, row limits and retraining cool-down, as plain values."""
    return DriftCheckLimits(
        drift_window_hours=settings.drift_window_hours,
        drift_min_rows=settings.drift_min_rows,
        drift_max_rows=settings.drift_max_rows,
        retrain_cooldown_hours=settings.retrain_cooldown_hours,
    )


def predict_services(settings: PredictSettings) -> Services:
    """PredictFunction: reads the registry and artifacts, sends captured traffic and feedback to
    their Firehose delivery streams."""
    return replace(
        _from_settings(settings),
        traffic_sink=FirehoseTraffic(settings.capture_stream, settings.feedback_stream),
    )
