"""Versions and their decisions. A version number comes from the model's counter (on its `META` item),
allocated at the start of a run, idempotently per run (`RUN#<id>`), so the ONNX metadata can carry the
number; rejected and failed runs keep theirs. Every allocation and decision writes its audit event in
the same transaction."""

from __future__ import annotations

from typing import Any

from sluice.adapters.registry import items
from sluice.adapters.registry.models import Models
from sluice.adapters.registry.table import RegistryTable
from sluice.domain.registry.records import (
    Artifact,
    AuditEvent,
    EventType,
    ModelVersion,
    Trigger,
    VersionStatus,
    new_event_id,
    utc_now,
)
from sluice.errors import ModelNotFound, PromotionConflict, StackError

MAX_ALLOCATION_ATTEMPTS = 20  # runs racing for the same model's counter
_NEW = "attribute_not_exists(PK)"
_FINAL = (VersionStatus.REJECTED, VersionStatus.FAILED)
_ALLOCATION = ("the counter", "the run", "the version", "the event")  # the transaction's actions


class Versions:
    def __init__(self, table: RegistryTable, models: Models) -> None:
        self._table = table
        self._models = models

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
    ) -> int:
        """The version number of run `run_id`: allocated once from the model's counter (the version
        recorded as training, its `version_allocated` event in the same transaction), then the same
        number on every retry of the same run."""
        table = self._table
        cancelled = None
        for _ in range(MAX_ALLOCATION_ATTEMPTS):
            allocated = self.run_version(model, run_id)
            if allocated is not None:
                return allocated
            meta = self._models.model_meta(model)
            current = meta.version_counter if meta else 0
            version = current + 1
            now = utc_now()
            record = ModelVersion(
                model=model,
                version=version,
                status=VersionStatus.TRAINING,
                trigger=trigger,
                created_at=now,
                updated_at=now,
                execution_arn=execution_arn,
                dataset_sha256=dataset_sha256,
                dataset_uri=dataset_uri,
                spec_sha256=spec_sha256,
            )
            event = AuditEvent(
                model=model,
                type=EventType.VERSION_ALLOCATED,
                id=new_event_id(),
                version=version,
                execution_arn=execution_arn,
                trigger=trigger,
                details={"dataset_sha256": dataset_sha256},
            )
            values: dict[str, Any] = {":next": version, ":now": now, ":m": model}
            counted = "attribute_not_exists(version_counter)"  # the counter as read: none yet, or `current`
            if current:
                values[":current"] = current
                counted = "version_counter = :current"
            run = items.marker_item(model, items.run_sk(run_id), version=version, created_at=now)
            cancelled = table.transact(
                [
                    table.update_action(
                        model,
                        items.META,
                        "SET version_counter = :next, updated_at = :now, model = :m",
                        condition=counted,
                        values=values,
                    ),
                    table.put_action(run, _NEW),
                    table.put_action(items.version_item(record), _NEW),
                    table.put_action(items.event_item(event)),
                ]
            )
            if cancelled is None:
                return version
        reasons = cancelled.describe(_ALLOCATION) if cancelled else ""
        raise StackError(
            f"could not allocate a version of {model} after {MAX_ALLOCATION_ATTEMPTS} attempts "
            f"(the last cancelled: {reasons})"
        )

    def run_version(self, model: str, run_id: str) -> int | None:
        """The version allocated to run `run_id` (None: none was)."""
        item = self._table.get(model, items.run_sk(run_id))
        return int(item["version"]) if item else None

    def get_version(self, model: str, version: int) -> ModelVersion:
        """The version; ModelNotFound when the registry has none of that number."""
        item = self._table.get(model, items.version_sk(version))
        if not item:
            raise ModelNotFound(f"model {model!r} has no version {version}")
        return ModelVersion.model_validate(item)

    def list_versions(self, model: str) -> list[ModelVersion]:
        """The model's versions, by number."""
        return [ModelVersion.model_validate(i) for i in self._table.query(model, items.VERSION)]

    def set_version_artifacts(self, model: str, version: int, artifacts: dict[str, Artifact]) -> None:
        """Point the version's named artifacts at new objects (e.g. a card rewritten with live quality),
        keeping its others. ModelNotFound when the registry has no such version (nothing written)."""
        names = {f"#a{i}": name for i, name in enumerate(artifacts)}
        values: dict[str, Any] = {
            f":a{i}": artifact.model_dump(mode="json") for i, artifact in enumerate(artifacts.values())
        }
        values[":now"] = utc_now()
        assignments = ", ".join(f"artifacts.{name} = {name.replace('#', ':')}" for name in names)
        written = self._table.update(
            model,
            items.version_sk(version),
            f"SET {assignments}, updated_at = :now",
            condition="attribute_exists(PK)",
            names=names,
            values=values,
        )
        if not written:
            raise ModelNotFound(f"model {model!r} has no version {version}")

    def decide(self, record: ModelVersion, event: AuditEvent) -> None:
        """Record a non-promotion decision (rejected, failed, candidate, pending approval) with its audit
        event, in one transaction. A final one (rejected, failed) is recorded once per version: made
        again (a step run again after its answer was lost), it changes nothing. PromotionConflict when
        the version is in production (a promotion decided it first)."""
        table = self._table
        item = items.version_item(record.model_copy(update={"updated_at": utc_now()}))
        actions = [
            table.put_action(
                item,
                "attribute_not_exists(PK) OR #s <> :production",
                names={"#s": "status"},
                values={":production": VersionStatus.PRODUCTION.value},
            ),
            table.put_action(items.event_item(event)),
        ]
        final = record.status in _FINAL
        if final:
            marker = items.marker_item(record.model, items.decided_sk(record.version, record.status))
            actions.append(table.put_action(marker | {"created_at": event.time}, _NEW))
        cancelled = table.transact(actions)
        if cancelled is None:
            return
        if final and cancelled.only_failed(len(actions) - 1):
            return  # decided so before: nothing changes
        if cancelled.failed(0):
            raise PromotionConflict(f"{record.model} version {record.version} is in production already")
        reasons = cancelled.describe(["the version", "the event", "the decision's marker"])
        raise PromotionConflict(
            f"{record.model} version {record.version} was not decided {record.status.value}: {reasons}"
        )
