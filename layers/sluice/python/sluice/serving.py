"""Running an exported model with ONNX Runtime, and turning JSON prediction requests into its feed.
Imported by the inference function, so it depends on onnxruntime, numpy and pydantic only."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from pydantic import BaseModel, TypeAdapter

from sluice.features import MISSING_CATEGORY, Feed, feed_from_table
from sluice.spec import CategoricalFeature, Feature, NumericFeature
from sluice.table import RawTable

LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
VALUE_OUTPUT = "variable"
INPUT_SCHEMA_PROP = "sluice.input_schema"
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


def _numeric_value(feature: NumericFeature, value: Any) -> tuple[float, str | None]:
    if value is None:
        return math.nan, None if feature.nullable else "must not be null"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan, f"must be a number, got {type(value).__name__}"
    number = float(value)
    if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
        return math.nan, "must be a finite number the model can hold (float32)"
    if feature.min is not None and number < feature.min:
        return number, f"{number:g} is below the minimum {feature.min:g}"
    if feature.max is not None and number > feature.max:
        return number, f"{number:g} is above the maximum {feature.max:g}"
    return number, None


def _category_value(feature: CategoricalFeature, value: Any) -> tuple[str, str | None]:
    if value is None:
        return MISSING_CATEGORY, None if feature.nullable else "must not be null"
    if not isinstance(value, str):
        return MISSING_CATEGORY, f"must be a string, got {type(value).__name__}"
    if value not in feature.categories:
        return value, f"{value!r} is not one of {feature.categories}"
    return value, None


def feed_from_instances(
    features: list[NumericFeature | CategoricalFeature], instances: list[Any]
) -> tuple[Feed, list[InstanceProblem]]:
    """Check each instance against the model's input schema and build the feed. Every problem in
    every instance is returned (types, ranges, categories, required, nullable, unknown fields); the
    feed is only meaningful when there are none. Nullable features may be omitted or null."""
    problems: list[InstanceProblem] = []
    known = {f.name for f in features}
    numeric = {
        f.name: np.empty((len(instances), 1), dtype=np.float32) for f in features if f.type == "numeric"
    }
    strings = {
        f.name: np.empty((len(instances), 1), dtype=object) for f in features if f.type == "categorical"
    }
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            problems.append(InstanceProblem(instance=index, field=None, message="must be a JSON object"))
            continue
        for name in sorted(set(instance) - known):
            problems.append(
                InstanceProblem(instance=index, field=name, message="is not an input of this model")
            )
        for feature in features:
            if feature.name not in instance and not feature.nullable:
                problems.append(InstanceProblem(instance=index, field=feature.name, message="is required"))
                continue
            raw = instance.get(feature.name)
            if isinstance(feature, NumericFeature):
                numeric[feature.name][index, 0], message = _numeric_value(feature, raw)
            else:
                strings[feature.name][index, 0], message = _category_value(feature, raw)
            if message is not None:
                problems.append(InstanceProblem(instance=index, field=feature.name, message=message))
    feed: Feed = {f.name: numeric[f.name] if f.name in numeric else strings[f.name] for f in features}
    return feed, problems
