"""Direct loss estimation (DLE, NannyML 0.13) in the drift check: a regressor's loss models, learnt at
training on its holdout (features and prediction → that row's absolute error, and its squared error),
predict each captured row's error; their mean is the window's MAE, the root of the mean of the squared
ones its RMSE. The loss models are ONNX, run with ONNX Runtime like the model itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.estimation.basis import PREDICTION_INPUT, EstimationBasis, PerformanceEstimate
from sluice.domain.monitoring.estimation.cbpe import _with_bands


def loss_inputs(table: RawTable, predictions: Sequence[Any]) -> RawTable:
    """The captured inputs with each row's prediction beside them, as the loss models read them."""
    cells = ["" if p is None else f"{float(p):.9g}" for p in predictions]
    return RawTable(
        source=table.source,
        header=[*table.header, PREDICTION_INPUT],
        columns={**table.columns, PREDICTION_INPUT: cells},
    )


def dle_sampling_errors(basis: EstimationBasis, rows: int) -> dict[str, float]:
    """NannyML's: MAE std / sqrt(rows); RMSE sqrt(std² / (4 · rows · mean)) of the reference's
    squared errors."""
    errors: dict[str, float] = {}
    if "mae" in basis.sampling:
        errors["mae"] = float(basis.sampling["mae"][0]) / np.sqrt(rows)
    if "rmse" in basis.sampling:
        std, mean = (float(v) for v in basis.sampling["rmse"])
        errors["rmse"] = float(np.sqrt(std**2 / (4 * rows * mean))) if mean > 0 else 0.0
    return errors


def estimate_regressor(basis: EstimationBasis, losses: Mapping[str, Sequence[float]]) -> PerformanceEstimate:
    """DLE from each row's predicted loss by metric (`mae`: absolute errors, `rmse`: squared errors),
    negative predictions taken as zero. Bands are never below zero."""
    values: dict[str, float] = {}
    rows = 0
    for metric, predicted in losses.items():
        clipped = np.maximum(0.0, np.asarray(predicted, dtype=np.float64))
        rows = len(clipped)
        mean = float(np.mean(clipped))
        values[metric] = float(np.sqrt(mean)) if metric == "rmse" else mean
    return _with_bands("dle", values, dle_sampling_errors(basis, rows), rows, None)
