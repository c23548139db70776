"""What the drift check needs to estimate a version's performance without labels (estimation.json,
stored with the version at training), and what an estimate is."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ESTIMATION_FILE = "estimation.json"
LOSS_MODELS = {"mae": "loss_mae.onnx", "rmse": "loss_rmse.onnx"}  # DLE: metric → its loss model's file
LOSS_ARTIFACTS = {"mae": "loss_mae", "rmse": "loss_rmse"}  # and its key among the version's artifacts
PREDICTION_INPUT = "_prediction"  # the loss models' input holding the model's prediction
SAMPLING_ERROR_RANGE = 3  # a band is the estimate ± this many sampling errors (NannyML's)
CLASSIFIER_METRICS = ("roc_auc", "accuracy", "f1", "precision", "recall")
REGRESSOR_METRICS = ("mae", "rmse")
MIN_ESTIMATE_ROWS = 30  # fewer captured rows than this are too few to say the estimate broke a gate


class Calibration(BaseModel):
    """An isotonic calibration of one class's probability, as the points of its step function
    (scikit-learn's IsotonicRegression `X_thresholds_`, `y_thresholds_`): linear between them,
    clipped outside them."""

    x: list[float]
    y: list[float]


class EstimationBasis(BaseModel):
    """estimation.json. `cbpe` (classifiers): `classes` in the model's column order, one calibration
    per column (binary: the positive column, classes[1], only; None where calibrating did not lower
    the calibration error, as NannyML decides), and the sampling-error components NannyML derives
    from the reference (here the holdout with labels), per metric: binary (std, fraction) — accuracy
    (std,) — multiclass a (variance, fraction) per class. `dle` (regressors): the sampling-error
    components of mae (std,) and rmse (std, mean) of the holdout's errors; the loss models are
    artifacts of their own (`LOSS_ARTIFACTS`)."""

    method: Literal["cbpe", "dle"]
    task: str
    reference_rows: int
    classes: list[Any] | None = None
    calibration: list[Calibration | None] = Field(default_factory=list)
    sampling: dict[str, list[Any]] = Field(default_factory=dict)


class PerformanceEstimate(BaseModel):
    """A version's performance on a window's captured rows, estimated without labels: each metric's
    value, its sampling error and band ([low, high] = value ± 3 sampling errors, within the metric's
    range), how many rows, and how the spec's primary metric stands against its gate (`below_gate`:
    worse than the gate on at least MIN_ESTIMATE_ROWS rows; `gate` None when the primary metric is
    not estimated or has no gate)."""

    method: Literal["cbpe", "dle"]
    values: dict[str, float]
    sampling_error: dict[str, float]
    band: dict[str, tuple[float, float]]
    rows: int
    primary: str | None = None
    gate: str | None = None
    limit: float | None = None
    below_gate: bool = False

    def document(self) -> dict[str, Any]:
        """The report's `estimated`: each metric by name, `rows`, `band` ({metric: [low, high]}),
        `sampling_error`, `method` and the gate's verdict on the primary metric."""
        return {
            **self.values,
            "rows": self.rows,
            "band": {name: [low, high] for name, (low, high) in self.band.items()},
            "sampling_error": self.sampling_error,
            "method": self.method,
            "primary": self.primary,
            "gate": self.gate,
            "limit": self.limit,
            "below_gate": self.below_gate,
        }


class Estimation(BaseModel):
    """The drift check's estimate, or why there is none (a version trained before estimation
    existed, no captured row it can use)."""

    estimate: PerformanceEstimate | None = None
    unavailable: str | None = None
