"""Export a fitted pipeline to ONNX in Sluice's contract, and prove the export matches.

Contract (docs/architecture.md): one input per feature named as the feature, shape [None, 1], float32 for
numeric and string for categorical; outputs `label` + `probabilities` (ZipMap off) for classifiers or
`variable` for regressors; metadata props carry model name, version, spec hash and class order. A binary
classifier exported with a decision threshold decides `label` at it (metadata `sluice.threshold`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
from pydantic import BaseModel
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from sluice.domain.data.table import RawTable
from sluice.domain.scoring.onnx_model import (
    INPUT_SCHEMA_PROP,
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    THRESHOLD_PROP,
    VALUE_OUTPUT,
    OnnxModel,
)
from sluice.domain.spec.model_spec import ModelSpec, NumericFeature
from sluice.domain.training.decisions import THRESHOLD_TIE, decide
from sluice.domain.training.onnx_compat import register_converters
from sluice.domain.training.pipeline import model_matrix
from sluice.errors import ExportFailed, SpecError

# Classifier probabilities may differ by float32 rounding only; labels may not differ at all on more
# than one row in a thousand. Regressors: differences within this fraction of the predictions' spread.
PROBABILITY_TOLERANCE = 1e-4
LABEL_AGREEMENT_MIN = 0.999
REGRESSION_RELATIVE_TOLERANCE = 1e-4


class ParityResult(BaseModel):
    """How closely ONNX Runtime reproduces scikit-learn on the holdout."""

    passed: bool
    rows: int
    max_abs_diff: float
    label_agreement: float
    tolerance: float
    reason: str | None = None


def export_onnx(
    pipeline: Pipeline, spec: ModelSpec, *, version: str, threshold: float | None = None
) -> bytes:
    """Convert a fitted pipeline to ONNX bytes. Same pipeline, version and threshold → identical bytes.
    With a `threshold` (binary classifiers only), `label` is classes[1] where P(classes[1]) ≥ threshold
    and classes[0] elsewhere (same name, type and shape), and metadata `sluice.threshold` records it;
    None keeps scikit-learn's own decision."""
    initial_types: list[tuple[str, Any]] = [
        (f.name, FloatTensorType([None, 1]) if isinstance(f, NumericFeature) else StringTensorType([None, 1]))
        for f in spec.features
    ]
    register_converters()
    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if spec.task.is_classification else None
    try:
        # A fixed graph name: skl2onnx otherwise names each graph with a random uuid.
        model = convert_sklearn(
            pipeline, name=f"sluice_{spec.name}", initial_types=initial_types, options=options
        )
    except Exception as exc:  # skl2onnx raises many unrelated types for unsupported models
        raise ExportFailed(f"skl2onnx could not convert {spec.estimator.name.value}: {exc}") from exc
    outputs = [o.name for o in model.graph.output]
    expected = [LABEL_OUTPUT, PROBABILITIES_OUTPUT] if spec.task.is_classification else [VALUE_OUTPUT]
    if outputs != expected:
        raise ExportFailed(f"exported outputs {outputs} do not match the contract {expected}")
    metadata = {
        "sluice.model": spec.name,
        "sluice.version": version,
        "sluice.spec_sha256": spec.sha256,
        "sluice.task": spec.task.value,
        # The serving function validates requests against this, so it needs nothing but the model file.
        INPUT_SCHEMA_PROP: json.dumps([f.model_dump(mode="json", exclude_none=True) for f in spec.features]),
    }
    if hasattr(estimator, "classes_"):
        metadata["classes"] = json.dumps([c.item() if hasattr(c, "item") else c for c in estimator.classes_])
    if threshold is not None:
        if len(getattr(estimator, "classes_", [])) != 2:
            raise SpecError("threshold: applies to binary classifiers")
        _decide_label_at(model, list(estimator.classes_), threshold)
        metadata[THRESHOLD_PROP] = repr(float(threshold))
    onnx.helper.set_model_props(model, metadata)
    model.doc_string = f"Sluice model {spec.name} version {version}"
    return canonical_bytes(model)


def _decide_label_at(model: onnx.ModelProto, classes: list[Any], threshold: float) -> None:
    """Rewrite a binary classifier's graph so its `label` output is classes[1] where
    probabilities[:, 1] ≥ threshold − THRESHOLD_TIE (in float32, as `decisions.decide` decides in
    float64), else classes[0]. The converter's own label is kept under another name, unused."""
    graph = model.graph
    predicted = "sluice_predicted_label"  # scikit-learn's predict, as the converter wrote it
    for node in graph.node:
        node.input[:] = [predicted if name == LABEL_OUTPUT else name for name in node.input]
        node.output[:] = [predicted if name == LABEL_OUTPUT else name for name in node.output]
    label_type = next(o.type.tensor_type.elem_type for o in graph.output if o.name == LABEL_OUTPUT)
    if label_type == onnx.TensorProto.STRING:
        names = np.asarray([str(c) for c in classes], dtype=object)
        class_tensor = onnx.numpy_helper.from_array(names, "sluice_classes")
    else:
        class_tensor = onnx.numpy_helper.from_array(np.asarray(classes, dtype=np.int64), "sluice_classes")
    graph.initializer.extend(
        [
            class_tensor,
            onnx.numpy_helper.from_array(
                np.asarray(threshold - THRESHOLD_TIE, dtype=np.float32), "sluice_threshold"
            ),
            onnx.numpy_helper.from_array(np.asarray(1, dtype=np.int64), "sluice_positive_column"),
        ]
    )
    make = onnx.helper.make_node
    graph.node.extend(
        [
            make(
                "Gather",
                [PROBABILITIES_OUTPUT, "sluice_positive_column"],
                ["sluice_positive_probability"],
                name="sluice_positive_probability",
                axis=1,
            ),
            # Less and Not, not GreaterOrEqual: converters may write opsets older than 12.
            make(
                "Less",
                ["sluice_positive_probability", "sluice_threshold"],
                ["sluice_below_threshold"],
                name="sluice_below_threshold",
            ),
            make("Not", ["sluice_below_threshold"], ["sluice_is_positive"], name="sluice_at_threshold"),
            make(
                "Cast",
                ["sluice_is_positive"],
                ["sluice_class_index"],
                name="sluice_class_index",
                to=onnx.TensorProto.INT64,
            ),
            make(
                "Gather",
                ["sluice_classes", "sluice_class_index"],
                [LABEL_OUTPUT],
                name="sluice_label",
                axis=0,
            ),
        ]
    )


def canonical_bytes(model: onnx.ModelProto) -> bytes:
    """Serialize with everything that skl2onnx leaves to chance put in a fixed order, so the same
    pipeline gives the same bytes in any process: it collects `opset_import` in a set, whose order
    follows the string hash seed (PYTHONHASHSEED), and names graphs with a uuid unless given a name."""
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    for domain, opset_version in opsets:
        model.opset_import.append(onnx.helper.make_opsetid(domain, opset_version))
    props = sorted((p.key, p.value) for p in model.metadata_props)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, dict(props))
    return model.SerializeToString(deterministic=True)


def check_parity(
    pipeline: Pipeline,
    onnx_model: bytes,
    spec: ModelSpec,
    holdout: RawTable,
    threshold: float | None = None,
) -> ParityResult:
    """Score the holdout with scikit-learn and ONNX Runtime and compare: probabilities, and labels
    against scikit-learn's decisions at `threshold` (None: its predict; see `decisions.decide`). Never
    raises for a mismatch; `passed` says whether the export may be served."""
    model = OnnxModel(onnx_model)
    outputs = model.run_table(holdout)
    matrix = model_matrix(spec, holdout)
    if spec.task.is_classification:
        expected_probabilities = pipeline.predict_proba(matrix)
        expected_labels = decide(pipeline, matrix, threshold)
        assert outputs.probabilities is not None and outputs.labels is not None
        diff = float(np.max(np.abs(outputs.probabilities - expected_probabilities))) if len(matrix) else 0.0
        agreement = float(np.mean(outputs.labels == expected_labels)) if len(matrix) else 1.0
        tolerance = PROBABILITY_TOLERANCE
        passed = diff <= tolerance and agreement >= LABEL_AGREEMENT_MIN
    else:
        expected_values = pipeline.predict(matrix)
        assert outputs.values is not None
        spread = float(np.std(expected_values)) if len(matrix) else 0.0
        tolerance = REGRESSION_RELATIVE_TOLERANCE * max(spread, 1.0)
        errors = np.abs(outputs.values.astype(np.float64) - expected_values)
        diff = float(errors.max()) if len(matrix) else 0.0
        agreement = float(np.mean(errors <= tolerance)) if len(matrix) else 1.0
        passed = diff <= tolerance
    reason = None
    if not passed:
        reason = (
            f"ONNX differs from scikit-learn on the holdout: max abs difference {diff:.3g} "
            f"(tolerance {tolerance:.3g}), label agreement {agreement:.4f} (minimum {LABEL_AGREEMENT_MIN})"
        )
    return ParityResult(
        passed=passed,
        rows=len(matrix),
        max_abs_diff=diff,
        label_agreement=agreement,
        tolerance=tolerance,
        reason=reason,
    )
