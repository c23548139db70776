"""The algorithms a spec may name, the tasks and metrics they serve, and the rules their estimator
parameters follow (generated from scikit-learn's own constraints into algorithm_params.json by
`python -m sluice.tools.algorithm_params --write`), so specs are checked without importing
scikit-learn. `sluice.domain.spec.model_spec` re-exports these names."""

from __future__ import annotations

import difflib
import json
import math
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

ALGORITHM_PARAMS_FILE = Path(__file__).with_name("algorithm_params.json")


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


class Metric(StrEnum):
    ROC_AUC = "roc_auc"
    ACCURACY = "accuracy"
    F1 = "f1"
    LOG_LOSS = "log_loss"
    RMSE = "rmse"
    MAE = "mae"
    R2 = "r2"

    @property
    def higher_is_better(self) -> bool:
        return self in {Metric.ROC_AUC, Metric.ACCURACY, Metric.F1, Metric.R2}

    @property
    def for_regression(self) -> bool:
        return self in {Metric.RMSE, Metric.MAE, Metric.R2}


class Algorithm(StrEnum):
    LOGISTIC_REGRESSION = "logistic_regression"
    RANDOM_FOREST = "random_forest"
    GRADIENT_BOOSTING = "gradient_boosting"
    RIDGE = "ridge"
    LINEAR_REGRESSION = "linear_regression"
    HIST_GRADIENT_BOOSTING = "hist_gradient_boosting"


# Which algorithm serves which task; random forest and gradient boosting serve both.
ALGORITHM_TASKS: dict[Algorithm, frozenset[Task]] = {
    Algorithm.LOGISTIC_REGRESSION: frozenset({Task.BINARY, Task.MULTICLASS}),
    Algorithm.RANDOM_FOREST: frozenset(Task),
    Algorithm.GRADIENT_BOOSTING: frozenset(Task),
    Algorithm.RIDGE: frozenset({Task.REGRESSION}),
    Algorithm.LINEAR_REGRESSION: frozenset({Task.REGRESSION}),
    Algorithm.HIST_GRADIENT_BOOSTING: frozenset(Task),
}


@cache
def _algorithm_params() -> dict[str, Any]:
    algorithms: dict[str, Any] = json.loads(ALGORITHM_PARAMS_FILE.read_text(encoding="utf-8"))["algorithms"]
    return algorithms


def _bounds(rule: dict[str, Any]) -> str:
    closed = rule.get("closed", "neither")
    low, high = rule.get("min"), rule.get("max")
    if low is not None and high is not None:
        left = "[" if closed in ("left", "both") else "("
        right = "]" if closed in ("right", "both") else ")"
        return f" in {left}{low}, {high}{right}"
    if low is not None:
        return f" {'>=' if closed in ('left', 'both') else '>'} {low}"
    if high is not None:
        return f" {'<=' if closed in ('right', 'both') else '<'} {high}"
    return ""


def _describe(rule: dict[str, Any]) -> str | None:
    kind = rule["type"]
    if kind in ("integer", "number", "float"):
        return {"integer": "an integer", "number": "a number", "float": "a float"}[kind] + _bounds(rule)
    if kind == "string":
        return f"one of {rule['options']}" if "options" in rule else "a string"
    return {"boolean": "true or false", "null": "null", "array": "a list", "object": "a mapping"}.get(kind)


def _in_bounds(value: float, rule: dict[str, Any]) -> bool:
    closed = rule.get("closed", "neither")
    low, high = rule.get("min"), rule.get("max")
    if isinstance(value, float) and math.isnan(value):
        return False
    if low is not None and not (value >= low if closed in ("left", "both") else value > low):
        return False
    return high is None or (value <= high if closed in ("right", "both") else value < high)


def _satisfies(value: Any, rule: dict[str, Any]) -> bool:
    kind = rule["type"]
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and _in_bounds(value, rule)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and _in_bounds(value, rule)
    if kind == "float":
        return isinstance(value, float) and _in_bounds(value, rule)
    if kind == "string":
        return isinstance(value, str) and ("options" not in rule or value in rule["options"])
    checks: dict[str, Any] = {"boolean": bool, "null": type(None), "array": list, "object": dict}
    return kind in checks and isinstance(value, checks[kind])


def check_algorithm_params(algorithm: Algorithm, task: Task, params: dict[str, Any]) -> list[str]:
    """Problems with a spec's estimator parameters (names and values), one message per key, from the
    rules in algorithm_params.json. No scikit-learn needed, so ingestion can check a spec."""
    entry = (
        _algorithm_params()
        .get(algorithm.value, {})
        .get("classifier" if task.is_classification else "regressor")
    )
    if entry is None:
        return []
    known: dict[str, list[dict[str, Any]]] = entry["params"]
    estimator = str(entry["estimator"]).rsplit(".", 1)[-1]
    problems = []
    for name, value in params.items():
        key = f"algorithm.params.{name}"
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; accepted: {sorted(known)}"
            problems.append(f"{key}: not a parameter of {estimator}{hint}")
            continue
        rules = known[name]
        if not any(_satisfies(value, rule) for rule in rules):
            expected = [d for d in (_describe(rule) for rule in rules) if d]
            wanted = " or ".join(expected) if expected else "nothing a spec can express"
            problems.append(f"{key}: {value!r} is not valid for {estimator}; expected {wanted}")
    return problems
