"""The audit trail: append-only `EVENT#<time>#<id>` items, and events recorded once per marker. (A
decision's own event is written by its repository, in the decision's transaction.)"""

from __future__ import annotations

from sluice.adapters.registry import items
from sluice.adapters.registry.table import RegistryTable
from sluice.domain.registry.records import AuditEvent
from sluice.errors import StackError


class AuditTrail:
    def __init__(self, table: RegistryTable) -> None:
        self._table = table

    def append_event(self, event: AuditEvent) -> None:
        self._table.put(items.event_item(event))

    def record_run_started(self, execution_name: str, event: AuditEvent) -> bool:
        """Write a run's `training_started` event once per execution name (a `STARTED#` marker and the
        event in one transaction); False when it was recorded before."""
        return self.record_once(items.started_marker(execution_name), event)

    def record_once(self, marker: str, event: AuditEvent) -> bool:
        """Write `event` once per `marker` of its model (the marker item and the event in one
        transaction), whoever writes it how often: a decision made again (a retried invocation) is not
        recorded twice. False when it was recorded before; StackError when the write was refused for
        another reason (nothing written)."""
        table = self._table
        marker_item = items.marker_item(
            event.model, marker, execution_arn=event.execution_arn, created_at=event.time
        )
        cancelled = table.transact(
            [
                table.put_action(marker_item, "attribute_not_exists(PK)"),
                table.put_action(items.event_item(event)),
            ]
        )
        if cancelled is None:
            return True
        if cancelled.only_failed(0):
            return False
        raise StackError(
            f"recording {marker} of {event.model}: {cancelled.describe(['the marker', 'the event'])}"
        )

    def list_events(self, model: str) -> list[AuditEvent]:
        """The model's events, oldest first (ties by id)."""
        return [AuditEvent.model_validate(i) for i in self._table.query(model, items.EVENT)]
