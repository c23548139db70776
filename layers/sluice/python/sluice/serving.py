"""Running an exported model with ONNX Runtime. Imported by the inference function, so it depends on
onnxruntime and numpy only."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from sluice.features import Feed, feed_from_table
from sluice.table import RawTable

LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
VALUE_OUTPUT = "variable"


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
