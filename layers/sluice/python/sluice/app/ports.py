"""The ports: what the use cases need from the world, as Protocols. `sluice.adapters` implements them on
AWS; `tests/unit/app/fakes.py` implements them in memory. A use case receives its ports as the
deps of its function (`CoreDeps`, `TrainingDeps`, `StackDeps`, `PredictDeps`, built by
`sluice.entrypoints.wiring`) and never imports an adapter, boto3 or a tool.

Ports are narrow where a use case reads only (serving), and whole where it writes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sluice.domain.monitoring.capture_window import CapturedWindow, LabelKey
from sluice.domain.registry.records import (
    Alias,
    Artifact,
    AuditEvent,
    CandidateRecord,
    DatasetRecord,
    ExecutionRef,
    ModelMeta,
    ModelVersion,
    SpecRecord,
    Trigger,
)
from sluice.domain.rollout.live import RolloutState, RolloutStatus, VersionTally

if TYPE_CHECKING:
    from sluice.domain.training.search import Experiment  # imports scikit-learn: typing only


class RegistryReader(Protocol):
    """What serving reads from the registry: the production alias, a version, a model's item (None: no
    such model)."""

    def get_alias(self, model: str) -> Alias | None: ...
    def get_version(self, model: str, version: int) -> ModelVersion: ...
    def model_meta(self, model: str) -> ModelMeta | None: ...


class RolloutCounter(Protocol):
    """Where serving adds what each version did with its requests during a live rollout."""

    def add_rollout_counts(self, model: str, version: int, role: str, tally: VersionTally) -> None: ...


class Registry(RegistryReader, RolloutCounter, Protocol):
    """The model registry: specs, datasets, versions, the production alias and the audit trail. Every
    decision writes its audit event atomically with the change; `promote` raises PromotionConflict when
    the alias is not at `expected`; `get_version` and `set_version_artifacts` raise ModelNotFound for a
    version the registry does not have. The alias's `updated_at` is when production last changed."""

    def list_models(self) -> list[ModelMeta]: ...
    def record_experiment(self, model: str, version: int, experiment: Experiment) -> None: ...
    def list_candidates(self, model: str, version: int) -> list[CandidateRecord]: ...
    def register_spec(self, record: SpecRecord, event: AuditEvent) -> None: ...
    def current_spec(self, model: str) -> SpecRecord | None: ...
    def put_dataset(self, record: DatasetRecord, event: AuditEvent | None = None) -> bool: ...
    def get_dataset(self, model: str, sha256: str) -> DatasetRecord | None: ...
    def list_datasets(self, model: str) -> list[DatasetRecord]: ...
    def allocate_version(
        self,
        model: str,
        run_id: str,
        *,
        trigger: Trigger,
        execution_arn: str | None,
        dataset_sha256: str,
        dataset_uri: str,
        spec_sha256: str,
    ) -> int: ...
    def list_versions(self, model: str) -> list[ModelVersion]: ...
    def set_version_artifacts(self, model: str, version: int, artifacts: dict[str, Artifact]) -> None: ...
    def decide(self, record: ModelVersion, event: AuditEvent) -> None: ...
    def promote(
        self,
        record: ModelVersion,
        *,
        expected: int | None,
        event: AuditEvent,
        rollout: RolloutState | None = None,
    ) -> None: ...
    # A live rollout (shadow, canary): its state on the production alias and its counts by role.
    def start_rollout(self, record: ModelVersion, rollout: RolloutState, event: AuditEvent) -> None: ...
    def stop_rollout(self, model: str, version: int, status: RolloutStatus, reason: str) -> bool: ...
    def rollout_counts(self, model: str, version: int) -> dict[str, VersionTally]: ...
    def append_event(self, event: AuditEvent) -> None: ...
    def record_run_started(self, execution_name: str, event: AuditEvent) -> bool: ...
    def record_once(self, marker: str, event: AuditEvent) -> bool: ...
    def run_version(self, model: str, run_id: str) -> int | None: ...
    def list_events(self, model: str) -> list[AuditEvent]: ...


class ArtifactReader(Protocol):
    """Reads an artifact only when its bytes match the sha256 recorded for it (ArtifactCorrupt)."""

    def get_verified(self, artifact: Artifact) -> bytes: ...


class Artifacts(ArtifactReader, Protocol):
    """The artifact bucket, objects addressed by URI; writes go under a key of the bucket. Missing
    objects raise ArtifactNotFound."""

    def uri(self, key: str) -> str: ...
    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> Artifact: ...
    def put_json(self, key: str, obj: Any) -> Artifact: ...
    def get_with_etag(self, key: str) -> tuple[bytes, str]: ...
    def etag(self, key: str) -> str | None: ...
    def put_json_if_unchanged(self, key: str, obj: Any, etag: str | None) -> str | None: ...
    def get_bytes(self, uri: str, *, version_id: str | None = None) -> bytes: ...
    def open(self, uri: str, *, version_id: str | None = None) -> Any: ...
    def size(self, uri: str, *, version_id: str | None = None) -> int: ...
    def exists(self, uri: str) -> bool: ...
    def copy_in(self, source_uri: str, key: str, *, version_id: str | None = None) -> str: ...
    def list_keys(self, prefix: str) -> Iterator[str]: ...


class Executions(Protocol):
    """The TrainAndPromote state machine. `start` answers `started=False` for a name already used."""

    def start(self, name: str, payload: dict[str, Any]) -> ExecutionRef: ...
    def describe(self, arn: str) -> dict[str, Any]: ...
    def list(self, status: str | None = None) -> list[dict[str, Any]]: ...

    # Answers to a task that waits on a token (`.waitForTaskToken`); SluiceError when the token is no
    # longer waited on (answered, timed out, or its execution ended).
    def send_task_success(self, task_token: str, output: dict[str, Any]) -> None: ...
    def send_task_failure(self, task_token: str, error: str, cause: str) -> None: ...


class Notifier(Protocol):
    """People's notifications (an SNS topic); a no-op when none is configured."""

    def publish(self, subject: str, message: dict[str, Any]) -> str | None: ...


class CaptureSink(Protocol):
    """Where served requests are captured: `write` hands one request's capture records (one per
    instance) to a delivery stream, which stores them in batches some minutes later. Raises a
    SluiceError when the records could not all be handed over."""

    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None: ...


class FeedbackSink(Protocol):
    """Where the true labels of served requests are sent. A label is joined with its captured record
    when a window of traffic is read, not when it is sent; a label sent twice is stored twice (the
    reader keeps the latest). Raises a SluiceError when the label could not be handed over."""

    def put_feedback(self, model: str, request_id: str, instance: int, label: Any) -> None: ...


class TrafficSink(CaptureSink, FeedbackSink, Protocol):
    """Both sinks of PredictFunction (Firehose delivery streams into the artifact bucket)."""


class Traffic(Protocol):
    """Captured requests and their labels, read back by time window in bounded memory."""

    def window(
        self, model: str, start: datetime, end: datetime, *, max_rows: int, version: int | None = None
    ) -> CapturedWindow:
        """The window [start, end) of `model`'s capture: a uniform sample of at most `max_rows` records
        (of `version` only, when given; 0 for none), exact counts, and every labelled record of any
        version with its label (the latest sent in the window)."""
        ...

    def window_objects(self, model: str, start: datetime, end: datetime) -> list[tuple[str, int]]:
        """The capture objects that can hold a record of `model` in [start, end): (key, size in bytes)
        in key order, the objects `window` reads."""
        ...

    def window_labels(self, model: str, start: datetime, end: datetime) -> dict[LabelKey, Any]:
        """The labels sent in [start, end) for `model`, by (request_id, instance), the latest winning."""
        ...

    def read_objects(self, objects: Sequence[tuple[str, int]]) -> Iterator[tuple[str, bytes]]:
        """Each object's key and decompressed JSON lines, in the order given, read in bounded memory
        (a size of 0 when it is unknown)."""
        ...


class Outcomes(Protocol):
    """What a use case survived or found on its way without it changing what the use case returns or
    raises: a failure it tolerates (the decision or the answer stands) and a live rollout's numbers.
    The entry points count them (CloudWatch metrics, `sluice.entrypoints.outcomes`); elsewhere (the
    CLI, the local tools) they go uncounted."""

    def model_integrity_failure(self) -> None:
        """A model file failed its sha256 check or could not be loaded; a verified version answers."""
        ...

    def rollout_count_failure(self) -> None:
        """A live rollout's counts were not written to the registry; they are kept for the next flush."""
        ...

    def rollout_candidate_error(self) -> None:
        """A canary failed a request that production then answered."""
        ...

    def dashboard_failure(self) -> None:
        """The dashboard was not regenerated; the decision it followed stands."""
        ...

    def rollout_checked(
        self, model: str, breached: bool, roles: Mapping[str, Mapping[str, float | None]]
    ) -> None:
        """A live rollout's check: whether a limit was breached, and per role (candidate, production)
        its RolloutRequests, RolloutErrorRate and RolloutLatencyP99 (None: not measured)."""
        ...


class Uncounted:
    """Outcomes that nothing counts (the CLI, the local tools, a function without metrics)."""

    def model_integrity_failure(self) -> None:
        pass

    def rollout_count_failure(self) -> None:
        pass

    def rollout_candidate_error(self) -> None:
        pass

    def dashboard_failure(self) -> None:
        pass

    def rollout_checked(
        self, model: str, breached: bool, roles: Mapping[str, Mapping[str, float | None]]
    ) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class CoreDeps:
    """What every function has: the registry, the artifacts, the notifier (silent without a topic),
    the captured traffic (read back from the artifact bucket) and where outcomes are counted. The
    TrainAndPromote steps, the Fargate training task and BatchScore have exactly this.

    Each function's deps are built once per container by `sluice.entrypoints.wiring`, the one place
    that constructs adapters; a use case asks for the narrowest deps it needs, so a function that lacks
    a port cannot call a use case that needs it (mypy says so, not a run-time error)."""

    registry: Registry
    artifacts: Artifacts
    notifier: Notifier
    traffic: Traffic
    outcomes: Outcomes = field(default_factory=Uncounted)


@dataclass(frozen=True, kw_only=True)
class TrainingDeps(CoreDeps):
    """CoreDeps and the TrainAndPromote state machine: starts (re)trainings and answers approvals.
    DriftFunction has exactly this."""

    executions: Executions


@dataclass(frozen=True, kw_only=True)
class StackDeps(TrainingDeps):
    """Every port of a stack: TrainingDeps and the BatchScore state machine. IngestFunction (uploads
    start trainings and batch jobs), the CLI and the demo have this."""

    batch: Executions


@dataclass(frozen=True, kw_only=True)
class PredictDeps(CoreDeps):
    """CoreDeps and the capture streams: PredictFunction (the API) sends captured requests and labels
    to Firehose."""

    sink: TrafficSink
