"""Learning the estimation basis at training, on the holdout scored by the exported ONNX model (what
serving answers): for a classifier, NannyML's isotonic calibration of each class's probability (kept
only where it lowers the expected calibration error in NannyML's cross-validated check) and its
sampling-error components; for a regressor, DLE's two loss models (scikit-learn's
HistGradientBoostingRegressor where NannyML uses LightGBM, exported to ONNX) and its sampling-error
components."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.estimation.basis import (
    PREDICTION_INPUT,
    Calibration,
    EstimationBasis,
)
from sluice.domain.monitoring.estimation.dle import loss_inputs
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.spec.model_spec import ModelSpec
from sluice.domain.training.pipeline import target_array

Floats = npt.NDArray[np.float64]
MIN_REFERENCE_ROWS = 20  # a holdout smaller than this teaches no calibration and no loss model
LOSS_TARGET = "_loss"
CALIBRATION_SPLITS, CALIBRATION_BINS, CALIBRATION_SEED = 10, 10, 42  # NannyML's needs_calibration


@dataclass(frozen=True)
class FittedEstimation:
    """estimation.json's content and, for a regressor, its loss models (ONNX bytes by metric)."""

    basis: EstimationBasis
    loss_models: dict[str, bytes] = field(default_factory=dict)


def fit_estimation(
    spec: ModelSpec, onnx_model: bytes, holdout: RawTable, *, version: str
) -> FittedEstimation | None:
    """The basis the drift check estimates `onnx_model`'s performance from, learnt on the labelled
    `holdout`; None when the holdout has fewer than MIN_REFERENCE_ROWS rows or the model names no
    classes."""
    if holdout.n_rows < MIN_REFERENCE_ROWS:
        return None
    model = OnnxModel(onnx_model)
    outputs = model.run_table(holdout)
    truth = target_array(spec, holdout)
    if spec.task.is_classification:
        assert outputs.probabilities is not None and outputs.labels is not None
        if model.classes is None:
            return None
        return FittedEstimation(
            _cbpe_basis(spec, model.classes, truth, outputs.probabilities, outputs.labels)
        )
    assert outputs.values is not None
    return _dle(spec, holdout, truth.astype(np.float64), outputs.values.astype(np.float64), version)


def _cbpe_basis(
    spec: ModelSpec, classes: list[Any], truth: npt.NDArray[Any], probabilities: Any, labels: Any
) -> EstimationBasis:
    names = [str(c) for c in classes]
    keep = np.asarray([str(t) in names for t in truth])
    y = np.asarray([names.index(str(t)) for t in truth[keep]], dtype=np.int64)
    predicted = np.asarray([names.index(str(p)) for p in labels[keep]], dtype=np.int64)
    table = np.asarray(probabilities, dtype=np.float64)[keep]
    table = table / np.clip(table.sum(axis=1, keepdims=True), 1e-12, None)
    columns = [1] if len(names) == 2 else list(range(len(names)))
    calibration = [_calibration(y == c, table[:, c]) for c in columns]
    sampling: dict[str, list[Any]] = {"accuracy": [float(np.std(y == predicted))]}
    if len(names) == 2:
        pairs = {
            "roc_auc": _auroc_components(y == 1, table[:, 1]),
            **_count_components(y == 1, predicted == 1, variance=False),
        }
        sampling |= {m: list(p) for m, p in pairs.items() if all(math.isfinite(v) for v in p)}
    else:
        per_class = [
            {"roc_auc": _auroc_components(y == c, table[:, c], variance=True)}
            | _count_components(y == c, predicted == c, variance=True)
            for c in range(len(names))
        ]
        for metric in ("roc_auc", "f1", "precision", "recall"):
            parts = [[float(v) for v in cls[metric]] for cls in per_class]
            if all(math.isfinite(v) for part in parts for v in part):
                sampling[metric] = parts
    return EstimationBasis(
        method="cbpe",
        task=spec.task.value,
        reference_rows=len(y),
        classes=list(classes),
        calibration=calibration,
        sampling=sampling,
    )


def _calibration(truth: npt.NDArray[np.bool_], probabilities: Floats) -> Calibration | None:
    """An isotonic calibration, when NannyML's check says it helps (else None)."""
    from sklearn.isotonic import IsotonicRegression

    if not _needs_calibration(truth.astype(np.int64), probabilities):
        return None
    fitted = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(probabilities, truth.astype(float))
    return Calibration(x=fitted.X_thresholds_.tolist(), y=fitted.y_thresholds_.tolist())


def _needs_calibration(truth: npt.NDArray[np.int64], probabilities: Floats) -> bool:
    """NannyML's `needs_calibration`: not for one class or a near-perfect ranking; else whether, over
    10 stratified 90/10 splits, isotonic calibration lowers the expected calibration error (10 bins of
    equal count) of the pooled test parts."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedShuffleSplit

    if len(np.unique(truth)) == 1 or roc_auc_score(truth, probabilities) > 0.999:
        return False
    splits = StratifiedShuffleSplit(n_splits=CALIBRATION_SPLITS, test_size=0.1, random_state=CALIBRATION_SEED)
    tested, before, after = [], [], []
    for train, test in splits.split(probabilities, truth):
        regressor = IsotonicRegression(out_of_bounds="clip", increasing=True)
        regressor.fit(probabilities[train], truth[train])
        tested.append(truth[test])
        before.append(probabilities[test])
        after.append(regressor.predict(probabilities[test]))
    y = np.concatenate(tested)
    return _ece(y, np.concatenate(before)) > _ece(y, np.concatenate(after))


def _ece(truth: npt.NDArray[np.int64], probabilities: Floats) -> float:
    length = len(probabilities)
    bins = CALIBRATION_BINS if length > 2 * CALIBRATION_BINS else max(length // 2, 1)
    width = length // bins
    edges = np.asarray(range(0, length + 1, width))
    edges[-1] = length
    order = probabilities.argsort()
    p, y = probabilities[order], truth[order]
    return float(
        sum(
            (right - left) / length * abs(np.mean(p[left:right]) - np.mean(y[left:right]))
            for left, right in pairwise(edges)
        )
    )


def _auroc_components(
    truth: npt.NDArray[np.bool_], probabilities: Floats, *, variance: bool = False
) -> tuple[float, float]:
    """NannyML's ROC AUC components: the spread of each positive's share of negatives ranked below it
    (of the minority class), and the minority's fraction."""
    y = truth.astype(np.int64)
    p = probabilities
    if np.mean(y) > 0.5:
        y, p = 1 - y, 1 - p
    order = np.argsort(p)
    y = y[order]
    ranks = np.unique(y * np.arange(len(y)))[1:]
    positives, negatives = int(y.sum()), len(y) - int(y.sum())
    if negatives == 0 or positives == 0:
        return float("nan"), 0.0
    shares = (ranks - np.arange(len(ranks))) / negatives
    spread = float(np.var(shares)) if variance else float(np.std(shares))
    return spread, positives / len(y)


def _count_components(
    truth: npt.NDArray[np.bool_], predicted: npt.NDArray[np.bool_], *, variance: bool
) -> dict[str, tuple[float, float]]:
    """NannyML's F1, precision and recall components: the spread of each relevant row's 1 (a true
    positive) or 0, and the share of rows that are relevant. Binary F1 scales the ones and zeros by
    NannyML's correcting factor; multiclass uses variances."""
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    n = len(truth)
    spread = np.var if variance else np.std

    def part(values: Floats, fraction: float) -> tuple[float, float]:
        return (float(spread(values)) if len(values) else float("nan")), fraction

    f1_rows = np.concatenate([np.ones(tp), np.zeros(fn + fp)])
    if not variance and len(f1_rows):
        f1_rows = f1_rows * len(f1_rows) / ((fn + fp) * 0.5 + tp)
    return {
        "f1": part(f1_rows, len(f1_rows) / n),
        "precision": part(np.concatenate([np.ones(tp), np.zeros(fp)]), (tp + fp) / n),
        "recall": part(np.concatenate([np.ones(tp), np.zeros(fn)]), float(np.sum(truth)) / n),
    }


def _dle(
    spec: ModelSpec, holdout: RawTable, truth: Floats, predicted: Floats, version: str
) -> FittedEstimation:
    from sluice.domain.training.export import export_onnx
    from sluice.domain.training.pipeline import fit_pipeline

    errors = truth - predicted
    squared = errors**2
    loss_spec = _loss_spec(spec)
    features = RawTable(
        source=holdout.source,
        header=list(spec.feature_names),
        columns={name: holdout.columns[name] for name in spec.feature_names},
    )
    table = loss_inputs(features, predicted.tolist())
    models = {}
    for metric, loss in (("mae", np.abs(errors)), ("rmse", squared)):
        rows = RawTable(
            source=table.source,
            header=[*table.header, LOSS_TARGET],
            columns={**table.columns, LOSS_TARGET: [f"{v:.17g}" for v in loss]},
        )
        pipeline = fit_pipeline(loss_spec, rows)
        models[metric] = export_onnx(pipeline, loss_spec, version=f"{version}-loss-{metric}")
    basis = EstimationBasis(
        method="dle",
        task=spec.task.value,
        reference_rows=len(truth),
        sampling={
            "mae": [float(np.std(np.abs(errors)))],
            "rmse": [float(np.std(squared)), float(np.mean(squared))],
        },
    )
    return FittedEstimation(basis, models)


def _loss_spec(spec: ModelSpec) -> ModelSpec:
    """The spec of a loss model: the model's features and its prediction in, a row's loss out, boosted
    trees (NannyML's LightGBM defaults — 100 trees of 31 leaves, learning rate 0.1 — are
    HistGradientBoostingRegressor's too)."""
    features = [f.model_dump(mode="json", exclude_none=True) for f in spec.features]
    return ModelSpec.model_validate(
        {
            "name": spec.name,
            "task": "regression",
            "target": LOSS_TARGET,
            "features": [*features, {"name": PREDICTION_INPUT, "type": "numeric", "nullable": True}],
            "algorithm": {"name": "hist_gradient_boosting"},
            "metric": "mae",
        }
    )
