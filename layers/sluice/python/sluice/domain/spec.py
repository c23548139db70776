"""The model spec: what a model predicts, from which typed features, how it is trained and judged.

Specs are YAML files validated with pydantic; every error names the key that is wrong.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from sluice.domain.spec_sections import RetrainingSpec as RetrainingSpec  # the spec's sections
from sluice.domain.spec_sections import RolloutMode as RolloutMode
from sluice.domain.spec_sections import RolloutSpec as RolloutSpec
from sluice.domain.spec_sections import Strict as _Strict
from sluice.errors import SpecError

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"
# Each algorithm's estimator parameters and value rules, generated from scikit-learn's own constraints
# (`python -m sluice.tools.algorithm_params --write`), so specs are checked without importing scikit-learn.
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


# Which algorithm serves which task; random forest and gradient boosting serve both.
ALGORITHM_TASKS: dict[Algorithm, frozenset[Task]] = {
    Algorithm.LOGISTIC_REGRESSION: frozenset({Task.BINARY, Task.MULTICLASS}),
    Algorithm.RANDOM_FOREST: frozenset(Task),
    Algorithm.GRADIENT_BOOSTING: frozenset(Task),
    Algorithm.RIDGE: frozenset({Task.REGRESSION}),
    Algorithm.LINEAR_REGRESSION: frozenset({Task.REGRESSION}),
}


class NumericFeature(_Strict):
    name: str = Field(min_length=1)
    type: Literal["numeric"]
    min: float | None = None
    max: float | None = None
    nullable: bool = False

    @model_validator(mode="after")
    def _range_is_ordered(self) -> NumericFeature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class CategoricalFeature(_Strict):
    name: str = Field(min_length=1)
    type: Literal["categorical"]
    categories: list[str] = Field(min_length=1)
    nullable: bool = False

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_as_text(cls, value: Any) -> Any:
        # YAML turns `yes`, `1` into bools and ints; categories are always compared as text.
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @field_validator("categories")
    @classmethod
    def _categories_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("categories must be unique")
        return value


Feature = Annotated[NumericFeature | CategoricalFeature, Field(discriminator="type")]


class AlgorithmSpec(_Strict):
    name: Algorithm
    params: dict[str, Any] = Field(default_factory=dict)


class Gates(_Strict):
    """Promotion gates. `min_metric`/`max_metric` bound the primary metric; `max_regression` is how much
    worse than the champion a challenger may be (in the metric's own units); `max_fairness_gap` bounds
    the demographic-parity gap across groups of the sensitive attribute."""

    min_metric: float | None = None
    max_metric: float | None = None
    max_regression: float | None = Field(default=None, ge=0)
    max_fairness_gap: float | None = Field(default=None, ge=0, le=1)


class DriftColumnOverride(_Strict):
    method: Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"] | None = None
    threshold: float | None = Field(default=None, gt=0)


class DriftSpec(_Strict):
    share_threshold: float = Field(default=0.5, gt=0, le=1)
    columns: dict[str, DriftColumnOverride] = Field(default_factory=dict)


# Optional sections that enter the spec's hash only when set, so specs written before them keep theirs.
HASHED_WHEN_SET = ("retraining", "rollout")


class ModelSpec(_Strict):
    """A validated model spec. Construct with `parse_spec` or `load_spec` to get key-naming errors."""

    name: str = Field(pattern=NAME_PATTERN)
    task: Task
    target: str = Field(min_length=1)
    features: list[Feature] = Field(min_length=1)
    sensitive: str | None = None
    algorithm: AlgorithmSpec
    metric: Metric
    gates: Gates = Field(default_factory=Gates)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    retrain_on_drift: bool = False
    retraining: RetrainingSpec | None = None
    rollout: RolloutSpec | None = None  # None: auto
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features: duplicate feature names {duplicates}")
        if self.target in names:
            raise ValueError(f"target: '{self.target}' is also listed as a feature")
        if self.sensitive is not None and self.sensitive in (*names, self.target):
            raise ValueError(
                f"sensitive: '{self.sensitive}' must be a column of its own, not a feature or the target"
            )
        if self.task not in ALGORITHM_TASKS[self.algorithm.name]:
            allowed = sorted(a.value for a, tasks in ALGORITHM_TASKS.items() if self.task in tasks)
            raise ValueError(
                f"algorithm.name: {self.algorithm.name.value} cannot do {self.task.value}; use one of {allowed}"
            )
        param_problems = check_algorithm_params(self.algorithm.name, self.task, self.algorithm.params)
        if param_problems:
            raise ValueError("\n  ".join(param_problems))
        if self.metric.for_regression != (self.task is Task.REGRESSION):
            raise ValueError(f"metric: {self.metric.value} does not apply to a {self.task.value} task")
        if self.gates.max_metric is not None and self.metric.higher_is_better:
            raise ValueError(f"gates.max_metric: {self.metric.value} is higher-is-better; use min_metric")
        if self.gates.min_metric is not None and not self.metric.higher_is_better:
            raise ValueError(f"gates.min_metric: {self.metric.value} is lower-is-better; use max_metric")
        if self.gates.max_fairness_gap is not None and (
            self.task is not Task.BINARY or self.sensitive is None
        ):
            raise ValueError("gates.max_fairness_gap: applies to binary tasks with a sensitive column")
        unknown_drift = sorted(set(self.drift.columns) - set(names))
        if unknown_drift:
            raise ValueError(f"drift.columns: {unknown_drift} are not features")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[NumericFeature]:
        return [f for f in self.features if isinstance(f, NumericFeature)]

    @property
    def categorical_features(self) -> list[CategoricalFeature]:
        return [f for f in self.features if isinstance(f, CategoricalFeature)]

    @property
    def sha256(self) -> str:
        """Hash of the spec's meaning (canonical JSON), so reformatting the YAML keeps the hash."""
        document = self.model_dump(mode="json")
        for key in HASHED_WHEN_SET:
            if document.get(key) is None:
                document.pop(key, None)
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


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


def _key_path(location: tuple[int | str, ...], features: list[Any]) -> str:
    parts: list[str] = []
    for i, part in enumerate(location):
        if isinstance(part, int):
            # Name features by their name, not only their index, so the message says which one.
            if parts == ["features"] and part < len(features) and isinstance(features[part], dict):
                name = features[part].get("name")
                parts[-1] = f"features[{part}]" + (f" ({name})" if name else "")
            else:
                parts[-1] = f"{parts[-1]}[{part}]"
        elif parts and part in {"numeric", "categorical"} and location[i - 2 : i - 1] == ("features",):
            continue  # the discriminator tag pydantic inserts
        else:
            parts.append(str(part))
    return ".".join(parts) or "(top level)"


def parse_spec(text: str, source: str = "spec.yaml") -> ModelSpec:
    """Parse and validate a YAML spec. Raises SpecError whose message names each wrong key."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML ({exc})") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{source}: a spec is a YAML mapping with keys name, task, target, features, …")
    try:
        return ModelSpec.model_validate(document)
    except ValidationError as exc:
        raw_features = document.get("features")
        features = raw_features if isinstance(raw_features, list) else []
        lines = []
        for error in exc.errors():
            key = _key_path(tuple(error["loc"]), features)
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            # Model-level checks already start their message with the key they are about.
            lines.append(message if key == "(top level)" else f"{key}: {message}")
        raise SpecError(f"{source}: invalid spec\n  " + "\n  ".join(lines)) from exc


def load_spec(path: Path) -> ModelSpec:
    """Read and validate a spec file. Raises SpecError for unreadable files as well as bad specs."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec ({exc})") from exc
    return parse_spec(text, str(path))
