"""How a binary classifier decides and how a model is made fairer: the decision threshold chosen on the
training part, reweighing (Kamiran & Calders), and the fairness gaps before and after mitigation.

`fit_model` is THE fit stage (`sluice train` and the state machine's Train step): the pipeline, its
threshold, and the unmitigated model's fairness on the holdout (the "before" of `mitigation_report`).
One threshold decides for everyone: the sensitive attribute is never needed at serving time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from sluice.domain.data.table import RawTable
from sluice.domain.scoring.onnx_model import ModelOutputs
from sluice.domain.spec.model_spec import Mitigation, ModelSpec, ThresholdObjective
from sluice.domain.training.evaluation import Evaluation, group_fairness, score, sensitive_groups
from sluice.domain.training.pipeline import (
    SEED,
    HoldoutSplit,
    build_pipeline,
    fit_pipeline,
    model_matrix,
    target_array,
)
from sluice.errors import SpecError

DEFAULT_THRESHOLD = 0.5  # what scikit-learn's predict decides at for a binary classifier
# A probability this close below the threshold counts as at it, in scikit-learn (float64) and ONNX
# (float32) alike: a forest's probabilities are multiples of 1/n_estimators, and at `threshold: 0.3`
# without it, 1% of a forest's holdout rows sat exactly on 0.3 and fell on either side (parity failed).
THRESHOLD_TIE = 1e-6
Weights = npt.NDArray[np.float64]


class ThresholdChoice(BaseModel):
    """The decision threshold written into the ONNX model's `label` (1 when P(positive) ≥ value)."""

    value: float
    objective: str  # fixed | f1 | youden | cost | fairness (the mitigation's constrained choice)
    score: float | None = None  # the optimised objective's value at `value` on out-of-fold predictions
    rows: int = 0  # training rows it was chosen on (0 for a fixed threshold)
    equal_opportunity_gap: float | None = None  # across groups on those rows, when mitigating
    optimised: str | None = None  # f1 | youden | cost: what `score` measures (None when fixed)
    tolerance: float | None = None  # the equal-opportunity gap allowed (threshold mitigation)
    within_tolerance: bool | None = None  # whether some threshold met it (else: the smallest gap)
    note: str | None = None  # how it was chosen, in words


class FairnessSnapshot(BaseModel):
    """A model's fairness and primary metric on the holdout."""

    demographic_parity_gap: float | None
    equal_opportunity_gap: float | None
    metric: float | None


class MitigationReport(BaseModel):
    """What mitigation changed, on the same holdout: the unmitigated model (no reweighing, threshold
    chosen without the fairness constraint) against the mitigated one the gates judge."""

    mitigation: str  # reweighing | threshold
    attribute: str
    before: FairnessSnapshot
    after: FairnessSnapshot
    metric_cost: float | None  # how much worse the primary metric got (in its units; negative: better)


def decide(pipeline: Pipeline, matrix: npt.NDArray[np.object_], threshold: float | None) -> npt.NDArray[Any]:
    """The labels a fitted classifier gives: classes[1] where P(classes[1]) ≥ `threshold` (within
    THRESHOLD_TIE, as the exported model decides), else classes[0] (binary); None: its own `predict`."""
    if threshold is None:
        return np.asarray(pipeline.predict(matrix))
    positive = pipeline.predict_proba(matrix)[:, 1] >= threshold - THRESHOLD_TIE
    return np.asarray(pipeline.classes_[positive.astype(np.intp)])


def reweighing_weights(spec: ModelSpec, train: RawTable) -> Weights | None:
    """Kamiran & Calders' weights, one per training row in order: w(g, y) = P(g)·P(y) / P(g, y) over
    the sensitive column's groups (a missing cell is a group of its own) and the labels, so label and
    group are independent in the weighted data. None unless the spec's mitigation is reweighing."""
    if spec.mitigation is not Mitigation.REWEIGHING:
        return None
    groups = sensitive_groups(spec, train)
    if groups is None:
        raise SpecError(f"fairness.mitigation: reweighing needs the sensitive column '{spec.sensitive}'")
    labels = target_array(spec, train).astype(str)
    _, group_index = np.unique(groups.astype(str), return_inverse=True)
    _, label_index = np.unique(labels, return_inverse=True)
    joint = np.zeros((group_index.max() + 1, label_index.max() + 1))
    np.add.at(joint, (group_index, label_index), 1.0)
    rows = float(len(labels))
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True) / rows
    return np.asarray(expected[group_index, label_index] / joint[group_index, label_index], dtype=np.float64)


def training_weights(spec: ModelSpec, train: RawTable, recent_weight: Weights | None) -> Weights | None:
    """The sample weight of each training row as the model is fitted: `recent_weight` (a retraining's,
    see `training.recent_weights`) × the reweighing weights (see `reweighing_weights`); None when
    neither applies."""
    reweighing = reweighing_weights(spec, train)
    if recent_weight is None or reweighing is None:
        return reweighing if recent_weight is None else recent_weight
    return recent_weight * reweighing


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold P(positive) of each training row, its truth and its sensitive group."""

    probability: npt.NDArray[np.float64]
    positive: npt.NDArray[np.bool_]
    groups: npt.NDArray[np.object_] | None


def out_of_fold(spec: ModelSpec, train: RawTable, sample_weight: Weights | None) -> OutOfFold:
    """P(positive) for each training row from a pipeline that never saw it: `spec.folds` stratified,
    shuffled folds (seeded), `build_pipeline(spec)` refitted per fold with the rows' weights (fewer
    folds when a class has fewer rows than that)."""
    matrix, y = model_matrix(spec, train), target_array(spec, train)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) != 2:
        raise SpecError(f"threshold: needs both classes in the training rows, found {len(classes)}")
    folds = min(spec.folds, int(counts.min()))
    probability = np.full(len(y), DEFAULT_THRESHOLD)
    if folds >= 2:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
        for fit_rows, held_rows in splitter.split(matrix, y):
            extra = {} if sample_weight is None else {"model__sample_weight": sample_weight[fit_rows]}
            pipeline = build_pipeline(spec).fit(matrix[fit_rows], y[fit_rows], **extra)
            probability[held_rows] = pipeline.predict_proba(matrix[held_rows])[:, 1]
    return OutOfFold(probability=probability, positive=y == classes[1], groups=sensitive_groups(spec, train))


def _at_or_above(
    scores: npt.NDArray[np.float64], thresholds: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """How many of `scores` are ≥ each threshold."""
    ordered = np.sort(scores)
    return len(ordered) - np.searchsorted(ordered, thresholds, side="left")


def _objective(
    objective: ThresholdObjective, spec: ModelSpec, oof: OutOfFold, thresholds: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The objective's value at each threshold, and a score where higher is better."""
    positives, negatives = int(oof.positive.sum()), int((~oof.positive).sum())
    tp = _at_or_above(oof.probability[oof.positive], thresholds).astype(np.float64)
    fp = _at_or_above(oof.probability[~oof.positive], thresholds).astype(np.float64)
    fn = positives - tp
    if objective is ThresholdObjective.F1:
        f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
        return f1, f1
    if objective is ThresholdObjective.YOUDEN:
        youden = tp / max(positives, 1) - fp / max(negatives, 1)
        return youden, youden
    costs = (spec.threshold.costs if not isinstance(spec.threshold, float) and spec.threshold else None) or {}
    cost = costs.get("false_positive", 0.0) * fp + costs.get("false_negative", 0.0) * fn
    return cost, -cost


def _equal_opportunity_gaps(oof: OutOfFold, thresholds: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """max − min true-positive rate across the groups with positives at each threshold (NaN with
    fewer than two such groups)."""
    if oof.groups is None:
        return np.full(len(thresholds), np.nan)
    rates = [
        _at_or_above(oof.probability[oof.positive & (oof.groups == group)], thresholds)
        / float((oof.positive & (oof.groups == group)).sum())
        for group in sorted(set(oof.groups[oof.positive]))
    ]
    if len(rates) < 2:
        return np.full(len(thresholds), np.nan)
    stacked = np.vstack(rates)
    return np.asarray(stacked.max(axis=0) - stacked.min(axis=0), dtype=np.float64)


def _objective_of(spec: ModelSpec) -> ThresholdObjective:
    if isinstance(spec.threshold, float) or spec.threshold is None:
        return ThresholdObjective.F1
    return spec.threshold.optimise


def best_threshold(spec: ModelSpec, oof: OutOfFold, *, constrained: bool) -> ThresholdChoice:
    """The threshold (a midpoint between consecutive distinct out-of-fold probabilities) with the
    best value of the spec's objective (f1 when unset); ties go to the one nearest 0.5. `constrained`
    (objective "fairness"): among those whose equal-opportunity gap is within `fairness.tolerance` only,
    or, when none is, the one with the smallest gap (the choice says so)."""
    distinct = np.unique(oof.probability)
    thresholds = (distinct[:-1] + distinct[1:]) / 2 if len(distinct) > 1 else np.array([DEFAULT_THRESHOLD])
    objective = _objective_of(spec)
    values, goodness = _objective(objective, spec, oof, thresholds)
    gaps = _equal_opportunity_gaps(oof, thresholds)
    nearness = np.abs(thresholds - DEFAULT_THRESHOLD)
    tolerance = spec.fairness.tolerance if spec.fairness else None
    within: bool | None = None
    note = f"best {objective.value} on {len(oof.probability)} out-of-fold training predictions"
    candidates = np.arange(len(thresholds))
    if constrained and tolerance is not None:
        qualifies = np.isnan(gaps) | (gaps <= tolerance + 1e-12)
        within = bool(qualifies.any())
        if within:
            candidates = np.flatnonzero(qualifies)
            note += f" among thresholds with an equal-opportunity gap ≤ {tolerance:g}"
        else:
            candidates = np.flatnonzero(gaps == np.nanmin(gaps))
            note = (
                f"no threshold brings the equal-opportunity gap within {tolerance:g} on the training rows; "
                f"the smallest gap ({np.nanmin(gaps):.3f}) was chosen, with the best {objective.value}"
            )
    # lexsort: the last key sorts first (best objective), then nearest to 0.5, then the lower threshold
    pick = candidates[np.lexsort((thresholds[candidates], nearness[candidates], -goodness[candidates]))[0]]
    gap = float(gaps[pick]) if not np.isnan(gaps[pick]) else None
    return ThresholdChoice(
        value=float(thresholds[pick]),
        objective="fairness" if constrained else objective.value,
        optimised=objective.value,
        score=float(values[pick]),
        rows=len(oof.probability),
        equal_opportunity_gap=gap,
        tolerance=tolerance if constrained else None,
        within_tolerance=within,
        note=note,
    )


def choose_threshold(
    spec: ModelSpec, train: RawTable, sample_weight: Weights | None
) -> ThresholdChoice | None:
    """The decision threshold for the spec, chosen on the training rows only (never the holdout).
    None when the spec sets none and does not mitigate by threshold (`label` stays scikit-learn's
    predict); a number is used as it is; otherwise `best_threshold` on out-of-fold predictions,
    constrained by the equal-opportunity tolerance under threshold mitigation."""
    if spec.threshold is None and spec.mitigation is not Mitigation.THRESHOLD:
        return None
    if isinstance(spec.threshold, float):
        return ThresholdChoice(value=spec.threshold, objective="fixed", note="set in the spec")
    oof = out_of_fold(spec, train, sample_weight)
    return best_threshold(spec, oof, constrained=spec.mitigation is Mitigation.THRESHOLD)


def fairness_snapshot(
    spec: ModelSpec, pipeline: Pipeline, holdout: RawTable, threshold: float | None
) -> FairnessSnapshot:
    """A fitted pipeline's gaps and primary metric on the holdout, from scikit-learn's outputs with
    its labels decided at `threshold` (see `decide`), computed as `evaluation.evaluate` does."""
    matrix = model_matrix(spec, holdout)
    outputs = ModelOutputs(
        labels=decide(pipeline, matrix, threshold),
        probabilities=np.asarray(pipeline.predict_proba(matrix), dtype=np.float32),
        values=None,
    )
    classes = list(pipeline.classes_)
    y = target_array(spec, holdout)
    grouped = group_fairness(spec, holdout, y, outputs, classes)
    fairness = grouped[1] if grouped else None
    return FairnessSnapshot(
        demographic_parity_gap=fairness.demographic_parity_gap if fairness else None,
        equal_opportunity_gap=fairness.equal_opportunity_gap if fairness else None,
        metric=score(spec.task, y, outputs, classes).get(spec.metric.value),
    )


@dataclass(frozen=True)
class FittedModel:
    """The fit stage's result: the pipeline to export, the threshold its ONNX `label` decides at
    (None: scikit-learn's predict) and, when mitigating, the unmitigated model's fairness on the
    holdout."""

    pipeline: Pipeline
    threshold: ThresholdChoice | None
    unmitigated: FairnessSnapshot | None


def fit_model(spec: ModelSpec, split: HoldoutSplit, recent_weight: Weights | None) -> FittedModel:
    """Fit the spec's pipeline on the training rows weighted by `recent_weight` × the reweighing
    weights (either may be None), choose its threshold on those rows, and, when the spec mitigates,
    measure the model without mitigation on the holdout: for reweighing the pipeline fitted without
    the reweighing weights (with its own threshold), for threshold mitigation this pipeline at the
    threshold chosen without the fairness constraint (0.5 when the spec sets none)."""
    weights = training_weights(spec, split.train, recent_weight)
    pipeline = fit_pipeline(spec, split.train, weights)
    unmitigated = None
    if spec.mitigation is Mitigation.THRESHOLD:
        oof = out_of_fold(spec, split.train, weights)
        threshold: ThresholdChoice | None = best_threshold(spec, oof, constrained=True)
        plain = best_threshold(spec, oof, constrained=False).value if spec.threshold is not None else None
        unmitigated = fairness_snapshot(spec, pipeline, split.holdout, plain)
    else:
        threshold = choose_threshold(spec, split.train, weights)
        if spec.mitigation is Mitigation.REWEIGHING:
            plain_pipeline = fit_pipeline(spec, split.train, recent_weight)
            plain_threshold = choose_threshold(spec, split.train, recent_weight)
            unmitigated = fairness_snapshot(
                spec, plain_pipeline, split.holdout, plain_threshold.value if plain_threshold else None
            )
    return FittedModel(pipeline=pipeline, threshold=threshold, unmitigated=unmitigated)


def mitigation_report(
    spec: ModelSpec, before: FairnessSnapshot, after: Evaluation
) -> MitigationReport | None:
    """The unmitigated model's gaps and metric (`before`, from `fit_model`) beside the mitigated model's
    evaluation on the same holdout, and what the metric cost. None when the spec does not mitigate."""
    if spec.mitigation is Mitigation.NONE or spec.sensitive is None:
        return None
    mitigated = FairnessSnapshot(
        demographic_parity_gap=after.fairness.demographic_parity_gap if after.fairness else None,
        equal_opportunity_gap=after.fairness.equal_opportunity_gap if after.fairness else None,
        metric=after.primary,
    )
    cost = None
    if before.metric is not None and mitigated.metric is not None:
        cost = before.metric - mitigated.metric
        if not spec.metric.higher_is_better:
            cost = -cost
    return MitigationReport(
        mitigation=spec.mitigation.value,
        attribute=spec.sensitive,
        before=before,
        after=mitigated,
        metric_cost=cost,
    )
