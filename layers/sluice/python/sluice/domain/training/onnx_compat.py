"""Makes skl2onnx 1.20 convert HistGradientBoosting under onnx 1.23, with parity.

Two fixes, both in the attributes skl2onnx's own converters hand to `container.add_node`:

- skl2onnx writes each leaf's `nodes_missing_value_tracks_true` as Python `False` beside numpy
  integers for branches, and onnx ≥ 1.17 refuses a boolean in an INTS attribute ("Expected an int, got
  a boolean"), so conversion failed (DESIGN.md noted it). They are written as the integers 0 and 1.
- HistGradientBoosting splits on float64 thresholds (midpoints between distinct training values) and
  compares the raw input with them, but ONNX keeps thresholds as float32 and rounds each to the nearest.
  When the rounding goes up onto an input value, that value crosses to the other branch: measured on
  the diabetes example, a holdout row with s6 = 0.065196 (float32) against the threshold
  0.0651959982 went left in ONNX and right in scikit-learn in 4 of 100 trees, 3.75 apart in the
  prediction. skl2onnx has the cure (`adjust_threshold_for_sklearn`) but its
  HistGradientBoosting converters do not ask for it. Here the converter is handed a copy of the
  estimator whose thresholds are each the largest float32 not above it, so `x <= threshold` decides
  the same in both for every float32 input (the contract's numeric inputs are float32)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

_HIST_GRADIENT_BOOSTING_OPTIONS: dict[str, dict[str, list[Any]]] = {
    "SklearnHistGradientBoostingClassifier": {
        "zipmap": [True, False, "columns"],
        "raw_scores": [True, False],
        "output_class_labels": [False, True],
        "nocl": [True, False],
    },
    "SklearnHistGradientBoostingRegressor": {"raw_scores": [True, False]},
}


def float32_floor(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each value as the largest float32 not above it (as float64): for every float32 `x`,
    `x <= value` exactly when `x <= float32_floor(value)`."""
    rounded = values.astype(np.float32)
    below = np.where(rounded > values, np.nextafter(rounded, np.float32(-np.inf)), rounded)
    return below.astype(np.float64)


def _with_float32_thresholds(estimator: Any) -> Any:
    """A copy of a fitted HistGradientBoosting whose split thresholds are float32 numbers that split
    every float32 input as the originals do (the estimator itself is left as it is)."""
    copied = copy.deepcopy(estimator)
    for predictors in copied._predictors:
        for predictor in predictors:
            branches = predictor.nodes["is_leaf"] == 0
            thresholds = predictor.nodes["num_threshold"]
            thresholds[branches] = float32_floor(thresholds[branches])
    return copied


def _fixed_attributes(converter: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    def convert(scope: Any, operator: Any, container: Any) -> None:
        add_node = container.add_node
        estimator = operator.raw_operator

        def add_fixed_node(*args: Any, **attributes: Any) -> Any:
            for name, value in attributes.items():
                if isinstance(value, list) and any(isinstance(v, bool | np.bool_) for v in value):
                    attributes[name] = [int(v) for v in value]
            return add_node(*args, **attributes)

        container.add_node = add_fixed_node
        operator.raw_operator = _with_float32_thresholds(estimator)
        try:
            converter(scope, operator, container)
        finally:
            del container.add_node
            operator.raw_operator = estimator

    return convert


@cache
def register_converters() -> None:
    """Register the fixed HistGradientBoosting converters (once per process)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common._registration import get_converter, get_shape_calculator
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    for alias, estimator in (
        ("SklearnHistGradientBoostingClassifier", HistGradientBoostingClassifier),
        ("SklearnHistGradientBoostingRegressor", HistGradientBoostingRegressor),
    ):
        update_registered_converter(
            estimator,
            alias,
            get_shape_calculator(alias),
            _fixed_attributes(get_converter(alias)),
            options=_HIST_GRADIENT_BOOSTING_OPTIONS[alias],
        )
