"""A window's captured traffic estimated without labels: CBPE for a classifier, DLE for a regressor,
from the basis stored with the version; the spec's primary metric judged against its gate."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluice.domain.monitoring.estimation.basis import Estimation, EstimationBasis
from sluice.domain.monitoring.estimation.cbpe import classifier_rows, estimate_classifier
from sluice.domain.monitoring.estimation.dle import estimate_regressor, loss_inputs
from sluice.domain.monitoring.estimation.notes import judged
from sluice.domain.spec.model_spec import ModelSpec

CapturedRecord = Mapping[str, Any]


@dataclass(frozen=True)
class Estimator:
    """What a version stored to be estimated: estimation.json and, for a regressor, its loss models
    (ONNX bytes by metric)."""

    basis: EstimationBasis
    loss_models: dict[str, bytes] = field(default_factory=dict)


def not_estimable(version: int) -> Estimation:
    """Why a version without an estimation basis has no estimate."""
    return Estimation(
        unavailable=f"v{version} was trained before Sluice estimated performance without labels "
        "(it has no estimation.json); its next retraining will have one"
    )


def estimate_window(spec: ModelSpec, estimator: Estimator, records: Sequence[CapturedRecord]) -> Estimation:
    """The performance `estimator` expects on `records` (the window's captured rows of its version),
    with bands and the gate's verdict; unavailable, saying why, when no row can be used."""
    if not records:
        return Estimation(unavailable="no captured rows in the window")
    if spec.task.is_classification:
        rows = classifier_rows(estimator.basis, records)
        if rows is None:
            return Estimation(unavailable="no captured row carries the model's probabilities for its classes")
        return Estimation(estimate=judged(spec, estimate_classifier(estimator.basis, *rows)))
    from sluice.domain.monitoring.drift.live import captured_inputs
    from sluice.domain.scoring.onnx_model import OnnxModel

    usable = [r for r in records if _is_number((r.get("outputs") or {}).get("prediction"))]
    if not usable or not estimator.loss_models:
        return Estimation(unavailable="no captured row carries a prediction")
    inputs = loss_inputs(
        captured_inputs(usable, spec.feature_names, f"capture/{spec.name}"),
        [r["outputs"]["prediction"] for r in usable],
    )
    losses = {
        metric: OnnxModel(model).run_table(inputs).values.tolist()  # type: ignore[union-attr]
        for metric, model in estimator.loss_models.items()
    }
    return Estimation(estimate=judged(spec, estimate_regressor(estimator.basis, losses)))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
