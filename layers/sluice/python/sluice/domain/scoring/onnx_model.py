"""Running an exported model with ONNX Runtime, and turning JSON prediction requests into its feed.
Imported by the inference function, so it depends on onnxruntime, numpy and pydantic only."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from pydantic import BaseModel, TypeAdapter

from sluice.domain.data.features import MISSING_CATEGORY, Feed, feed_from_table
from sluice.domain.data.table import RawTable
from sluice.domain.scoring.echo import MAX_ECHO, MAX_PROBLEMS, echo
from sluice.domain.spec.model_spec import CategoricalFeature, Feature, NumericFeature

LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
VALUE_OUTPUT = "variable"
INPUT_SCHEMA_PROP = "sluice.input_schema"
THRESHOLD_PROP = "sluice.threshold"  # a binary classifier's decision threshold, when its `label` uses one
FLOAT32_MAX = float(np.finfo(np.float32).max)

_FEATURES = TypeAdapter(list[Feature])


@dataclass(frozen=True)
class ModelOutputs:
    """What a model returned for n rows: labels and probabilities (classifiers) or values (regressors)."""

    labels: npt.NDArray[np.generic] | None
    probabilities: npt.NDArray[np.float32] | None
    values: npt.NDArray[np.float32] | None


class OnnxModel:
    """An ONNX model loaded once, with its input contract and Sluice metadata."""

    def __init__(self, model_bytes: bytes) -> None:
        options = ort.SessionOptions()
        # One thread: Lambda gives small fractional CPUs, and thread pools cost cold start and jitter.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.sha256 = hashlib.sha256(model_bytes).hexdigest()
        self.size_bytes = len(model_bytes)
        self.inputs: dict[str, str] = {i.name: i.type for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        classes = self.metadata.get("classes")
        self.classes: list[str | int] | None = json.loads(classes) if classes else None
        threshold = self.metadata.get(THRESHOLD_PROP)
        # `label` is classes[1] when P(classes[1]) >= threshold; None: scikit-learn's own decision
        self.threshold: float | None = float(threshold) if threshold else None
        # the longest class label as JSON text: bounds the size of an answer (sluice.app.serving.production)
        self.label_chars = max((len(json.dumps(c)) for c in self.classes or []), default=24)
        schema = self.metadata.get(INPUT_SCHEMA_PROP)
        self.features: list[NumericFeature | CategoricalFeature] = (
            _FEATURES.validate_json(schema) if schema else []
        )

    @property
    def is_classifier(self) -> bool:
        return PROBABILITIES_OUTPUT in self.output_names

    def run(self, feed: Feed) -> ModelOutputs:
        """Predict for a feed built to this model's inputs."""
        results = dict(zip(self.output_names, self.session.run(None, feed), strict=True))
        if self.is_classifier:
            return ModelOutputs(
                labels=np.asarray(results[LABEL_OUTPUT]).ravel(),
                probabilities=np.asarray(results[PROBABILITIES_OUTPUT], dtype=np.float32),
                values=None,
            )
        return ModelOutputs(labels=None, probabilities=None, values=np.asarray(results[VALUE_OUTPUT]).ravel())

    def run_table(self, table: RawTable) -> ModelOutputs:
        """Predict for every row of a table that has (at least) this model's input columns."""
        return self.run(feed_from_table(self.inputs, table))


class InstanceProblem(BaseModel):
    """One thing wrong with a prediction request: which instance (0-based), which field, what."""

    instance: int | None
    field: str | None
    message: str


# What is wrong with a request, for data-quality monitoring (docs/monitoring.md names each): a
# request's problems are counted by (field, kind) whatever MAX_PROBLEMS names in the answer. The first
# six are an instance's values; malformed_body is the request's shape, too_many_instances its size.
ProblemKind = Literal[
    "missing",
    "null_not_allowed",
    "wrong_type",
    "out_of_range",
    "unknown_category",
    "unknown_field",
    "malformed_body",
    "too_many_instances",
]
MAX_STRING = 256  # longest string value accepted in an instance


@dataclass
class InstanceProblems:
    """The problems of a request: the first MAX_PROBLEMS named, all of them counted."""

    details: list[InstanceProblem]
    total: int = 0
    # every problem counted by (field, kind); a field name cut like the details'
    kinds: dict[tuple[str | None, str], int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total

    def add(
        self, instance: int | None, field: str | None, message: str, kind: ProblemKind = "malformed_body"
    ) -> None:
        self.total += 1
        name = field if field is None or len(field) <= MAX_ECHO else field[:MAX_ECHO] + "…"
        self.kinds[(name, kind)] = self.kinds.get((name, kind), 0) + 1
        if len(self.details) < MAX_PROBLEMS:
            self.details.append(InstanceProblem(instance=instance, field=name, message=message))


Problem = tuple[ProblemKind, str]  # a value's problem: its kind, and the message the answer names


def _numeric_value(feature: NumericFeature, value: Any) -> tuple[float, Problem | None]:
    if value is None:
        return math.nan, None if feature.nullable else ("null_not_allowed", "must not be null")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan, ("wrong_type", f"must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer literal beyond float64 (>= 1e309)
        number = math.inf
    if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
        return math.nan, ("out_of_range", "must be a finite number the model can hold (float32)")
    if feature.min is not None and number < feature.min:
        return number, ("out_of_range", f"{number:g} is below the minimum {feature.min:g}")
    if feature.max is not None and number > feature.max:
        return number, ("out_of_range", f"{number:g} is above the maximum {feature.max:g}")
    return number, None


def _category_value(feature: CategoricalFeature, value: Any) -> tuple[str, Problem | None]:
    if value is None:
        return MISSING_CATEGORY, None if feature.nullable else ("null_not_allowed", "must not be null")
    if not isinstance(value, str):
        return MISSING_CATEGORY, ("wrong_type", f"must be a string, got {type(value).__name__}")
    if len(value) > MAX_STRING:
        return MISSING_CATEGORY, ("unknown_category", f"is longer than {MAX_STRING} characters")
    if value not in feature.categories:
        return value, (
            "unknown_category",
            f"{echo(value)} is not one of {echo(feature.categories, 4 * MAX_ECHO)}",
        )
    return value, None


_SMALL_COLUMN = 64
_NUMBER_TYPES = {int, float}
_NUMBER_OR_NULL = {int, float, type(None)}
_TEXT_OR_NULL = {str, type(None)}


def _numeric_column(feature: NumericFeature, column: list[Any]) -> npt.NDArray[np.float32] | None:
    """The column as float32 [n, 1] when every value is valid, else None (checked row by row then).
    One min and one max decide the checks (NaN propagates through numpy's; small columns stay in
    Python, where numpy's per-call cost would dominate)."""
    types = set(map(type, column))
    if not types <= (_NUMBER_OR_NULL if feature.nullable else _NUMBER_TYPES):
        return None
    present = [v for v in column if v is not None] if type(None) in types else column
    if present:
        try:
            if len(present) <= _SMALL_COLUMN:
                if float in types and any(v != v for v in present):  # a NaN literal
                    return None
                low, high = float(min(present)), float(max(present))
            else:
                values = np.array(present, dtype=np.float64)
                low, high = float(values.min()), float(values.max())
        except OverflowError:  # an integer beyond float64
            return None
        if not (math.isfinite(low) and math.isfinite(high)) or max(-low, high) > FLOAT32_MAX:
            return None
        if (feature.min is not None and low < feature.min) or (
            feature.max is not None and high > feature.max
        ):
            return None
    return np.array(column, dtype=np.float32).reshape(-1, 1)  # None -> NaN


def _string_column(feature: CategoricalFeature, column: list[Any]) -> npt.NDArray[np.object_] | None:
    types = set(map(type, column))
    if not types <= (_TEXT_OR_NULL if feature.nullable else {str}):
        return None
    if not set(column) <= {*feature.categories, None}:
        return None
    values = np.empty((len(column), 1), dtype=object)
    values[:, 0] = (
        column if type(None) not in types else [MISSING_CATEGORY if v is None else v for v in column]
    )
    return values


def _fast_feed(features: list[NumericFeature | CategoricalFeature], instances: list[Any]) -> Feed | None:
    """The feed of a request with no problem at all, built column by column; None if any instance
    has a problem (then the row-by-row pass names them)."""
    known = {f.name for f in features}
    if not all(type(i) is dict and i.keys() <= known for i in instances):
        return None
    feed: Feed = {}
    for feature in features:
        column = [i.get(feature.name) for i in instances]  # absent -> None, refused unless nullable
        if isinstance(feature, NumericFeature):
            values: npt.NDArray[np.generic] | None = _numeric_column(feature, column)
        else:
            values = _string_column(feature, column)
        if values is None:
            return None
        feed[feature.name] = values
    return feed


def feed_from_instances(
    features: list[NumericFeature | CategoricalFeature], instances: list[Any]
) -> tuple[Feed, InstanceProblems]:
    """Check each instance against the model's input schema and build the feed. Every problem in
    every instance is counted and the first MAX_PROBLEMS named (types, ranges, categories, required,
    nullable, unknown fields); the feed is only meaningful when there are none. Nullable features may
    be omitted or null. Valid requests take a column-wise path (one numpy conversion per feature)."""
    fast = _fast_feed(features, instances)
    if fast is not None:
        return fast, InstanceProblems(details=[])
    problems = InstanceProblems(details=[])
    known = {f.name for f in features}
    numeric = {
        f.name: np.empty((len(instances), 1), dtype=np.float32) for f in features if f.type == "numeric"
    }
    strings = {
        f.name: np.empty((len(instances), 1), dtype=object) for f in features if f.type == "categorical"
    }
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            problems.add(index, None, "must be a JSON object", "wrong_type")
            continue
        for name in sorted(instance.keys() - known):
            problems.add(index, name, "is not an input of this model", "unknown_field")
        for feature in features:
            if feature.name not in instance and not feature.nullable:
                problems.add(index, feature.name, "is required", "missing")
                continue
            raw = instance.get(feature.name)
            if isinstance(feature, NumericFeature):
                numeric[feature.name][index, 0], problem = _numeric_value(feature, raw)
            else:
                strings[feature.name][index, 0], problem = _category_value(feature, raw)
            if problem is not None:
                problems.add(index, feature.name, problem[1], problem[0])
    feed: Feed = {f.name: numeric[f.name] if f.name in numeric else strings[f.name] for f in features}
    return feed, problems
