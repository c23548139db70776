"""A model's incidents: one `INCIDENT#<kind>` item per model and kind, written only on the revision the
writer read (so of two checks racing to open, repeat or resolve it, one wins and announces), with the
audit event of an opening or a resolution in the same transaction."""

from __future__ import annotations

from sluice.adapters.registry import items
from sluice.adapters.registry.table import RegistryTable
from sluice.domain.registry.incidents import Incident
from sluice.domain.registry.records import AuditEvent
from sluice.errors import StackError


class Incidents:
    def __init__(self, table: RegistryTable) -> None:
        self._table = table

    def list_incidents(self, model: str) -> list[Incident]:
        """The model's incidents, open or resolved, one per kind."""
        return [items.incident(i) for i in self._table.query(model, items.INCIDENT)]

    def record_incident(
        self, incident: Incident, expected: int | None, event: AuditEvent | None = None
    ) -> bool:
        """Write `incident` if its item is still at revision `expected` (None: there is none yet), with
        `event` in the same transaction; False when another writer changed it first (nothing written)."""
        table = self._table
        if expected is None:
            put = table.put_action(items.incident_item(incident), "attribute_not_exists(PK)")
        else:
            put = table.put_action(
                items.incident_item(incident),
                "#revision = :expected",
                names={"#revision": "revision"},
                values={":expected": expected},
            )
        actions = [put] + ([table.put_action(items.event_item(event))] if event else [])
        cancelled = table.transact(actions)
        if cancelled is None:
            return True
        if cancelled.only_failed(0):
            return False
        raise StackError(
            f"recording the {incident.kind} incident of {incident.model}: "
            f"{cancelled.describe(['the incident', 'its event'])}"
        )
