"""Specs and datasets: each stored once by its sha256, the model's current spec named on its `META`
item, every registration audited in the same transaction."""

from __future__ import annotations

from sluice.adapters.registry import items
from sluice.adapters.registry.models import Models
from sluice.adapters.registry.table import RegistryTable
from sluice.domain.registry.records import AuditEvent, DatasetRecord, SpecRecord, utc_now
from sluice.errors import StackError

_NEW = "attribute_not_exists(PK)"


class SpecsAndDatasets:
    def __init__(self, table: RegistryTable, models: Models) -> None:
        self._table = table
        self._models = models

    def register_spec(self, record: SpecRecord, event: AuditEvent) -> None:
        """Store the spec by hash and make it the model's current spec, with `event`, in one transaction."""
        table = self._table
        cancelled = table.transact(
            [
                table.put_action(items.record_item(items.SPEC + record.sha256, record, record.model)),
                table.update_action(
                    record.model,
                    items.META,
                    "SET model = :m, current_spec_sha256 = :sha, current_spec_uri = :uri, "
                    "updated_at = :now, created_at = if_not_exists(created_at, :now)",
                    values={":m": record.model, ":sha": record.sha256, ":uri": record.uri, ":now": utc_now()},
                ),
                table.put_action(items.event_item(event)),
            ]
        )
        if cancelled:
            reasons = cancelled.describe(["the spec", "the model item", "the event"])
            raise StackError(f"registering spec {record.sha256} of {record.model}: {reasons}")

    def current_spec(self, model: str) -> SpecRecord | None:
        """The spec last registered for the model; None before any."""
        meta = self._models.model_meta(model)
        if meta is None or meta.current_spec_sha256 is None:
            return None
        item = self._table.get(model, items.SPEC + meta.current_spec_sha256)
        return SpecRecord.model_validate(item) if item else None

    def put_dataset(self, record: DatasetRecord, event: AuditEvent | None = None) -> bool:
        """Record a dataset version, and with it `event` (its `dataset_registered`) in the same
        transaction: both or neither, so an invocation stopped between them, then run again, cannot leave
        the dataset without its event. False when that content was already registered (nothing written);
        StackError when the write was refused for another reason."""
        item = items.record_item(items.DATASET + record.sha256, record, record.model)
        if event is None:
            return self._table.put(item, condition=_NEW)
        table = self._table
        cancelled = table.transact([table.put_action(item, _NEW), table.put_action(items.event_item(event))])
        if cancelled is None:
            return True
        if cancelled.only_failed(0):
            return False
        reasons = cancelled.describe(["the dataset", "the event"])
        raise StackError(f"registering dataset {record.sha256} of {record.model}: {reasons}")

    def get_dataset(self, model: str, sha256: str) -> DatasetRecord | None:
        item = self._table.get(model, items.DATASET + sha256)
        return DatasetRecord.model_validate(item) if item else None

    def list_datasets(self, model: str) -> list[DatasetRecord]:
        """The model's datasets, by sha256."""
        return [DatasetRecord.model_validate(i) for i in self._table.query(model, items.DATASET)]
