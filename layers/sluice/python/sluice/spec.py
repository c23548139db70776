"""The model spec: what a model predicts, from which typed features, how it is trained and judged.

Specs are YAML files validated with pydantic; every error names the key that is wrong.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sluice.errors import SpecError

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class DriftSettings(_Strict):
    share_threshold: float = Field(default=0.5, gt=0, le=1)
    columns: dict[str, DriftColumnOverride] = Field(default_factory=dict)


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
    drift: DriftSettings = Field(default_factory=DriftSettings)
    retrain_on_drift: bool = False
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
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


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
