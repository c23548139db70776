"""A run's candidate search in the registry: one `CANDIDATE#<version>#<index>` item per candidate it
cross-validated (scores, size, latency, error, whether it was chosen), beside the version it trained."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice.adapters.registry import items
from sluice.adapters.registry.table import RegistryTable
from sluice.domain.registry.records import CandidateRecord

if TYPE_CHECKING:
    from sluice.domain.training.search import Experiment


class Experiments:
    def __init__(self, table: RegistryTable) -> None:
        self._table = table

    def record_experiment(self, model: str, version: int, experiment: Experiment) -> None:
        """Write one item per candidate of the version's search (idempotent: a retried Train step
        writes the same items)."""
        for score in experiment.candidates:
            self._table.put(
                items.candidate_item(model, version, score, chosen=score.index == experiment.chosen)
            )

    def list_candidates(self, model: str, version: int) -> list[CandidateRecord]:
        """The version's candidates in index order ([] when it trained one algorithm)."""
        return [items.candidate(i) for i in self._table.query(model, items.candidates_prefix(version))]
