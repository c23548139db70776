"""The records the Registry port's contract tests write (the `registry` fixture, both implementations of
the port, is in conftest.py)."""

from __future__ import annotations

from sluice.adapters.registry import items
from sluice.adapters.registry.store import Registry as DynamoRegistry
from sluice.app.ports import Registry
from sluice.domain.registry.records import (
    Alias,
    AuditEvent,
    DatasetRecord,
    EventType,
    ModelVersion,
    SpecRecord,
    Trigger,
    VersionStatus,
    new_event_id,
)
from sluice.domain.rollout.live import RolloutState
from tests.unit.app.fake_registry import InMemoryRegistry

MODEL = "loans"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:TrainAndPromote:run-1"
T0 = "2026-12-01T12:00:00.000000Z"


def allocate(registry: Registry, run_id: str, model: str = MODEL) -> int:
    return registry.allocate_version(
        model,
        run_id,
        trigger=Trigger.UPLOAD,
        execution_arn=EXECUTION,
        dataset_sha256="d" * 64,
        dataset_uri=f"s3://artifacts/datasets/{model}/{'d' * 64}/data.csv",
        spec_sha256="s" * 64,
    )


def event(kind: EventType, version: int | None = None, *, time: str | None = None) -> AuditEvent:
    made = AuditEvent(model=MODEL, type=kind, id=new_event_id(), version=version)
    return made.model_copy(update={"time": time}) if time else made


def version(number: int, status: VersionStatus = VersionStatus.CANDIDATE) -> ModelVersion:
    return ModelVersion(
        model=MODEL, version=number, status=status, trigger=Trigger.UPLOAD, created_at=T0, updated_at=T0
    )


def rollout(number: int, production: int = 1) -> RolloutState:
    return RolloutState(
        mode="canary",
        version=number,
        production_version=production,
        weight=0.2,
        started_at=T0,
        deadline="2026-12-02T12:00:00.000000Z",
    )


def spec(sha: str) -> SpecRecord:
    return SpecRecord(
        model=MODEL, sha256=sha, uri=f"s3://artifacts/specs/{MODEL}/{sha}.yaml", source_key="x", created_at=T0
    )


def dataset(sha: str) -> DatasetRecord:
    return DatasetRecord(
        model=MODEL,
        sha256=sha,
        uri=f"s3://artifacts/datasets/{MODEL}/{sha}/data.csv",
        source_key=f"uploads/{MODEL}/data.csv",
        n_rows=10,
        size_bytes=100,
        validation_uri=f"s3://artifacts/datasets/{MODEL}/{sha}/validation.json",
        created_at=T0,
        spec_sha256="s" * 64,
    )


def promoted(registry: Registry, number: int, expected: int | None) -> None:
    registry.promote(version(number), expected=expected, event=event(EventType.PROMOTED, number))


def types(registry: Registry) -> list[EventType]:
    return [e.type for e in registry.list_events(MODEL)]


def point_production_at(registry: Registry, number: int) -> None:
    """Write the production alias naming version `number` and nothing else, by hand (as no use of the
    port would): each implementation in its own store."""
    if isinstance(registry, InMemoryRegistry):
        registry.aliases[MODEL] = Alias(model=MODEL, version=number, updated_at=T0)
    else:
        assert isinstance(registry, DynamoRegistry)
        registry.table.put(items.alias_item(version(number), None, T0, None))
