"""Typed records of the registry and the state machine's payload. Pure data: no AWS here.

The registry keeps, per model (partition `MODEL#<name>`): the model item (`META`: current spec and the
version counter), `SPEC#<sha>`, `DATASET#<sha>`, `VERSION#<n>` (zero-padded so they sort), a search's
`CANDIDATE#<n>#<i>`, the `ALIAS#production` pointer and the append-only audit trail `EVENT#<time>#<id>`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from sluice.domain.registry.identity import Principal as Principal  # re-exported: where it lived first
from sluice.domain.rollout.live import RolloutState

if TYPE_CHECKING:  # imports multiprocessing (~40 ms of a cold start): typing only
    from sluice.domain.training.search import CandidateScore

MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def utc_now() -> str:
    """ISO-8601 UTC timestamp with microseconds; sorts lexicographically."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_event_id() -> str:
    return uuid.uuid4().hex[:12]


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise ValueError(f"not an s3:// object URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HashingReader:
    """A binary stream that hashes and counts the bytes read through it (S3 bodies are streamed)."""

    def __init__(self, raw: IO[bytes] | Any) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._raw.read(size) if size is not None and size >= 0 else self._raw.read()
        self._hash.update(chunk)
        self.bytes_read += len(chunk)
        return chunk

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read what is left, so the hash covers the whole object."""
        while self.read(1024 * 1024):
            pass

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class VersionStatus(StrEnum):
    TRAINING = "training"  # allocated at the start of a run, not decided yet
    CANDIDATE = "candidate"  # passed its gates but was not promoted
    PRODUCTION = "production"
    ARCHIVED = "archived"  # was production, replaced by a promotion or rollback
    REJECTED = "rejected"  # failed validation, parity or gates; keeps its number
    FAILED = "failed"  # the run failed for an unexpected reason
    PENDING_APPROVAL = "pending_approval"  # passed its gates; waits for `sluice models approve|reject`
    SHADOW = "shadow"  # passed its gates; scores live requests beside production, answering none
    CANARY = "canary"  # passed its gates; answers a share of live requests until promoted or rolled back


class Trigger(StrEnum):
    UPLOAD = "upload"
    MANUAL = "manual"
    DRIFT = "drift"
    SCHEDULE = "schedule"  # the spec's `retraining.schedule_days` came due in the drift check


class EventType(StrEnum):
    SPEC_REGISTERED = "spec_registered"
    SPEC_REJECTED = "spec_rejected"
    DATASET_REGISTERED = "dataset_registered"
    DATA_QUARANTINED = "data_quarantined"
    TRAINING_STARTED = "training_started"
    VERSION_ALLOCATED = "version_allocated"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    APPROVAL_REFUSED = "approval_refused"
    ROLLOUT_STARTED = "rollout_started"  # a shadow or canary rollout began
    BATCH_STARTED = "batch_started"  # a batch scoring job pinned its model version
    BATCH_FINISHED = "batch_finished"  # a batch scoring job wrote its manifest (or failed, with why)
    # an automatic retraining not started: its dataset and spec were production's (nothing new)
    RETRAINING_HELD = "retraining_held"
    INCIDENT_OPENED = (
        "incident_opened"  # a check found drift, a live metric under its gate, … (details: kind)
    )
    INCIDENT_RESOLVED = "incident_resolved"  # a check found an open incident gone


class Artifact(BaseModel):
    """An object in S3 with the sha256 of its bytes."""

    model_config = ConfigDict(frozen=True)

    uri: str
    sha256: str


class GateFailureRecord(BaseModel):
    gate: str
    value: float | None = None
    limit: float | None = None


class GatesRecord(BaseModel):
    passed: bool
    failed: list[GateFailureRecord] = Field(default_factory=list)


class ParityRecord(BaseModel):
    passed: bool
    max_abs_diff: float | None = None
    label_agreement: float | None = None


class ModelVersion(BaseModel):
    """One `VERSION#<n>` item: the lineage of a training run and its decision."""

    model: str
    version: int
    status: VersionStatus
    trigger: Trigger
    created_at: str
    updated_at: str
    execution_arn: str | None = None
    dataset_sha256: str | None = None
    dataset_uri: str | None = None
    spec_sha256: str | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    champion_version: int | None = None
    champion_metrics: dict[str, float | None] = Field(default_factory=dict)
    gates: GatesRecord | None = None
    parity: ParityRecord | None = None
    artifacts: dict[str, Artifact] = Field(default_factory=dict)
    reason: str | None = None
    backend: str | None = None  # where Train ran: "lambda" | "fargate" (None: before backends existed)
    # The Step Functions task token a pending_approval version's run waits on (never shown by views).
    approval_token: str | None = None


@dataclass(frozen=True)
class ModelMeta:
    """The model item (`META`): its current spec and its version counter."""

    model: str
    current_spec_sha256: str | None = None
    current_spec_uri: str | None = None
    version_counter: int = 0  # the last version allocated (0: none yet)


@dataclass(frozen=True)
class CandidateRecord:
    """One `CANDIDATE#<version>#<index>` item: a candidate a version's search cross-validated."""

    model: str
    version: int
    chosen: bool  # the candidate the search chose (the version trained it)
    score: CandidateScore


class Alias(BaseModel):
    """The production version, and the live rollout (shadow or canary) trying a candidate beside it."""

    model: str
    name: str = "production"
    version: int
    updated_at: str
    rollout: RolloutState | None = None


class AuditEvent(BaseModel):
    """One `EVENT#` item: what was decided, from which version to which, why, by which run. A person's
    action (promote, rollback, train, approve, reject) also records `by`, the principal ARN STS answered
    for their credentials (or a console user's Cognito id, with `by_email`), and `note`, their free text
    (e.g. a ticket, or on whose behalf)."""

    model: str
    type: EventType
    time: str = Field(default_factory=utc_now)
    id: str
    from_version: int | None = None
    to_version: int | None = None
    version: int | None = None
    reason: str | None = None
    execution_arn: str | None = None
    trigger: Trigger | None = None
    by: str | None = None  # a person's action: their Principal's `arn` (STS, or a console user's id)
    by_email: str | None = None  # a console user's action: their verified email
    note: str | None = None  # a person's action: their --note
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of_run(cls, run: RunState, event_type: EventType, execution_arn: str, **fields: Any) -> AuditEvent:
        """An event of a TrainAndPromote run: its model, trigger and execution, a new id, and `fields`."""
        return cls(
            model=run.model,
            type=event_type,
            id=new_event_id(),
            execution_arn=execution_arn,
            trigger=run.trigger,
            **fields,
        )


class DatasetKind(StrEnum):
    UPLOAD = "upload"  # a CSV uploaded to <model>/data/
    LABELLED_TRAFFIC = "labelled_traffic"  # captured inputs joined with their feedback labels
    RETRAINING = "retraining"  # an accepted upload plus the labelled traffic of a window


class DatasetRecord(BaseModel):
    """One `DATASET#<sha>` item: a validated table stored under datasets/<model>/<sha>/. Items written
    before `kind` existed are uploads."""

    model: str
    sha256: str
    uri: str
    source_key: str
    source_version_id: str | None = None
    n_rows: int
    size_bytes: int
    spec_sha256: str
    validation_uri: str
    created_at: str
    kind: DatasetKind = DatasetKind.UPLOAD
    # Where the rows come from, in words ("captured traffic <start>..<end> + feedback"); None: the upload.
    lineage: str | None = None
    # The datasets a retraining dataset combines (the accepted upload, the labelled traffic).
    sources: list[str] = Field(default_factory=list)
    # How many of the last rows are recent labelled traffic (a retraining dataset's rows end with them).
    recent_rows: int = 0


class SpecRecord(BaseModel):
    model: str
    sha256: str
    uri: str
    source_key: str
    created_at: str


class RolloutPlan(BaseModel):
    """How the run's challenger reaches production once its gates pass (from the spec's `rollout`)."""

    mode: str = "auto"
    timeout_seconds: int | None = None  # manual: how long the run waits for a person
    check_seconds: int | None = None  # shadow, canary: the wait between two checks
    decision: str | None = None  # shadow, canary: the last check's wait | promote | roll_back
    reason: str | None = None  # and why


class ApprovalRecord(BaseModel):
    """A person's answer to a manual rollout (the output of SendTaskSuccess)."""

    by: str  # the Principal's `arn` of who answered (STS, or a console user's id)
    by_email: str | None = None  # a console user's verified email
    reason: str | None = None
    note: str | None = None


class TrainingTask(BaseModel):
    """A Fargate Train: where the task reads the run (run.json) and writes its result (result.json),
    and its size (strings, as ECS's overrides take them)."""

    run_uri: str
    result_uri: str
    cpu: str
    memory: str


class RunState(BaseModel):
    """What the TrainAndPromote state machine carries between states: URIs, hashes, small metrics.

    Each task returns the state it was given plus what it added; the state machine puts Catch errors
    under `error` and promotion conflicts under `conflict`.
    """

    model_config = ConfigDict(extra="ignore")

    model: str
    dataset_sha256: str
    dataset_uri: str
    spec_sha256: str
    spec_uri: str
    trigger: Trigger = Trigger.UPLOAD
    version: int | None = None
    status: VersionStatus | None = None
    artifacts: dict[str, Artifact] = Field(default_factory=dict)
    # The fitted estimator's parameters for the card, JSON scalars (set by Train, read by Evaluate).
    card_parameters: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    parity: ParityRecord | None = None
    n_train: int | None = None
    n_holdout: int | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    champion_version: int | None = None
    champion_metrics: dict[str, float | None] = Field(default_factory=dict)
    gates: GatesRecord | None = None
    # A retraining dataset ends with `recent_rows` rows of labelled traffic, fitted with `recent_weight`.
    recent_rows: int = 0
    recent_weight: float = 1.0
    # The last `recent_holdout_rows` of those are the recent holdout: never trained on, scored apart.
    recent_holdout_rows: int = 0
    error: dict[str, Any] | None = None
    conflict: dict[str, Any] | None = None
    reason: str | None = None
    rollout: RolloutPlan | None = None
    approval: ApprovalRecord | None = None
    # A candidate search: the indices of the spec's candidates to cross-validate (PlanSearch), then the
    # Map's CandidateScore documents (SearchCandidates); Train records them and clears both.
    search: list[int] | None = None
    search_results: list[dict[str, Any]] | None = None
    # What Train decided: the estimator ({name, params}) when a search chose it, the decision threshold
    # (a ThresholdChoice) and, when the spec mitigates, the unmitigated model's fairness (a
    # FairnessSnapshot); later steps train, export and describe exactly that.
    algorithm: dict[str, Any] | None = None
    threshold: dict[str, Any] | None = None
    fairness_before: dict[str, Any] | None = None
    # Where Train runs ("lambda" | "fargate", PlanSearch decides) and why; a Fargate Train's task, and
    # the error Step Functions caught when the task did not finish (CollectTrainingTask reads both).
    backend: str | None = None
    backend_reason: str | None = None
    training_task: TrainingTask | None = None
    task_error: dict[str, Any] | None = None


class TaskEvent(BaseModel):
    """The event every TrainAndPromote task function receives."""

    model_config = ConfigDict(extra="ignore")

    action: str
    run: RunState
    execution_arn: str
    task_token: str | None = None  # set for `.waitForTaskToken` tasks (await_approval)
    candidate: int | None = None  # set for the search's cross_validate tasks (the Map's item)


class ExecutionRef(BaseModel):
    """A TrainAndPromote execution that was started, or found already started under its name."""

    arn: str
    name: str
    started: bool  # False: not by this call (the name was used before: a duplicate event, a repeat)


@dataclass(frozen=True)
class TrafficWindow:
    """A span of captured traffic by capture time, [start, end): what the drift check reads and what a
    retraining takes labelled traffic from."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%dT%H:%M:%SZ}..{self.end:%Y-%m-%dT%H:%M:%SZ}"
