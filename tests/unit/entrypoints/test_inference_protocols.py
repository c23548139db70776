"""The protocol translations on their own (no stack, no model file): Open Inference Protocol tensors to
/predict's instances and /predict's answers to output tensors, checked against tritonclient's own
encoders and decoders; MLflow's four input formats to instances. The HTTP tests with a trained model are
in tests/integration/test_inference_protocols.py."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from tritonclient.http import InferResult
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from sluice.domain.spec.model_spec import CategoricalFeature, NumericFeature
from sluice.entrypoints.api.protocols.mlflow_scoring import scoring_instances
from sluice.entrypoints.api.protocols.open_inference import (
    InferRequest,
    infer_request,
    infer_response,
    split_body,
)
from sluice.errors import InvalidRequest

FEATURES: list[NumericFeature | CategoricalFeature] = [
    NumericFeature(name="income", type="numeric", nullable=True),
    CategoricalFeature(name="segment", type="categorical", categories=["retail", "sme"]),
]
CLASSIFIER_OUTPUTS = ["label", "probabilities"]


def _problems(exc: pytest.ExceptionInfo[InvalidRequest]) -> dict[Any, str]:
    return {d["field"]: str(d["message"]) for d in exc.value.details}


def test_binary_tensors_become_instances_with_nan_as_missing() -> None:
    # Given tritonclient's binary encoding of an FP64 column (with a NaN) and a BYTES column
    income = np.array([52000.5, np.nan], dtype="<f8").tobytes()
    segment = serialize_byte_tensor(np.array([b"retail", b"sme"], dtype=np.object_)).item()
    header = {
        "id": "r-1",
        "inputs": [
            {
                "name": "income",
                "datatype": "FP64",
                "shape": [2, 1],
                "parameters": {"binary_data_size": len(income)},
            },
            {
                "name": "segment",
                "datatype": "BYTES",
                "shape": [2],
                "parameters": {"binary_data_size": len(segment)},
            },
        ],
    }
    text = json.dumps(header).encode()
    # When the body is split at the header length and read
    document, binary = split_body(text + income + segment, str(len(text)))
    request = infer_request(json.loads(document), binary, FEATURES, CLASSIFIER_OUTPUTS, max_instances=10)
    # Then the instances are /predict's, NaN being missing, and the id is kept
    assert request.instances == [{"income": 52000.5, "segment": "retail"}, {"income": None, "segment": "sme"}]
    assert request.id == "r-1" and request.outputs is None and request.binary == set()


def test_every_tensor_problem_is_named_at_once() -> None:
    # Given a numeric feature sent as BYTES and a categorical one whose binary data ends early
    segment = serialize_byte_tensor(np.array([b"retail"], dtype=np.object_)).item()[:-2]
    document = {
        "inputs": [
            {"name": "income", "datatype": "BYTES", "shape": [1], "data": ["1"]},
            {
                "name": "segment",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"binary_data_size": len(segment)},
            },
        ]
    }
    # When it is read / Then one 400 names both inputs
    with pytest.raises(InvalidRequest) as refused:
        infer_request(document, segment, FEATURES, CLASSIFIER_OUTPUTS, max_instances=10)
    assert refused.value.status == 400
    named = _problems(refused)
    assert "numeric feature takes FP32" in named["income"] and "4-byte lengths" in named["segment"]


@pytest.mark.parametrize(
    ("header_length", "body"),
    [("x", b"{}"), ("99", b"{}"), ("-1", b"{}")],
    ids=["text", "past the end", "negative"],
)
def test_a_header_length_outside_the_body_is_named(header_length: str, body: bytes) -> None:
    with pytest.raises(InvalidRequest) as refused:
        split_body(body, header_length)
    assert "Inference-Header-Content-Length" in _problems(refused)


def test_a_batch_past_the_limit_is_a_413() -> None:
    document = {
        "inputs": [
            {"name": "income", "datatype": "FP32", "shape": [3], "data": [1, 2, 3]},
            {"name": "segment", "datatype": "BYTES", "shape": [3], "data": ["sme"] * 3},
        ]
    }
    with pytest.raises(InvalidRequest) as refused:
        infer_request(document, b"", FEATURES, CLASSIFIER_OUTPUTS, max_instances=2)
    assert refused.value.status == 413


def _decoded(document: dict[str, Any], raw: bytes) -> InferResult:
    """The response as tritonclient reads it (header length given when there is binary data)."""
    text = json.dumps(document).encode()
    return InferResult.from_response_body(text + raw, header_length=len(text) if raw else None)


def test_a_regressors_answer_reads_back_in_tritonclient_binary_and_json() -> None:
    # Given /predict's answer of a regressor, one value not finite (null)
    answer = {"model": "m", "version": 3, "request_id": "r", "predictions": [1.5, None]}
    for binary in (set(), {"variable"}):
        # When it becomes output tensors, JSON or binary
        document, raw = infer_response(answer, InferRequest(instances=[], binary=binary))
        # Then tritonclient reads `variable` as [n, 1] FP32 with NaN where JSON has null
        values = _decoded(document, raw).as_numpy("variable")
        assert values.shape == (2, 1) and values[0, 0] == 1.5 and math.isnan(values[1, 0])
        assert (document["model_name"], document["model_version"], document["id"]) == ("m", "3", "r")
        assert (raw != b"") == bool(binary)


def test_a_classifiers_string_labels_are_bytes_and_probabilities_keep_their_classes() -> None:
    answer = {
        "model": "m",
        "version": 1,
        "request_id": "r",
        "predictions": ["no", "yes"],
        "classes": ["no", "yes"],
        "probabilities": [[0.75, 0.25], [0.125, 0.875]],
    }
    document, raw = infer_response(answer, InferRequest(instances=[], binary={"label", "probabilities"}))
    result = _decoded(document, raw)
    assert result.as_numpy("label").tolist() == [b"no", b"yes"]
    assert deserialize_bytes_tensor(
        raw[: document["outputs"][0]["parameters"]["binary_data_size"]]
    ).tolist() == [
        b"no",
        b"yes",
    ]
    assert result.as_numpy("probabilities").tolist() == [[0.75, 0.25], [0.125, 0.875]]
    assert json.loads(result.get_output("probabilities")["parameters"]["classes"]) == ["no", "yes"]


ROWS = [{"income": 1.0, "segment": "sme"}, {"income": 2.0, "segment": "retail"}]


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["income", "segment"], "data": [[1.0, "sme"], [2.0, "retail"]]}},
        {"dataframe_records": ROWS},
        {"instances": ROWS},
        {"inputs": {"income": [1.0, 2.0], "segment": ["sme", "retail"]}},
        {"inputs": ROWS, "params": {}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs (columnar)", "inputs (records)"],
)
def test_mlflows_formats_become_the_same_instances(body: dict[str, Any]) -> None:
    assert scoring_instances(body) == ROWS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "dataframe_split, dataframe_records, instances, inputs"),
        ({"dataframe_records": ROWS, "params": {"threshold": 0.3}}, "params"),
        ({"inputs": {"income": [1.0, 2.0], "segment": ["sme"]}}, "inputs.segment"),
        (
            {"dataframe_split": {"columns": ["income"], "data": [[1.0], [2.0]], "index": [0]}},
            "dataframe_split.index",
        ),
    ],
    ids=["no format", "params", "columns of different lengths", "index of another length"],
)
def test_mlflow_problems_name_the_key(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        scoring_instances(body)
    assert field in _problems(refused)
