"""Multivariate drift: a domain classifier, a small model trained to tell the reference rows from the
current rows. When it can (its cross-validated ROC AUC is above a threshold), the data changed, even if
no column changed on its own: two columns whose relationship flipped keep their distributions, and only
a model of the columns together sees it. The columns it leans on most are named.

Cheap whatever the window: it learns from a seeded sample of each side (at most `MAX_ROWS_PER_SIDE`),
a histogram gradient boosting classifier of 20 shallow trees, in `FOLDS` folds: well under a second
for 20 columns, whatever the number of rows. scikit-learn is imported on first use: only DriftFunction
and `sluice drift` call this, never the inference bundle."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sluice.domain.monitoring.drift.columns import CategoricalColumn, Column, NumericalColumn
from sluice.domain.monitoring.drift.methods import FloatArray
from sluice.domain.monitoring.drift.report import MultivariateDrift, MultivariateRows

DEFAULT_THRESHOLD = 0.55
MAX_ROWS_PER_SIDE = 1_500
MIN_ROWS_PER_SIDE = 30  # fewer: no verdict (None), the per-column tests still run
FOLDS = 3
SEED = 20261207
# The ROC AUC must also stand this many standard errors above chance (0.5, with the sample's sizes):
# on a small window a threshold alone would alert on noise.
MIN_Z = 3.0
MAX_COLUMNS_NAMED = 5
# To be named, a column's shuffling must cost the ROC AUC this much, and this share of what the column
# costing the most costs: the few columns that matter, not every column a tree happened to split on.
MIN_IMPORTANCE = 0.01
MIN_SHARE_OF_TOP = 0.2


@dataclass(frozen=True)
class MultivariateSettings:
    """How the domain classifier judges: drift when its ROC AUC exceeds `threshold`."""

    threshold: float = DEFAULT_THRESHOLD
    max_rows_per_side: int = MAX_ROWS_PER_SIDE
    folds: int = FOLDS
    seed: int = SEED


def multivariate_settings(threshold: float | None) -> MultivariateSettings:
    """The settings for a spec's `drift.multivariate_threshold` (None: the default threshold)."""
    return MultivariateSettings(threshold=DEFAULT_THRESHOLD if threshold is None else threshold)


def domain_classifier_drift(
    reference: Mapping[str, Column],
    current: Mapping[str, Column],
    settings: MultivariateSettings | None = None,
) -> MultivariateDrift | None:
    """Whether a classifier tells `current` rows from `reference` rows over the columns of `reference`:
    drift when its cross-validated ROC AUC exceeds the threshold and stands `MIN_Z` standard errors
    above chance; the columns named are those whose shuffling costs it the most ROC AUC (computed on
    drift only). The same inputs give the same answer in any process (seeded sampling, folds and
    model). None when a side has fewer than `MIN_ROWS_PER_SIDE` rows or there are no columns."""
    settings = settings or MultivariateSettings()
    names = list(reference)
    n_reference = reference[names[0]].size if names else 0
    n_current = current[names[0]].size if names else 0
    if not names or min(n_reference, n_current) < max(MIN_ROWS_PER_SIDE, settings.folds):
        return None
    rng = np.random.default_rng(settings.seed)
    ref_rows = _sample(rng, n_reference, settings.max_rows_per_side)
    cur_rows = _sample(rng, n_current, settings.max_rows_per_side)
    features = np.column_stack(
        [_feature(reference[name], current[name], ref_rows, cur_rows) for name in names]
    )
    sides = np.concatenate([np.zeros(ref_rows.size), np.ones(cur_rows.size)])
    folds = _fit_folds(features, sides, settings)
    roc_auc = float(np.mean([fold.roc_auc for fold in folds]))
    chance_se = math.sqrt((ref_rows.size + cur_rows.size + 1) / (12.0 * ref_rows.size * cur_rows.size))
    drift = roc_auc > settings.threshold and (roc_auc - 0.5) / chance_se >= MIN_Z
    importance = _importance(folds, names, rng) if drift else {}
    return MultivariateDrift(
        drift=drift,
        roc_auc=round(roc_auc, 6),
        threshold=settings.threshold,
        columns=list(importance),
        importance=importance,
        rows=MultivariateRows(reference=int(ref_rows.size), current=int(cur_rows.size)),
        folds=settings.folds,
    )


@dataclass(frozen=True)
class _Fold:
    model: Any
    features: FloatArray  # the held-out rows
    sides: FloatArray
    roc_auc: float


def _fit_folds(features: FloatArray, sides: FloatArray, settings: MultivariateSettings) -> list[_Fold]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    splits = StratifiedKFold(n_splits=settings.folds, shuffle=True, random_state=settings.seed)
    folds = []
    # One thread: on a few thousand rows OpenMP's start-up costs more than it saves, and on busy cores
    # (a Lambda's, or a machine another job shares) its threads wait for each other many times over.
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in splits.split(features, sides):
            model = HistGradientBoostingClassifier(
                max_iter=20,
                learning_rate=0.3,
                max_leaf_nodes=8,
                max_bins=64,
                early_stopping=False,
                random_state=settings.seed,
            ).fit(features[train], sides[train])
            scores = model.predict_proba(features[test])[:, 1]
            folds.append(_Fold(model, features[test], sides[test], roc_auc(sides[test], scores)))
    return folds


def _importance(folds: list[_Fold], names: list[str], rng: np.random.Generator) -> dict[str, float]:
    """ROC AUC each column costs the fold models when it is shuffled in their held-out rows (averaged
    over the folds): the named columns, most first, at most `MAX_COLUMNS_NAMED`, at least one (see
    `MIN_IMPORTANCE`)."""
    from threadpoolctl import threadpool_limits

    lost = np.zeros(len(names))
    for fold in folds:
        n_rows = fold.sides.size
        # Every column shuffled in its own copy of the held-out rows, all scored in one call.
        shuffled = np.tile(fold.features, (len(names), 1))
        for j in range(len(names)):
            shuffled[j * n_rows : (j + 1) * n_rows, j] = rng.permutation(fold.features[:, j])
        with threadpool_limits(limits=1, user_api="openmp"):
            scores = fold.model.predict_proba(shuffled)[:, 1].reshape(len(names), n_rows)
        lost += [fold.roc_auc - roc_auc(fold.sides, scores[j]) for j in range(len(names))]
    lost /= len(folds)
    order = sorted(range(len(names)), key=lambda j: (-lost[j], names[j]))
    enough = max(MIN_IMPORTANCE, MIN_SHARE_OF_TOP * lost[order[0]])
    named = [j for j in order[:MAX_COLUMNS_NAMED] if lost[j] >= enough] or order[:1]
    return {names[j]: round(float(lost[j]), 4) for j in named}


def roc_auc(sides: FloatArray, scores: FloatArray) -> float:
    """ROC AUC of `scores` for telling side 1 from side 0 (ties count half): the Mann-Whitney U over
    the product of the sides' sizes, as scikit-learn's roc_auc_score computes it, without its checks."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positive = sides == 1
    n_positive = int(positive.sum())
    n_negative = sides.size - n_positive
    u = float(ranks[positive].sum()) - n_positive * (n_positive + 1) / 2
    return u / (n_positive * n_negative)


def _sample(rng: np.random.Generator, n_rows: int, at_most: int) -> np.ndarray:
    if n_rows <= at_most:
        return np.arange(n_rows)
    return np.sort(rng.choice(n_rows, size=at_most, replace=False))


def _feature(reference: Column, current: Column, ref_rows: np.ndarray, cur_rows: np.ndarray) -> FloatArray:
    """One column of the classifier's input, both sides stacked: numbers as they are (NaN missing, which
    the model handles itself); categories as codes into the union of both sides' categories, so a label
    has the same code on both sides (NaN missing)."""
    if isinstance(reference, NumericalColumn) and isinstance(current, NumericalColumn):
        return np.concatenate([reference.values[ref_rows], current.values[cur_rows]])
    if isinstance(reference, CategoricalColumn) and isinstance(current, CategoricalColumn):
        union = {label: code for code, label in enumerate(reference.categories)}
        for label in current.categories:
            union.setdefault(label, len(union))
        ref_codes = reference.codes[ref_rows].astype(np.float64)
        remap = np.array([union[label] for label in current.categories] + [-1], dtype=np.float64)
        cur_codes = remap[current.codes[cur_rows]]  # code -1 (missing) picks the last entry, -1
        stacked = np.concatenate([ref_codes, cur_codes])
        stacked[stacked < 0] = np.nan
        return stacked
    raise TypeError("a column has different kinds in the reference and current data")


def warm_up() -> None:
    """Import what the classifier needs (scikit-learn, seconds on a cold start), without checking."""
    import sklearn.ensemble
    import sklearn.model_selection  # noqa: F401
    import threadpoolctl  # noqa: F401
