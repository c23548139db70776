"""The composition root: the one place that constructs adapters. Each function's entry point asks here
for its typed deps (built from its settings, once per container); the CLI and the demo ask for a
stack's deps from its outputs. Use cases receive the result and never build an adapter themselves.

| who                                    | deps           | built by        |
|----------------------------------------|----------------|-----------------|
| IngestFunction                         | `StackDeps`    | `ingest_deps`   |
| PredictFunction (the API)              | `PredictDeps`  | `predict_deps`  |
| DriftFunction                          | `TrainingDeps` | `drift_deps`    |
| TrainAndPromote's steps, Fargate task  | `CoreDeps`     | `step_deps`     |
| BatchScoreFunction                     | `CoreDeps`     | `batch_deps`    |
| ConsoleFunction                        | `ConsoleDeps`  | `console_deps`  |
| the CLI, the demo                      | `StackDeps`    | `stack_deps`    |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from sluice.adapters import client
from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.capture_relay import RelayedCapture
from sluice.adapters.executions import Executions
from sluice.adapters.firehose import FirehoseTraffic
from sluice.adapters.notifications import Notifier
from sluice.adapters.registry.store import Registry
from sluice.adapters.traffic import TrafficStore
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.ports import CoreDeps, Outcomes, PredictDeps, StackDeps, TrainingDeps, Uncounted
from sluice.entrypoints.outcomes import COUNTED
from sluice.settings import (
    BatchScoreSettings,
    ConsoleSettings,
    DriftCheckSettings,
    IngestSettings,
    PredictSettings,
    StackSettings,
    StepSettings,
)

if TYPE_CHECKING:  # each function imports only the use cases it runs (cold start)
    from sluice.adapters.idempotency import RetrySafePersistence
    from sluice.app.batch.job import BatchLimits
    from sluice.app.console.ports import ConsoleDeps, ConsoleLimits
    from sluice.app.ingest.upload import IngestLimits
    from sluice.domain.training.backend import LambdaLimits


class _CorePorts(TypedDict):
    registry: Registry
    artifacts: ArtifactStore
    notifier: Notifier
    traffic: TrafficStore
    outcomes: Outcomes


Clients = Callable[[str], Any]  # a service name → a botocore client


def _client_of(clients: Clients | None, service: str) -> Any:
    """`clients`' client for `service`; None lets the adapter create the process's own when it first
    needs one (PredictFunction's cold start creates no SNS client it may never use)."""
    return clients(service) if clients is not None else None


def _core_ports(
    artifact_bucket: str,
    registry_table: str,
    topic_arn: str | None,
    outcomes: Outcomes,
    clients: Clients | None = None,
) -> _CorePorts:
    return _CorePorts(
        registry=Registry(registry_table, _client_of(clients, "dynamodb")),
        artifacts=ArtifactStore(artifact_bucket, _client_of(clients, "s3")),
        notifier=Notifier(topic_arn, _client_of(clients, "sns")),
        traffic=TrafficStore(artifact_bucket, _client_of(clients, "s3")),
        outcomes=outcomes,
    )


def _function_ports(settings: StackSettings) -> _CorePorts:
    """A function's core ports; what its use cases survive is counted in the invocation's metrics."""
    return _core_ports(
        settings.artifact_bucket, settings.registry_table, settings.notification_topic_arn, COUNTED
    )


def stack_deps(outputs: Mapping[str, str], clients: Clients | None = None) -> StackDeps:
    """Every port of the stack whose CloudFormation outputs are `outputs` (the CLI reads them from the
    stack or from `sluice local up`'s ready document), calling AWS with `clients` (by default the
    process's credentials and endpoint). Nothing is counted. Raises KeyError naming the first missing
    output."""
    return StackDeps(
        **_core_ports(
            outputs["ArtifactBucketName"],
            outputs["RegistryTableName"],
            outputs.get("NotificationTopicArn"),
            Uncounted(),
            clients,
        ),
        executions=Executions(outputs["TrainingStateMachineArn"], _client_of(clients, "stepfunctions")),
        batch=Executions(outputs["BatchStateMachineArn"], _client_of(clients, "stepfunctions")),
    )


def ingest_deps(settings: IngestSettings) -> StackDeps:
    """IngestFunction: registers specs and datasets, quarantines, starts training and batch jobs."""
    return StackDeps(
        **_function_ports(settings),
        executions=Executions(settings.state_machine_arn),
        batch=Executions(settings.batch_state_machine_arn),
    )


def predict_deps(settings: PredictSettings) -> PredictDeps:
    """PredictFunction: reads the registry and artifacts; hands captured requests to the capture
    extension (Firehose directly without it) and sends feedback to its Firehose delivery stream."""
    return PredictDeps(
        **_function_ports(settings),
        sink=RelayedCapture(FirehoseTraffic(settings.capture_stream, settings.feedback_stream)),
    )


def console_deps(settings: ConsoleSettings) -> ConsoleDeps:
    """ConsoleFunction: the registry and artifacts, the TrainAndPromote state machine (approvals,
    retraining, runs' histories) and the raw bucket (init.yaml, pre-signed POSTs)."""
    from sluice.adapters.cognito import CognitoSignIn
    from sluice.adapters.raw_uploads import RawUploads
    from sluice.app.console.ports import ConsoleDeps

    executions = Executions(settings.state_machine_arn)
    return ConsoleDeps(
        **_function_ports(settings),
        executions=executions,
        runs=executions,
        uploads=RawUploads(settings.raw_bucket),
        accounts=CognitoSignIn(settings.console_client_id, settings.console_mfa),
    )


def drift_deps(settings: DriftCheckSettings) -> TrainingDeps:
    """DriftFunction: reads captured traffic, alerts, and may start a retraining."""
    return TrainingDeps(**_function_ports(settings), executions=Executions(settings.state_machine_arn))


def step_deps(settings: StepSettings) -> CoreDeps:
    """The TrainAndPromote task functions and the Fargate training task: artifacts and the registry."""
    return CoreDeps(**_function_ports(settings))


def batch_deps(settings: BatchScoreSettings) -> CoreDeps:
    """BatchScoreFunction: reads the source CSV and the pinned model, writes results, records events."""
    return CoreDeps(**_function_ports(settings))


def drift_limits(settings: DriftCheckSettings) -> DriftCheckLimits:
    """DriftFunction: the drift check's window, row limits, retraining cool-down and alert repeat, as
    plain values."""
    return DriftCheckLimits(
        drift_window_hours=settings.drift_window_hours,
        drift_min_rows=settings.drift_min_rows,
        drift_max_rows=settings.drift_max_rows,
        retrain_cooldown_hours=settings.retrain_cooldown_hours,
        alert_repeat_hours=settings.alert_repeat_hours,
        drift_partition_bytes=settings.drift_partition_bytes,
        model_concurrency=settings.monitoring_model_concurrency,
        partition_concurrency=settings.monitoring_partition_concurrency,
    )


# What each function's handler keeps for its container: its deps and its limits, read once from its
# settings. The handler module caches it (`sluice.entrypoints.handler`), never this module: the local
# stack imports a handler module per stack, so a stack's functions never see another stack's tables.


@dataclass(frozen=True)
class IngestFunction:
    deps: StackDeps
    limits: IngestLimits
    # Powertools' idempotency records, safe against the SDK retrying its own write
    persistence: RetrySafePersistence


def ingest_function() -> IngestFunction:
    """IngestFunction's deps, limits and idempotency store, from its environment."""
    # Powertools' idempotency imports boto3 (its DynamoDB persistence): only IngestFunction pays for it
    from sluice.adapters.idempotency import RetrySafePersistence
    from sluice.app.ingest.upload import IngestLimits

    settings = IngestSettings.from_env()
    return IngestFunction(
        deps=ingest_deps(settings),
        limits=IngestLimits(max_upload_bytes=settings.max_upload_bytes),
        persistence=RetrySafePersistence(
            table_name=settings.idempotency_table, boto3_client=client("dynamodb")
        ),
    )


@dataclass(frozen=True)
class Wired[D, L]:
    """A function's deps and its limits as plain values."""

    deps: D
    limits: L


type ConsoleFunction = Wired[ConsoleDeps, ConsoleLimits]
type DriftFunction = Wired[TrainingDeps, DriftCheckLimits]
type TaskFunction = Wired[CoreDeps, LambdaLimits]  # Train, Export, Evaluate, Register
type BatchScoreFunction = Wired[CoreDeps, BatchLimits]


def console_function(settings: ConsoleSettings | None = None) -> ConsoleFunction:
    """ConsoleFunction's deps and upload limit, from its environment (or `settings`)."""
    from sluice.app.console.ports import ConsoleLimits

    settings = settings or ConsoleSettings.from_env()
    return Wired(
        deps=console_deps(settings), limits=ConsoleLimits(max_upload_bytes=settings.max_upload_bytes)
    )


def drift_function() -> DriftFunction:
    """DriftFunction's deps and the drift check's limits, from its environment."""
    settings = DriftCheckSettings.from_env()
    return Wired(deps=drift_deps(settings), limits=drift_limits(settings))


def task_function() -> TaskFunction:
    """A TrainAndPromote task function's deps and the largest dataset it trains, from its environment."""
    from sluice.domain.training.backend import LambdaLimits

    settings = StepSettings.from_env()
    return Wired(
        deps=step_deps(settings),
        limits=LambdaLimits(max_cells=settings.lambda_max_cells, max_bytes=settings.lambda_max_bytes),
    )


def batch_score_function() -> BatchScoreFunction:
    """BatchScoreFunction's deps and how a job's Map runs, from its environment."""
    from sluice.app.batch.job import BatchLimits

    settings = BatchScoreSettings.from_env()
    return Wired(
        deps=batch_deps(settings),
        limits=BatchLimits(
            max_items_per_batch=settings.batch_max_items_per_batch,
            max_concurrency=settings.batch_max_concurrency,
            tolerated_failure_percentage=settings.batch_tolerated_failure_percentage,
        ),
    )
