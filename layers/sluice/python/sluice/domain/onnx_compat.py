"""Makes skl2onnx 1.20 convert HistGradientBoosting under onnx 1.23.

skl2onnx writes each leaf's `nodes_missing_value_tracks_true` as Python `False` beside numpy integers
for branches, and onnx ≥ 1.17 refuses a boolean in an INTS attribute ("Expected an int, got a
boolean"), so conversion failed (DESIGN.md noted it). The converters registered here are skl2onnx's
own, with those booleans written as the integers 0 and 1 ONNX expects; nothing else changes."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

_HIST_GRADIENT_BOOSTING_OPTIONS: dict[str, dict[str, list[Any]]] = {
    "SklearnHistGradientBoostingClassifier": {
        "zipmap": [True, False, "columns"],
        "raw_scores": [True, False],
        "output_class_labels": [False, True],
        "nocl": [True, False],
    },
    "SklearnHistGradientBoostingRegressor": {"raw_scores": [True, False]},
}


def _booleans_as_ints(converter: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    def convert(scope: Any, operator: Any, container: Any) -> None:
        add_node = container.add_node

        def add_node_with_ints(*args: Any, **attributes: Any) -> Any:
            for name, value in attributes.items():
                if isinstance(value, list) and any(isinstance(v, bool | np.bool_) for v in value):
                    attributes[name] = [int(v) for v in value]
            return add_node(*args, **attributes)

        container.add_node = add_node_with_ints
        try:
            converter(scope, operator, container)
        finally:
            del container.add_node

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
            _booleans_as_ints(get_converter(alias)),
            options=_HIST_GRADIENT_BOOSTING_OPTIONS[alias],
        )
