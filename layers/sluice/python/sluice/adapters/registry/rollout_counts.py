"""A live rollout's counts: what each version did with its requests, by role (candidate, production), in
`ROLLOUT#<version>#<role>` items that every PredictFunction container adds to (an atomic ADD, so many
containers never lose each other's counts)."""

from __future__ import annotations

from sluice.adapters.registry import items
from sluice.adapters.registry.table import RegistryTable
from sluice.domain.registry.records import utc_now
from sluice.domain.rollout.live import VersionTally


class RolloutCounts:
    def __init__(self, table: RegistryTable) -> None:
        self._table = table

    def add_rollout_counts(self, model: str, version: int, role: str, tally: VersionTally) -> None:
        """Add a container's counts of `role` (candidate or production) during version's rollout."""
        counted = items.tally_values(tally)
        placeholders = {name: f":c{i}" for i, name in enumerate(counted)}
        self._table.update(
            model,
            items.counts_sk(version, role),
            "ADD "
            + ", ".join(f"{name} {placeholder}" for name, placeholder in placeholders.items())
            + " SET updated_at = :now",
            values={placeholders[name]: count for name, count in counted.items()} | {":now": utc_now()},
        )

    def rollout_counts(self, model: str, version: int) -> dict[str, VersionTally]:
        """Version's rollout counts by role, as added so far."""
        return dict(items.tally(i) for i in self._table.query(model, items.counts_prefix(version)))
