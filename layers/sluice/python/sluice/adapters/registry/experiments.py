"""A run's candidate search in the registry: one `CANDIDATE#<version>#<index>` item per candidate it
cross-validated (scores, size, latency, error, whether it was chosen), beside the version it trained."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice.adapters.registry.table import RegistryTable, pk

if TYPE_CHECKING:
    from sluice.domain.training.search import Experiment


def candidate_sk(version: int, index: int) -> str:
    return f"CANDIDATE#{version:08d}#{index:03d}"


class ExperimentItems(RegistryTable):
    def record_experiment(self, model: str, version: int, experiment: Experiment) -> None:
        """Write one item per candidate of the version's search (idempotent: a retried Train step
        writes the same items)."""
        for candidate in experiment.candidates:
            document = candidate.model_dump(mode="json")
            self._put(
                {
                    "PK": pk(model),
                    "SK": candidate_sk(version, candidate.index),
                    "model": model,
                    "version": version,
                    "chosen": candidate.index == experiment.chosen,
                    **document,
                }
            )

    def list_candidates(self, model: str, version: int) -> list[dict[str, Any]]:
        """The version's candidate items in index order ([] when it trained one algorithm)."""
        return self._query(model, f"CANDIDATE#{version:08d}#")
