"""Evaluation of an exported model on a holdout, computed from the ONNX model's own outputs, and the
promotion gates that compare a challenger with the champion on that same holdout."""

from __future__ import annotations

import math
import statistics
import time
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field
from sklearn import metrics as skm

from sluice.domain.data.features import Feed, feed_from_table
from sluice.domain.data.table import RawTable, is_missing
from sluice.domain.scoring.onnx_model import ModelOutputs, OnnxModel
from sluice.domain.spec.model_spec import Metric, ModelSpec, Task
from sluice.domain.training.pipeline import SEED, target_array

LATENCY_RUNS = 200
IMPORTANCE_REPEATS = 3
MISSING_GROUP = "(missing)"


class ConfusionMatrix(BaseModel):
    labels: list[str]
    matrix: list[list[int]] = Field(description="rows: true label, columns: predicted label")


class GroupMetrics(BaseModel):
    rows: int
    metric: float | None
    selection_rate: float | None = Field(default=None, description="share predicted positive (binary)")
    true_positive_rate: float | None = None


class Fairness(BaseModel):
    attribute: str
    demographic_parity_gap: float | None
    equal_opportunity_gap: float | None


class Importance(BaseModel):
    mean: float
    std: float


class Evaluation(BaseModel):
    """Scores of one model on one holdout."""

    task: Task
    metric: Metric
    rows: int
    metrics: dict[str, float | None]
    confusion_matrix: ConfusionMatrix | None = None
    groups: dict[str, GroupMetrics] | None = None
    fairness: Fairness | None = None
    importance: dict[str, Importance] = Field(default_factory=dict)
    # mean |Shapley value| per feature on a capped holdout sample (domain/explain/summary.py)
    mean_abs_contributions: dict[str, float] = Field(default_factory=dict)
    latency_ms_single_row: float | None = None
    model_size_bytes: int
    model_sha256: str

    @property
    def primary(self) -> float | None:
        return self.metrics.get(self.metric.value)


class GateCheck(BaseModel):
    gate: str
    value: float | None
    limit: float
    passed: bool


class GateFailure(BaseModel):
    gate: str
    value: float | None
    limit: float


class GateResult(BaseModel):
    passed: bool
    checks: list[GateCheck]
    failed: list[GateFailure]
    champion_metric: float | None = None
    challenger_metric: float | None = None

    @property
    def reason(self) -> str | None:
        if self.passed:
            return None
        return "; ".join(f"{f.gate}: {f.value} vs limit {f.limit}" for f in self.failed)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _safe(metric: Any, *args: Any, **kwargs: Any) -> float | None:
    """A metric that may be undefined on this holdout (e.g. one class only) is None, not an error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _finite(float(metric(*args, **kwargs)))
    except ValueError:
        return None


def _classes(model: OnnxModel, outputs: ModelOutputs) -> list[Any]:
    if model.classes is not None:
        return model.classes
    assert outputs.probabilities is not None
    return list(range(outputs.probabilities.shape[1]))


def score(
    task: Task, y: npt.NDArray[Any], outputs: ModelOutputs, classes: list[Any]
) -> dict[str, float | None]:
    """Task metrics for predictions against the truth."""
    if task is Task.REGRESSION:
        assert outputs.values is not None
        predicted = outputs.values.astype(np.float64)
        return {
            "rmse": _safe(lambda: math.sqrt(skm.mean_squared_error(y, predicted))),
            "mae": _safe(skm.mean_absolute_error, y, predicted),
            "r2": _safe(skm.r2_score, y, predicted),
        }
    assert outputs.probabilities is not None and outputs.labels is not None
    probabilities = outputs.probabilities.astype(np.float64)
    probabilities = probabilities / np.clip(probabilities.sum(axis=1, keepdims=True), 1e-12, None)
    labels = outputs.labels
    y_typed = np.asarray(y).astype(np.asarray(classes).dtype)
    onehot = (y_typed.reshape(-1, 1) == np.asarray(classes).reshape(1, -1)).astype(np.float64)
    if task is Task.BINARY:
        return {
            "roc_auc": _safe(skm.roc_auc_score, y_typed, probabilities[:, 1]),
            "accuracy": _safe(skm.accuracy_score, y_typed, labels),
            "f1": _safe(skm.f1_score, y_typed, labels, pos_label=classes[1]),
            "log_loss": _safe(skm.log_loss, y_typed, probabilities, labels=classes),
            "brier": _safe(skm.brier_score_loss, y_typed, probabilities[:, 1], pos_label=classes[1]),
        }
    return {
        "roc_auc": _safe(skm.roc_auc_score, y_typed, probabilities, multi_class="ovr", labels=classes),
        "accuracy": _safe(skm.accuracy_score, y_typed, labels),
        "f1": _safe(skm.f1_score, y_typed, labels, average="macro"),
        "log_loss": _safe(skm.log_loss, y_typed, probabilities, labels=classes),
        "brier": _safe(lambda: float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))),
    }


def _run_subset(outputs: ModelOutputs, rows: npt.NDArray[np.bool_]) -> ModelOutputs:
    return ModelOutputs(
        labels=None if outputs.labels is None else outputs.labels[rows],
        probabilities=None if outputs.probabilities is None else outputs.probabilities[rows],
        values=None if outputs.values is None else outputs.values[rows],
    )


def sensitive_groups(spec: ModelSpec, table: RawTable) -> npt.NDArray[np.object_] | None:
    """Each row's group of the spec's sensitive column (stripped; a missing cell is MISSING_GROUP, a
    group of its own), None when the spec names none or the table lacks the column."""
    if spec.sensitive is None or spec.sensitive not in table.columns:
        return None
    return np.array(
        [MISSING_GROUP if is_missing(c) else c.strip() for c in table.columns[spec.sensitive]], dtype=object
    )


def group_fairness(
    spec: ModelSpec, holdout: RawTable, y: npt.NDArray[Any], outputs: ModelOutputs, classes: list[Any]
) -> tuple[dict[str, GroupMetrics], Fairness] | None:
    """Per-group metrics of a model's outputs on a holdout and the gaps across groups (demographic
    parity: selection rates, equal opportunity: true-positive rates; binary tasks), None without a
    sensitive column. Rows whose sensitive value is missing are listed as their own group but left out
    of the gaps: an unknown attribute is not a group (labelled traffic, which a retraining adds, never
    carries it, and would otherwise be judged as one)."""
    attribute = sensitive_groups(spec, holdout)
    if attribute is None or spec.sensitive is None:
        return None
    groups: dict[str, GroupMetrics] = {}
    for group in sorted(set(attribute)):
        rows = attribute == group
        subset = _run_subset(outputs, rows)
        selection = tpr = None
        if spec.task is Task.BINARY and subset.labels is not None:
            positive = subset.labels == classes[1]
            selection = float(positive.mean())
            actual = np.asarray(y[rows]).astype(np.asarray(classes).dtype) == classes[1]
            tpr = float(positive[actual].mean()) if actual.any() else None
        groups[str(group)] = GroupMetrics(
            rows=int(rows.sum()),
            metric=score(spec.task, y[rows], subset, classes).get(spec.metric.value),
            selection_rate=selection,
            true_positive_rate=tpr,
        )

    def gap(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return float(max(present) - min(present)) if len(present) >= 2 else None

    known = [g for name, g in groups.items() if name != MISSING_GROUP]
    fairness = Fairness(
        attribute=spec.sensitive,
        demographic_parity_gap=gap([g.selection_rate for g in known]),
        equal_opportunity_gap=gap([g.true_positive_rate for g in known]),
    )
    return groups, fairness


def _importance(
    model: OnnxModel,
    feed: Feed,
    spec: ModelSpec,
    y: npt.NDArray[Any],
    classes: list[Any],
    baseline: float | None,
) -> dict[str, Importance]:
    """Permutation importance on the primary metric: how much worse the model gets when one feature's
    values are shuffled (positive = the feature matters)."""
    if baseline is None or not feed:
        return {}
    rng = np.random.default_rng(SEED)
    sign = 1.0 if spec.metric.higher_is_better else -1.0
    result: dict[str, Importance] = {}
    for name in model.inputs:
        drops = []
        for _ in range(IMPORTANCE_REPEATS):
            shuffled = dict(feed)
            shuffled[name] = feed[name][rng.permutation(len(feed[name]))]
            value = score(spec.task, y, model.run(shuffled), classes).get(spec.metric.value)
            drops.append(sign * (baseline - value) if value is not None else 0.0)
        result[name] = Importance(mean=float(np.mean(drops)), std=float(np.std(drops)))
    return result


def single_row_latency_ms(model: OnnxModel, feed: Feed) -> float | None:
    """Median time ONNX Runtime takes to score the first row of `feed`, in ms (None without rows)."""
    if not feed or len(next(iter(feed.values()))) == 0:
        return None
    row = {name: values[:1] for name, values in feed.items()}
    model.run(row)  # warm-up
    timings = []
    for _ in range(LATENCY_RUNS):
        start = time.perf_counter()
        model.session.run(None, row)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def evaluate(onnx_model: bytes, spec: ModelSpec, holdout: RawTable, *, detailed: bool = True) -> Evaluation:
    """Score an ONNX model on a holdout. With `detailed`, also per-group metrics and fairness gaps,
    permutation importance and single-row latency (the champion is scored without them)."""
    model = OnnxModel(onnx_model)
    feed = feed_from_table(model.inputs, holdout)
    outputs = model.run(feed)
    y = target_array(spec, holdout)
    classes = _classes(model, outputs) if spec.task.is_classification else []
    metrics = score(spec.task, y, outputs, classes)
    confusion = None
    if spec.task.is_classification and outputs.labels is not None:
        matrix = skm.confusion_matrix(
            np.asarray(y).astype(np.asarray(classes).dtype), outputs.labels, labels=classes
        )
        confusion = ConfusionMatrix(labels=[str(c) for c in classes], matrix=matrix.tolist())
    evaluation = Evaluation(
        task=spec.task,
        metric=spec.metric,
        rows=holdout.n_rows,
        metrics=metrics,
        confusion_matrix=confusion,
        model_size_bytes=model.size_bytes,
        model_sha256=model.sha256,
    )
    grouped = group_fairness(spec, holdout, y, outputs, classes)
    if grouped is not None:
        evaluation.groups, evaluation.fairness = grouped
    if detailed:
        evaluation.importance = _importance(model, feed, spec, y, classes, metrics.get(spec.metric.value))
        evaluation.latency_ms_single_row = single_row_latency_ms(model, feed)
    return evaluation


def apply_gates(spec: ModelSpec, challenger: Evaluation, champion: Evaluation | None) -> GateResult:
    """Apply the spec's gates: absolute bounds on the primary metric, the largest regression allowed
    against the champion (0 when unset: a challenger must be at least as good), and the fairness gap."""
    gates = spec.gates
    value = challenger.primary
    checks: list[GateCheck] = []

    def check(gate: str, observed: float | None, limit: float, ok: bool) -> None:
        checks.append(GateCheck(gate=gate, value=observed, limit=limit, passed=observed is not None and ok))

    if gates.min_metric is not None:
        check("min_metric", value, gates.min_metric, value is not None and value >= gates.min_metric)
    if gates.max_metric is not None:
        check("max_metric", value, gates.max_metric, value is not None and value <= gates.max_metric)
    champion_value = champion.primary if champion is not None else None
    if champion is not None:
        limit = gates.max_regression or 0.0
        regression = None
        if value is not None and champion_value is not None:
            regression = (
                (champion_value - value) if spec.metric.higher_is_better else (value - champion_value)
            )
        check("max_regression", regression, limit, regression is not None and regression <= limit + 1e-12)
    if gates.max_fairness_gap is not None:
        gap = challenger.fairness.demographic_parity_gap if challenger.fairness else None
        check(
            "max_fairness_gap", gap, gates.max_fairness_gap, gap is not None and gap <= gates.max_fairness_gap
        )
    failed = [GateFailure(gate=c.gate, value=c.value, limit=c.limit) for c in checks if not c.passed]
    return GateResult(
        passed=not failed,
        checks=checks,
        failed=failed,
        champion_metric=champion_value,
        challenger_metric=value,
    )
