"""The model spec: what a model predicts, from which typed features, how it is trained and judged.

Specs are YAML files validated with pydantic; every error names the key that is wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from sluice.domain.spec.algorithms import ALGORITHM_TASKS as ALGORITHM_TASKS  # the algorithm catalogue
from sluice.domain.spec.algorithms import Algorithm as Algorithm
from sluice.domain.spec.algorithms import Metric as Metric
from sluice.domain.spec.algorithms import Task as Task
from sluice.domain.spec.algorithms import check_algorithm_params as check_algorithm_params
from sluice.domain.spec.sections import AUTO_CANDIDATES as AUTO_CANDIDATES  # the spec's sections
from sluice.domain.spec.sections import MAX_CANDIDATES
from sluice.domain.spec.sections import AlgorithmSpec as AlgorithmSpec
from sluice.domain.spec.sections import CandidateGrid as CandidateGrid
from sluice.domain.spec.sections import FairnessSpec as FairnessSpec
from sluice.domain.spec.sections import Mitigation as Mitigation
from sluice.domain.spec.sections import ResourcesSpec as ResourcesSpec
from sluice.domain.spec.sections import RetrainingSpec as RetrainingSpec
from sluice.domain.spec.sections import RolloutMode as RolloutMode
from sluice.domain.spec.sections import RolloutSpec as RolloutSpec
from sluice.domain.spec.sections import Strict as _Strict
from sluice.domain.spec.sections import ThresholdObjective as ThresholdObjective
from sluice.domain.spec.sections import ThresholdSpec as ThresholdSpec
from sluice.errors import SpecError

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"
DEFAULT_CV_FOLDS = 5


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
    # the multivariate check's drift: its classifier's ROC AUC above this (unset: 0.55; 1: never)
    multivariate_threshold: float | None = Field(default=None, gt=0.5, le=1)


# Optional sections that enter the spec's hash only when set, so specs written before them keep theirs.
HASHED_WHEN_SET = (
    "retraining",
    "rollout",
    "algorithm",
    "candidates",
    "cv_folds",
    "threshold",
    "fairness",
    "intended_use",
    "ignored_columns",
    "resources",
)


class ModelSpec(_Strict):
    """A validated model spec. Construct with `parse_spec` or `load_spec` to get key-naming errors."""

    name: str = Field(pattern=NAME_PATTERN)
    task: Task
    target: str = Field(min_length=1)
    features: list[Feature] = Field(min_length=1)
    sensitive: str | None = None
    algorithm: AlgorithmSpec | None = None  # one estimator, or:
    candidates: list[CandidateGrid] | Literal["auto"] | None = None  # cross-validated, the best trained
    # Folds of the training part for the search and for choosing a threshold (default 5).
    cv_folds: int | None = Field(default=None, ge=2, le=10)
    metric: Metric
    threshold: float | ThresholdSpec | None = None  # binary only: 0.5 when unset
    fairness: FairnessSpec | None = None
    gates: Gates = Field(default_factory=Gates)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    retrain_on_drift: bool = False
    retraining: RetrainingSpec | None = None
    rollout: RolloutSpec | None = None  # None: auto
    resources: ResourcesSpec | None = None  # where Train runs; None: auto
    description: str | None = None  # what the model predicts, in plain words (the card's first line)
    intended_use: str | None = None  # for whom and for what decisions
    # Columns a file may carry that the model does not use (ids, constants): not an error when present.
    ignored_columns: list[str] | None = None
    _source_sha256: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _sensitive_from_fairness(cls, document: Any) -> Any:
        # `fairness.sensitive` is another place to name the sensitive column; the spec keeps one.
        if isinstance(document, dict) and isinstance(document.get("fairness"), dict):
            named = document["fairness"].get("sensitive")
            if named is not None and document.get("sensitive") not in (None, named):
                raise ValueError(
                    f"fairness.sensitive: '{named}' differs from sensitive: '{document['sensitive']}'"
                )
            if named is not None:
                document = {**document, "sensitive": named}
        return document

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
        used = {*names, self.target, self.sensitive}
        ignored = self.ignored_columns or []
        if len(set(ignored)) != len(ignored) or used & set(ignored):
            raise ValueError("ignored_columns: each once, and none a feature, the target or sensitive")
        self._check_estimators()
        self._check_decisions()
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

    def _check_estimators(self) -> None:
        if (self.algorithm is None) == (self.candidates is None):
            raise ValueError("algorithm: give either algorithm (one estimator) or candidates (a search)")
        if self.algorithm is not None:
            if self.task not in ALGORITHM_TASKS[self.algorithm.name]:
                allowed = sorted(a.value for a, tasks in ALGORITHM_TASKS.items() if self.task in tasks)
                raise ValueError(
                    f"algorithm.name: {self.algorithm.name.value} cannot do {self.task.value}; "
                    f"use one of {allowed}"
                )
            problems = check_algorithm_params(self.algorithm.name, self.task, self.algorithm.params)
            if problems:
                raise ValueError("\n  ".join(problems))
        if isinstance(self.candidates, list):
            if not self.candidates:
                raise ValueError("candidates: list at least one algorithm, or write candidates: auto")
            problems = [
                p
                for i, grid in enumerate(self.candidates)
                for p in grid.problems(self.task, f"candidates[{i}]")
            ]
            if problems:
                raise ValueError("\n  ".join(problems))
            count = len(self.candidate_algorithms())
            if count > MAX_CANDIDATES:
                raise ValueError(f"candidates: {count} combinations; at most {MAX_CANDIDATES}")

    def _check_decisions(self) -> None:
        if self.threshold is not None:
            if self.task is not Task.BINARY:
                raise ValueError("threshold: applies to binary tasks")
            if isinstance(self.threshold, float) and not 0 < self.threshold < 1:
                raise ValueError("threshold: a probability strictly between 0 and 1")
        fairness = self.fairness
        if fairness is not None and fairness.mitigation is not Mitigation.NONE:
            if self.sensitive is None:
                raise ValueError("fairness.mitigation: needs a sensitive column (fairness.sensitive)")
            if fairness.mitigation is Mitigation.REWEIGHING and not self.task.is_classification:
                raise ValueError("fairness.mitigation: reweighing applies to classification tasks")
            if fairness.mitigation is Mitigation.THRESHOLD and self.task is not Task.BINARY:
                raise ValueError("fairness.mitigation: threshold applies to binary tasks")
            if fairness.mitigation is Mitigation.THRESHOLD and isinstance(self.threshold, float):
                raise ValueError(
                    "threshold: a fixed threshold leaves nothing for fairness.mitigation: threshold to choose"
                )

    def candidate_algorithms(self) -> list[AlgorithmSpec]:
        """The estimators a search tries, in order: each grid's combinations (`auto`: the task's
        default list); the spec's one algorithm when it names one."""
        if self.algorithm is not None:
            return [self.algorithm]
        grids = (
            [CandidateGrid.model_validate(g) for g in AUTO_CANDIDATES[self.task]]
            if self.candidates == "auto" or self.candidates is None
            else self.candidates
        )
        return [candidate for grid in grids for candidate in grid.expand()]

    @property
    def folds(self) -> int:
        return self.cv_folds or DEFAULT_CV_FOLDS

    @property
    def mitigation(self) -> Mitigation:
        return self.fairness.mitigation if self.fairness else Mitigation.NONE

    @property
    def estimator(self) -> AlgorithmSpec:
        """The one estimator to train; a search's spec has it once `trained_as` chose it."""
        if self.algorithm is None:
            raise SpecError("the spec searches candidates: choose one first (trained_as)")
        return self.algorithm

    def trained_as(self, algorithm: AlgorithmSpec) -> ModelSpec:
        """This spec with its search decided: `algorithm` set, `candidates` cleared. Its `sha256` stays
        the written spec's, so everything trained from it traces to the spec that was uploaded."""
        decided = self.model_copy(update={"algorithm": algorithm, "candidates": None})
        decided._source_sha256 = self.sha256
        return decided

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
        """Hash of the spec's meaning (canonical JSON), so reformatting the YAML keeps the hash. A spec
        `trained_as` a search's choice keeps the hash of the spec that was written."""
        if self._source_sha256 is not None:
            return self._source_sha256
        document = self.model_dump(mode="json")
        for key in HASHED_WHEN_SET:
            if document.get(key) is None:
                document.pop(key, None)
        if document["drift"].get("multivariate_threshold") is None:  # hashed when set, as above
            document["drift"].pop("multivariate_threshold", None)
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
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
    import yaml  # here, not at the top: PredictFunction reads specs from ONNX metadata, never YAML (cold start)

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
