"""Confidence-based performance estimation (CBPE, NannyML 0.13) in the drift check: the captured
probabilities, calibrated as learnt at training, are the chance each row belongs to each class, so
summing them gives the expected confusion matrix of the window, and from it each metric. Binary: the
positive class is classes[1]; multiclass: each metric one-vs-rest per class, then their mean (macro),
accuracy the mean calibrated probability of the class predicted. numpy only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sluice.domain.monitoring.estimation.basis import (
    SAMPLING_ERROR_RANGE,
    Calibration,
    EstimationBasis,
    PerformanceEstimate,
)

Floats = npt.NDArray[np.float64]
MULTICLASS_AUROC_FACTOR = 1.2  # NannyML widens the multiclass ROC AUC sampling error by this


def calibrate(calibration: Calibration | None, probabilities: Floats) -> Floats:
    """One class's probabilities through its isotonic calibration (unchanged without one)."""
    if calibration is None:
        return probabilities
    return np.interp(probabilities, np.asarray(calibration.x), np.asarray(calibration.y))


def calibrated_table(basis: EstimationBasis, probabilities: Floats) -> Floats:
    """The (n, k) probabilities calibrated: binary, P(classes[1]) calibrated and P(classes[0]) its
    complement; multiclass, each column calibrated, then each row rescaled to sum to one (uniform
    where every calibrated probability is zero), as NannyML does."""
    if probabilities.shape[1] == 2:
        positive = calibrate(basis.calibration[0] if basis.calibration else None, probabilities[:, 1])
        return np.column_stack([1 - positive, positive])
    columns = [
        calibrate(basis.calibration[i] if i < len(basis.calibration) else None, probabilities[:, i])
        for i in range(probabilities.shape[1])
    ]
    table = np.column_stack(columns)
    total = table.sum(axis=1, keepdims=True)
    uniform = np.full_like(table, 1 / table.shape[1])
    return np.divide(table, total, out=uniform, where=total != 0)


def estimate_roc_auc(calibrated: Floats, uncalibrated: Floats) -> float:
    """ROC AUC expected from calibrated probabilities, the rows ranked by the model's own scores."""
    order = np.argsort(uncalibrated, kind="stable")[::-1]
    expected = calibrated[order]
    cumulative = np.cumsum(expected)
    tps: Floats = np.round(np.concatenate([[0.0], cumulative]), 5)
    fps: Floats = np.round(np.concatenate([[0.0], 1 + np.arange(len(expected)) - cumulative]), 5)
    if tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan")
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def _expected_counts(predicted: npt.NDArray[np.bool_], positive: Floats) -> tuple[float, float, float, float]:
    """Expected true positives, false positives, false negatives, true negatives."""
    tp = float(np.sum(np.where(predicted, positive, 0)))
    fp = float(np.sum(np.where(predicted, 1 - positive, 0)))
    fn = float(np.sum(np.where(~predicted, positive, 0)))
    tn = float(np.sum(np.where(~predicted, 1 - positive, 0)))
    return tp, fp, fn, tn


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else 0.0


def one_vs_rest(predicted: npt.NDArray[np.bool_], positive: Floats, uncalibrated: Floats) -> dict[str, float]:
    """Binary estimates for one class against the rest: `predicted` where the model answered it,
    `positive` its calibrated probability, `uncalibrated` the model's own."""
    tp, fp, fn, tn = _expected_counts(predicted, positive)
    return {
        "roc_auc": estimate_roc_auc(positive, uncalibrated),
        "accuracy": (tp + tn) / len(positive),
        "f1": _ratio(tp, tp + 0.5 * (fp + fn)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def sampling_errors(basis: EstimationBasis, rows: int) -> dict[str, float]:
    """Each metric's sampling error on `rows` rows from the reference's components (NannyML's):
    binary std / sqrt(rows · fraction), accuracy std / sqrt(rows); multiclass sqrt(Σ variance /
    (rows · fraction)) / classes (×1.2 for ROC AUC)."""
    errors: dict[str, float] = {}
    binary = basis.task == "binary"
    for metric, components in basis.sampling.items():
        if metric == "accuracy":
            errors[metric] = float(components[0]) / np.sqrt(rows)
        elif binary:
            std, fraction = components
            errors[metric] = float(std) / np.sqrt(rows * fraction) if fraction else float("nan")
        else:
            variances = [v / (rows * f) if f else float("nan") for v, f in components]
            error = float(np.sqrt(np.sum(variances)) / len(variances))
            errors[metric] = error * MULTICLASS_AUROC_FACTOR if metric == "roc_auc" else error
    return errors


def estimate_classifier(
    basis: EstimationBasis, probabilities: Floats, predicted: npt.NDArray[np.int64]
) -> PerformanceEstimate:
    """CBPE over n rows: `probabilities` (n, k) in the basis's class order (normalised to sum to one),
    `predicted` each row's answered class as its column. Each band is clipped to [0, 1]."""
    calibrated = calibrated_table(basis, probabilities)
    if probabilities.shape[1] == 2:
        values = one_vs_rest(predicted == 1, calibrated[:, 1], probabilities[:, 1])
    else:
        per_class = [
            one_vs_rest(predicted == c, calibrated[:, c], probabilities[:, c])
            for c in range(probabilities.shape[1])
        ]
        values = {name: float(np.mean([m[name] for m in per_class])) for name in per_class[0]}
        values["accuracy"] = float(np.mean(calibrated[np.arange(len(predicted)), predicted]))
    return _with_bands("cbpe", values, sampling_errors(basis, len(predicted)), len(predicted), 1.0)


def _with_bands(
    method: str, values: Mapping[str, float], errors: Mapping[str, float], rows: int, upper: float | None
) -> PerformanceEstimate:
    shown = {k: float(v) for k, v in values.items() if np.isfinite(v)}
    band = {
        name: (
            max(0.0, value - SAMPLING_ERROR_RANGE * errors[name]),
            value + SAMPLING_ERROR_RANGE * errors[name]
            if upper is None
            else min(upper, value + SAMPLING_ERROR_RANGE * errors[name]),
        )
        for name, value in shown.items()
        if np.isfinite(errors.get(name, float("nan")))
    }
    return PerformanceEstimate.model_validate(
        {
            "method": method,
            "values": shown,
            "sampling_error": {k: float(errors[k]) for k in band},
            "band": band,
            "rows": rows,
        }
    )


def classifier_rows(
    basis: EstimationBasis, records: Sequence[Mapping[str, Any]]
) -> tuple[Floats, npt.NDArray[np.int64]] | None:
    """The captured rows CBPE can use, as (probabilities, predicted column): those with one probability
    per class of the basis (in the record's `classes` order when it has them, else the model's) and
    a prediction among the classes. None when no row qualifies."""
    classes = [str(c) for c in basis.classes or []]
    table: list[list[float]] = []
    predicted: list[int] = []
    for record in records:
        outputs = record.get("outputs") or {}
        row = outputs.get("probabilities")
        if not row or len(row) != len(classes):
            continue
        order = [str(c) for c in outputs.get("classes") or classes]
        if sorted(order) != sorted(classes) or str(outputs.get("prediction")) not in classes:
            continue
        by_class = dict(zip(order, (float(p) for p in row), strict=True))
        total = sum(by_class.values())
        if total <= 0:
            continue
        table.append([by_class[c] / total for c in classes])
        predicted.append(classes.index(str(outputs["prediction"])))
    if not table:
        return None
    return np.asarray(table, dtype=np.float64), np.asarray(predicted, dtype=np.int64)
