"""The Export step's estimation basis: what the drift check needs to estimate the exported model's
performance without labels, learnt on its holdout and stored beside model.onnx."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sluice.app.ports import Artifacts
from sluice.domain.monitoring.estimation.basis import ESTIMATION_FILE, LOSS_ARTIFACTS, LOSS_MODELS
from sluice.domain.registry.records import Artifact

if TYPE_CHECKING:  # numpy: RegisterFunction imports this module without the training layer
    from sluice.domain.data.table import RawTable
    from sluice.domain.spec.model_spec import ModelSpec

logger = logging.getLogger(__name__)


def store_estimation(
    artifacts: Artifacts, prefix: str, spec: ModelSpec, onnx_model: bytes, holdout: RawTable, version: int
) -> dict[str, Artifact]:
    """Learn the estimation basis of `onnx_model` on the labelled `holdout` (CBPE's calibration for a
    classifier, DLE's loss models for a regressor) and store it under `prefix`: estimation.json, and
    loss_mae.onnx and loss_rmse.onnx for a regressor. Returns the version's new artifacts by key
    (`estimation`, `loss_mae`, `loss_rmse`); none when the holdout is too small to learn from."""
    from sluice.domain.monitoring.estimation.fit import fit_estimation

    fitted = fit_estimation(spec, onnx_model, holdout, version=str(version))
    if fitted is None:
        logger.info("no performance estimation: holdout too small", extra={"rows": holdout.n_rows})
        return {}
    stored = {
        "estimation": artifacts.put_json(prefix + ESTIMATION_FILE, fitted.basis.model_dump(mode="json"))
    }
    for metric, model in fitted.loss_models.items():
        stored[LOSS_ARTIFACTS[metric]] = artifacts.put_bytes(prefix + LOSS_MODELS[metric], model)
    return stored
