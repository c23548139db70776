"""In-memory fakes of Sluice's own ports (sluice.app.ports), for use-case unit tests. They keep the
promises the ports document (conditional promotion, idempotent version allocation, verified reads,
a repeated execution name answered with started=False); how AWS keeps them is tested on the moto stack."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sluice.app.ports import CoreDeps, PredictDeps, StackDeps
from sluice.domain.monitoring.capture_window import CapturedWindow, LabelKey, WindowTally, latest_labels
from sluice.domain.registry.records import (
    Artifact,
    AuditEvent,
    EventType,
    ExecutionRef,
    ModelVersion,
    Principal,
    Trigger,
    new_event_id,
    sha256_hex,
    split_uri,
    utc_now,
)
from sluice.errors import (
    ArtifactCorrupt,
    ArtifactNotFound,
    SluiceError,
    StackError,
)
from tests.unit.app.fake_registry import InMemoryRegistry

BUCKET = "artifacts"
# People, as STS would name them (a use case takes a Principal, never a free-text name).
ALICE = Principal("arn:aws:iam::123456789012:user/alice")
BOB = Principal("arn:aws:sts::123456789012:assumed-role/SluiceOperators/bob")
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:TrainAndPromote"


def _etag(data: bytes) -> str:
    """S3's ETag of an object written in one part: the MD5 of its bytes, quoted."""
    return f'"{hashlib.md5(data).hexdigest()}"'


class InMemoryArtifacts:
    """Objects by URI (any bucket; writes go to BUCKET), with S3-style version ids for uploads."""

    def __init__(self, bucket: str = BUCKET) -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.versions: dict[tuple[str, str], bytes] = {}
        self.reads: list[str] = []  # the URI of every object whose bytes a use case read, in order

    def add(self, uri: str, data: bytes, version_id: str | None = None) -> str:
        """Put an object anywhere (an upload to the raw bucket); returns its URI."""
        split_uri(uri)
        self.objects[uri] = data
        if version_id:
            self.versions[(uri, version_id)] = data
        return uri

    def _stored(self, uri: str, version_id: str | None = None) -> bytes:
        found = self.versions.get((uri, version_id)) if version_id else self.objects.get(uri)
        if found is None:
            raise ArtifactNotFound(f"{uri} does not exist")
        return found

    def _read(self, uri: str, version_id: str | None = None) -> bytes:
        self.reads.append(uri)
        return self._stored(uri, version_id)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> Artifact:
        self.objects[self.uri(key)] = data
        self.content_types[self.uri(key)] = content_type
        return Artifact(uri=self.uri(key), sha256=sha256_hex(data))

    def put_json(self, key: str, obj: Any) -> Artifact:
        return self.put_bytes(
            key, json.dumps(obj, indent=2, sort_keys=True, default=str).encode(), "application/json"
        )

    def get_bytes(self, uri: str, *, version_id: str | None = None) -> bytes:
        return self._read(uri, version_id)

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        data = self._read(self.uri(key))
        return data, _etag(data)

    def etag(self, key: str) -> str | None:
        current = self.objects.get(self.uri(key))
        return None if current is None else _etag(current)

    def put_json_if_unchanged(self, key: str, obj: Any, etag: str | None) -> str | None:
        current = self.objects.get(self.uri(key))
        if (current is None) != (etag is None) or (current is not None and _etag(current) != etag):
            return None  # as S3 answers a conditional write that lost (412)
        self.put_json(key, obj)
        return _etag(self.objects[self.uri(key)])

    def get_verified(self, artifact: Artifact) -> bytes:
        data = self._read(artifact.uri)
        if sha256_hex(data) != artifact.sha256:
            raise ArtifactCorrupt(f"{artifact.uri}: sha256 {sha256_hex(data)} != recorded {artifact.sha256}")
        return data

    def open(self, uri: str, *, version_id: str | None = None) -> Any:
        return io.BytesIO(self._read(uri, version_id))

    def size(self, uri: str, *, version_id: str | None = None) -> int:
        return len(self._stored(uri, version_id))

    def exists(self, uri: str) -> bool:
        return uri in self.objects

    def copy_in(self, source_uri: str, key: str, *, version_id: str | None = None) -> str:
        self.objects[self.uri(key)] = self._read(source_uri, version_id)
        return self.uri(key)

    def list_keys(self, prefix: str) -> Iterator[str]:
        start = self.uri("")
        yield from sorted(u[len(start) :] for u in self.objects if u.startswith(start + prefix))

    def json(self, key: str) -> Any:
        return json.loads(self._stored(self.uri(key)))


class InMemoryExecutions:
    def __init__(self, state_machine_arn: str = STATE_MACHINE) -> None:
        self.state_machine_arn = state_machine_arn
        self.executions: dict[str, dict[str, Any]] = {}
        self.waiting: set[str] = set()
        self.answers: list[tuple[str, dict[str, Any]]] = []

    def arn(self, name: str) -> str:
        prefix, _, machine = self.state_machine_arn.partition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, payload: dict[str, Any]) -> ExecutionRef:
        if name in self.executions:
            return ExecutionRef(arn=self.arn(name), name=name, started=False)
        self.executions[name] = {
            "executionArn": self.arn(name),
            "stateMachineArn": self.state_machine_arn,
            "name": name,
            "status": "RUNNING",
            "startDate": datetime.now(UTC),
            "input": json.dumps(payload, sort_keys=True),
        }
        return ExecutionRef(arn=self.arn(name), name=name, started=True)

    def describe(self, arn: str) -> dict[str, Any]:
        found = next((e for e in self.executions.values() if e["executionArn"] == arn), None)
        if found is None:  # as the adapter answers Step Functions' ExecutionDoesNotExist
            raise StackError(f"describe execution {arn}: ExecutionDoesNotExist", code="ExecutionDoesNotExist")
        return dict(found)

    def inputs(self) -> list[dict[str, Any]]:
        return [json.loads(e["input"]) for e in self.executions.values()]

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        # newest first, as Step Functions lists them
        return [
            {k: e[k] for k in ("executionArn", "stateMachineArn", "name", "status", "startDate")}
            for e in reversed(self.executions.values())
            if status is None or e["status"] == status
        ]

    def wait_for_token(self, task_token: str) -> None:
        """A task starts waiting on `task_token` (what a `.waitForTaskToken` state does)."""
        self.waiting.add(task_token)

    def send_task_success(self, task_token: str, output: dict[str, Any]) -> None:
        self._answer(task_token, {"success": output})

    def send_task_failure(self, task_token: str, error: str, cause: str) -> None:
        self._answer(task_token, {"error": error, "cause": cause})

    def _answer(self, task_token: str, answer: dict[str, Any]) -> None:
        if task_token not in self.waiting:
            raise SluiceError("the run no longer waits for this answer (InvalidToken)")
        self.waiting.discard(task_token)
        self.answers.append((task_token, answer))


@dataclass
class InMemoryNotifier:
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, subject: str, message: dict[str, Any]) -> str | None:
        # As people receive it from SNS: the subject on one line of at most 100 characters, the message
        # as JSON (a value JSON has no type for, such as a datetime, as its str)
        clean_subject = " ".join(subject.split())[:100] or "Sluice"
        self.published.append((clean_subject, json.loads(json.dumps(message, default=str))))
        return f"message-{len(self.published)}"


class InMemoryTraffic:
    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.requests: dict[tuple[str, str], int] = {}
        self.labels: dict[str, list[dict[str, Any]]] = {}
        self.writes: list[str] = []  # the request id of every capture write tried, stored or not
        self.outage: Exception | None = None  # when set, every write raises it (the store is down)
        self.object_rows = 1_000  # capture records per object the window is read from
        self._cache: dict[str, tuple[tuple[int, int], list[tuple[str, bytes]]]] = {}

    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None:
        self.writes.append(request_id)
        if self.outage is not None:
            raise self.outage
        self.records.setdefault(model, []).extend(records)
        self.requests[(model, request_id)] = len(records)

    def put_feedback(self, model: str, request_id: str, instance: int, label: Any) -> None:
        # Stamped with its request's capture time when there is one: tests serve and label at once,
        # often on a fixed clock, so the label falls in the same windows as its request.
        served = [r["time"] for r in self.records.get(model, []) if r["request_id"] == request_id]
        self.labels.setdefault(model, []).append(
            {
                "model": model,
                "request_id": request_id,
                "instance": instance,
                "label": label,
                "time": served[0] if served else utc_now(),
            }
        )

    def window(
        self, model: str, start: datetime, end: datetime, *, max_rows: int, version: int | None = None
    ) -> CapturedWindow:
        # The stored records and labels as the JSON lines the streams deliver, read by the real tally.
        tally = WindowTally(model, start, end, max_rows, self.window_labels(model, start, end), version)
        for _, body in self.read_objects(self.window_objects(model, start, end)):
            tally.add_object(body)
        return tally.result()

    def window_objects(self, model: str, start: datetime, end: datetime) -> list[tuple[str, int]]:
        # The stored records as capture objects of at most `object_rows` JSON lines each, in key order.
        return [(key, len(body)) for key, body in self._objects(model)]

    def window_labels(self, model: str, start: datetime, end: datetime) -> dict[LabelKey, Any]:
        return latest_labels([json.dumps(f) for f in self.labels.get(model, [])], start, end)

    def read_objects(self, objects: Sequence[tuple[str, int]]) -> Iterator[tuple[str, bytes]]:
        bodies = {key: body for model in self.records for key, body in self._objects(model)}
        for key, _ in objects:
            yield key, bodies[key]

    def _objects(self, model: str) -> list[tuple[str, bytes]]:
        records = self.records.get(model, [])
        cached = self._cache.get(model)
        if cached is not None and cached[0] == (len(records), self.object_rows):
            return cached[1]  # records are only ever appended
        self._cache[model] = ((len(records), self.object_rows), self._encoded(model, records))
        return self._cache[model][1]

    def _encoded(self, model: str, records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
        return [
            (
                f"capture/{model}/{i // self.object_rows:06d}.jsonl",
                "".join(json.dumps(r) + "\n" for r in records[i : i + self.object_rows]).encode(),
            )
            for i in range(0, len(records), self.object_rows)
        ]


class RecordedOutcomes:
    """The Outcomes port in memory: what the use cases reported, in order, for the entry point to
    count (each a name; a rollout's check with its numbers)."""

    def __init__(self) -> None:
        self.counted: list[str] = []
        self.rollouts: list[tuple[str, bool, dict[str, dict[str, float | None]]]] = []

    def model_integrity_failure(self) -> None:
        self.counted.append("model_integrity_failure")

    def rollout_count_failure(self) -> None:
        self.counted.append("rollout_count_failure")

    def rollout_candidate_error(self) -> None:
        self.counted.append("rollout_candidate_error")

    def dashboard_failure(self) -> None:
        self.counted.append("dashboard_failure")

    def rollout_checked(
        self, model: str, breached: bool, roles: Mapping[str, Mapping[str, float | None]]
    ) -> None:
        self.rollouts.append((model, breached, {role: dict(numbers) for role, numbers in roles.items()}))


@dataclass
class FakePorts:
    """Every fake, and the deps a use case receives, wired to them."""

    registry: InMemoryRegistry = field(default_factory=InMemoryRegistry)
    artifacts: InMemoryArtifacts = field(default_factory=InMemoryArtifacts)
    notifier: InMemoryNotifier = field(default_factory=InMemoryNotifier)
    executions: InMemoryExecutions = field(default_factory=InMemoryExecutions)
    batch: InMemoryExecutions = field(default_factory=InMemoryExecutions)
    traffic: InMemoryTraffic = field(default_factory=InMemoryTraffic)
    outcomes: RecordedOutcomes = field(default_factory=RecordedOutcomes)

    def _core(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "artifacts": self.artifacts,
            "notifier": self.notifier,
            "traffic": self.traffic,
            "outcomes": self.outcomes,
        }

    def core_deps(self) -> CoreDeps:
        """What a TrainAndPromote step, the Fargate task and BatchScore have (no state machine)."""
        return CoreDeps(**self._core())

    def deps(self) -> StackDeps:
        """Every port: what IngestFunction, the CLI and the demo have."""
        return StackDeps(**self._core(), executions=self.executions, batch=self.batch)

    def predict_deps(self) -> PredictDeps:
        """What PredictFunction has: the core ports and the capture streams."""
        return PredictDeps(**self._core(), sink=self.traffic)

    def train_version(
        self,
        model: str,
        files: dict[str, tuple[str, bytes]],
        *,
        spec_sha256: str = "s" * 64,
        dataset_sha256: str = "d" * 64,
        metrics: dict[str, float | None] | None = None,
    ) -> ModelVersion:
        """The next version of `model` as a finished training run leaves it, not decided yet: allocated,
        each artifact (name → (file name, bytes)) stored under models/<model>/<version>/ and recorded
        with its sha256 on the version."""
        version = self.registry.allocate_version(
            model,
            new_event_id(),
            trigger=Trigger.UPLOAD,
            execution_arn=None,
            dataset_sha256=dataset_sha256,
            dataset_uri=f"s3://{BUCKET}/datasets/{model}/{dataset_sha256}/data.csv",
            spec_sha256=spec_sha256,
        )
        prefix = f"models/{model}/{version}/"
        artifacts = {
            name: self.artifacts.put_bytes(prefix + file, data) for name, (file, data) in files.items()
        }
        record = self.registry.get_version(model, version).model_copy(
            update={"artifacts": artifacts, "metrics": metrics or {}}
        )
        self.registry.versions[(model, version)] = record
        return record

    def put_in_production(self, model: str, version: int) -> ModelVersion:
        """Promote `version` over whatever is in production, through the registry's conditional write
        (reading the alias without `get_alias`, so tests can count the reads of the code under test)."""
        current = self.registry.aliases.get(model)
        self.registry.promote(
            self.registry.get_version(model, version),
            expected=current.version if current else None,
            event=AuditEvent(model=model, type=EventType.PROMOTED, id=new_event_id(), to_version=version),
        )
        return self.registry.get_version(model, version)
