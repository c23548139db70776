"""The estimator of a production version, as its training stored it (estimation.json and, for a
regressor, its loss models), for the drift check to estimate performance without labels."""

from __future__ import annotations

from sluice.app.ports import ArtifactReader
from sluice.domain.monitoring.estimation.basis import LOSS_ARTIFACTS, EstimationBasis
from sluice.domain.monitoring.estimation.window import Estimator
from sluice.domain.registry.records import Artifact


def read_estimator(artifacts: ArtifactReader, stored: dict[str, Artifact]) -> Estimator | None:
    """The estimator among a version's `stored` artifacts, each read only when its sha256 matches;
    None for a version trained before estimation existed (no `estimation` artifact)."""
    if "estimation" not in stored:
        return None
    basis = EstimationBasis.model_validate_json(artifacts.get_verified(stored["estimation"]))
    losses = {
        metric: artifacts.get_verified(stored[key]) for metric, key in LOSS_ARTIFACTS.items() if key in stored
    }
    return Estimator(basis=basis, loss_models=losses)
