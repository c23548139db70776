"""Training: a deterministic holdout split and a scikit-learn Pipeline built from the spec.

The pipeline takes an object matrix with one column per feature in spec order (see
`features.stacked_feed`), so it converts to ONNX with one named input per feature.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sluice.domain.data.features import MISSING_CATEGORY, feed_from_table, stacked_feed
from sluice.domain.data.table import RawTable
from sluice.domain.spec.model_spec import Algorithm, ModelSpec, NumericFeature, Task
from sluice.errors import SpecError

HOLDOUT_FRACTION = 0.2
SEED = 20261127
CATEGORY_FILL = "__missing__"

ESTIMATORS: dict[tuple[Algorithm, bool], type[BaseEstimator]] = {
    (Algorithm.LOGISTIC_REGRESSION, True): LogisticRegression,
    (Algorithm.RANDOM_FOREST, True): RandomForestClassifier,
    (Algorithm.RANDOM_FOREST, False): RandomForestRegressor,
    (Algorithm.GRADIENT_BOOSTING, True): GradientBoostingClassifier,
    (Algorithm.GRADIENT_BOOSTING, False): GradientBoostingRegressor,
    (Algorithm.RIDGE, False): Ridge,
    (Algorithm.LINEAR_REGRESSION, False): LinearRegression,
    (Algorithm.HIST_GRADIENT_BOOSTING, True): HistGradientBoostingClassifier,
    (Algorithm.HIST_GRADIENT_BOOSTING, False): HistGradientBoostingRegressor,
}

# Linear models need scaled inputs; trees do not, and a float32 scaler in ONNX moves values across tree
# thresholds (measured: 20 of 440 holdout rows changed probability by up to 0.03 with a scaled forest).
SCALED_ALGORITHMS = frozenset({Algorithm.LOGISTIC_REGRESSION, Algorithm.RIDGE, Algorithm.LINEAR_REGRESSION})

# Defaults that make training reproducible and sane for a first model; the spec's params win.
DEFAULT_PARAMS: dict[Algorithm, dict[str, Any]] = {
    Algorithm.LOGISTIC_REGRESSION: {"max_iter": 2000},
    Algorithm.RANDOM_FOREST: {"n_estimators": 100},
}


@dataclass(frozen=True)
class HoldoutSplit:
    """Training rows, the usual holdout and, for a retraining, the recent holdout (its newest labelled
    rows, never trained on)."""

    train: RawTable
    holdout: RawTable
    recent: RawTable | None = None


def holdout_mask(table: RawTable, fraction: float = HOLDOUT_FRACTION) -> npt.NDArray[np.bool_]:
    """True for rows in the holdout. A row's side depends only on its own cells (a hash of them), so
    the same row lands on the same side in any dataset: champion and challenger share a holdout."""
    mask = np.empty(table.n_rows, dtype=bool)
    limit = int(fraction * 2**64)
    for i, row in enumerate(table.rows()):
        digest = hashlib.blake2b("\x1f".join(row).encode(), digest_size=8, key=b"sluice-holdout").digest()
        mask[i] = int.from_bytes(digest, "big") < limit
    return mask


def _spec_holdout_mask(spec: ModelSpec, table: RawTable, fraction: float) -> npt.NDArray[np.bool_]:
    columns = [*spec.feature_names, spec.target] + ([spec.sensitive] if spec.sensitive else [])
    projected = RawTable(source=table.source, header=columns, columns={c: table.columns[c] for c in columns})
    return holdout_mask(projected, fraction)


def split_holdout(
    spec: ModelSpec, table: RawTable, fraction: float = HOLDOUT_FRACTION, *, recent_holdout_rows: int = 0
) -> HoldoutSplit:
    """Split a validated table into train and holdout rows by content hash (see `holdout_mask`). With
    `recent_holdout_rows`, the table's last rows (a retraining dataset's newest labelled traffic) are
    the recent holdout, and the rest is split as usual."""
    recent = None
    if recent_holdout_rows > 0:
        first_recent = table.n_rows - recent_holdout_rows
        recent = table.select(list(range(first_recent, table.n_rows)))
        table = table.select(list(range(first_recent)))
    mask = _spec_holdout_mask(spec, table, fraction)
    return HoldoutSplit(
        train=table.select(np.flatnonzero(~mask)), holdout=table.select(np.flatnonzero(mask)), recent=recent
    )


def target_array(spec: ModelSpec, table: RawTable) -> npt.NDArray[Any]:
    """The target column typed for the task: float for regression, int64 labels when every label is an
    integer (binary always is), strings otherwise."""
    cells = [c.strip() for c in table.columns[spec.target]]
    if spec.task is Task.REGRESSION:
        return np.asarray(cells, dtype=np.float64)
    try:
        numbers = np.asarray(cells, dtype=np.float64)
    except ValueError:
        return np.asarray(cells, dtype=object).astype(str)
    if np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return np.asarray(cells, dtype=object).astype(str)


def model_matrix(spec: ModelSpec, table: RawTable) -> npt.NDArray[np.object_]:
    """The scikit-learn input for a table: one column per feature in spec order, as ONNX sees them."""
    inputs = {
        f.name: "tensor(float)" if isinstance(f, NumericFeature) else "tensor(string)" for f in spec.features
    }
    return stacked_feed(feed_from_table(inputs, table), spec.feature_names)


def build_estimator(spec: ModelSpec) -> BaseEstimator:
    """The estimator the spec names, with its params. Unknown params raise SpecError naming them."""
    cls = ESTIMATORS[(spec.estimator.name, spec.task.is_classification)]
    params = {**DEFAULT_PARAMS.get(spec.estimator.name, {}), **spec.estimator.params}
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise SpecError(
            f"algorithm.params: {unknown} are not parameters of {cls.__name__} (accepted: {sorted(accepted)})"
        )
    if "random_state" in accepted:
        params.setdefault("random_state", SEED)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"algorithm.params: {exc}") from exc


def build_pipeline(spec: ModelSpec) -> Pipeline:
    """Imputation (+ scaling for linear models) for numeric features, imputation + one-hot for
    categorical, then the estimator. Categorical missing values are "" (not NaN): skl2onnx converts
    string imputers only then."""
    numeric = [i for i, f in enumerate(spec.features) if isinstance(f, NumericFeature)]
    categorical = [i for i, f in enumerate(spec.features) if not isinstance(f, NumericFeature)]
    transformers: list[tuple[str, Any, list[int]]] = []
    if numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if spec.estimator.name in SCALED_ALGORITHMS:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        (
                            "impute",
                            SimpleImputer(
                                missing_values=MISSING_CATEGORY, strategy="constant", fill_value=CATEGORY_FILL
                            ),
                        ),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            )
        )
    return Pipeline([("features", ColumnTransformer(transformers)), ("model", build_estimator(spec))])


def recent_weights(
    spec: ModelSpec,
    table: RawTable,
    recent_rows: int,
    recent_weight: float,
    fraction: float = HOLDOUT_FRACTION,
    *,
    recent_holdout_rows: int = 0,
) -> npt.NDArray[np.float64] | None:
    """The sample weight of each training row of `split_holdout(spec, table, fraction,
    recent_holdout_rows=…)`, in its order: `recent_weight` for the table's last `recent_rows` rows (a
    retraining dataset ends with its labelled traffic, the recent holdout last), 1.0 for the others.
    None when no training row is recent or the weight is 1 (fit as before)."""
    trained_recent = recent_rows - recent_holdout_rows
    if trained_recent <= 0 or recent_weight == 1.0:
        return None
    if recent_holdout_rows > 0:
        table = table.select(list(range(table.n_rows - recent_holdout_rows)))
    train_rows = np.flatnonzero(~_spec_holdout_mask(spec, table, fraction))
    first_recent = table.n_rows - trained_recent
    return np.where(train_rows >= first_recent, recent_weight, 1.0).astype(np.float64)


def fit_pipeline(
    spec: ModelSpec, train: RawTable, sample_weight: npt.NDArray[np.float64] | None = None
) -> Pipeline:
    """Fit the spec's pipeline on validated training rows; `sample_weight` (one per row) weighs them in
    the estimator's fit, None fits them equally."""
    pipeline = build_pipeline(spec)
    extra: dict[str, Any] = {} if sample_weight is None else {"model__sample_weight": sample_weight}
    pipeline.fit(model_matrix(spec, train), target_array(spec, train), **extra)
    return pipeline
