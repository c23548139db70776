"""Type confusion in the request codecs, without a stack: every field of a valid body (the Open Inference
Protocol's infer request, JSON and binary; MLflow's four scoring formats; /predict's and /feedback's
bodies), at any depth, replaced by a JSON value of each type is either read or refused with a 400 naming
a field; never a TypeError, KeyError, ValueError or RecursionError (a 5xx behind the API). Over HTTP, with
a trained model: tests/integration/test_fuzz.py."""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sluice.app.serving.production import LabelSchema
from sluice.domain.scoring.onnx_model import feed_from_instances
from sluice.domain.spec.model_spec import CategoricalFeature, NumericFeature
from sluice.entrypoints.api.protocols.mlflow_scoring import scoring_instances
from sluice.entrypoints.api.protocols.open_inference import infer_request
from sluice.entrypoints.api.requests import feedback_request, predict_request
from sluice.errors import InvalidRequest

FEATURES: list[NumericFeature | CategoricalFeature] = [
    NumericFeature(name="income", type="numeric", nullable=True, min=0, max=1e6),
    NumericFeature(name="age", type="numeric"),
    CategoricalFeature(name="segment", type="categorical", categories=["retail", "sme"]),
    CategoricalFeature(name="region", type="categorical", categories=["north"], nullable=True),
]
OUTPUTS = ["label", "probabilities"]
ROW = {"income": 52000.0, "age": 41, "segment": "sme", "region": "north"}


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


# A value of every JSON type, and the ones that broke something once: unhashable, nested, deep, past float64
CONFUSIONS: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    1e308,
    float("inf"),
    float("nan"),
    10**400,
    "",
    "FP32",
    "x" * 300,
    [],
    {},
    [[]],
    [None],
    ["FP32"],
    [{"a": []}],
    {"a": {"b": {"c": [{}]}}},
    _deep(900),
]
Path = tuple[str | int, ...]


def _paths(document: Any, at: Path = ()) -> Iterator[Path]:
    yield at
    if isinstance(document, dict):
        for name, inner in document.items():
            yield from _paths(inner, (*at, name))
    elif isinstance(document, list):
        for index, inner in enumerate(document):
            yield from _paths(inner, (*at, index))


def _replaced(document: Any, at: Path, value: Any) -> Any:
    if not at:
        return value
    changed = copy.deepcopy(document)
    parent = changed
    for step in at[:-1]:
        parent = parent[step]
    parent[at[-1]] = value
    return changed


def _tensors(binary: bool) -> tuple[dict[str, Any], bytes]:
    """A valid infer request for one instance: nested and flat JSON data, or binary data."""
    inputs, chunks = [], []
    for i, (name, value) in enumerate(ROW.items()):
        if isinstance(value, str):
            datatype, raw = "BYTES", struct.pack("<I", len(value)) + value.encode()
        else:
            datatype, raw = "FP64", struct.pack("<d", value)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [1, 1]}
        if binary:
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor |= {"data": [[value]]} if i % 2 else {"shape": [1], "data": [value]}
        inputs.append(tensor)
    document: dict[str, Any] = {"id": "r-1", "inputs": inputs, "parameters": {"binary_data_output": binary}}
    if not binary:
        document["outputs"] = [
            {"name": "label", "parameters": {"binary_data": True}},
            {"name": "probabilities"},
        ]
    return document, b"".join(chunks)


def _infer(binary: bytes) -> Callable[[Any], None]:
    def read(document: Any) -> None:
        request = infer_request(document, binary, FEATURES, OUTPUTS, max_instances=10)
        _refused_or_fed(request.instances)

    return read


def _refused_or_fed(instances: list[Any]) -> None:
    _, problems = feed_from_instances(FEATURES, instances)
    if problems:
        raise InvalidRequest("invalid instances", [p.model_dump() for p in problems.details])


def _mlflow(document: Any) -> None:
    _refused_or_fed(scoring_instances(document))


def _predict(document: Any) -> None:
    _refused_or_fed(predict_request(document).instances)


def _feedback(document: Any) -> None:
    request = feedback_request(document)
    for schema in (LabelSchema("binary", ("0", "1")), LabelSchema("regression")):
        schema.check(request.label)


JSON_TENSORS, _ = _tensors(binary=False)
BINARY_TENSORS, BINARY_DATA = _tensors(binary=True)
SHAPES: dict[str, tuple[Callable[[Any], None], Any]] = {
    "v2 json": (_infer(b""), JSON_TENSORS),
    "v2 binary": (_infer(BINARY_DATA), BINARY_TENSORS),
    "mlflow dataframe_split": (
        _mlflow,
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())], "index": [0]}},
    ),
    "mlflow dataframe_records": (_mlflow, {"dataframe_records": [ROW]}),
    "mlflow instances": (_mlflow, {"instances": [ROW]}),
    "mlflow inputs (columnar)": (_mlflow, {"inputs": {name: [value] for name, value in ROW.items()}}),
    "mlflow inputs (records)": (_mlflow, {"inputs": [ROW], "params": {}}),
    "predict": (_predict, {"instances": [ROW]}),
    "feedback": (_feedback, {"request_id": "r-1", "instance": 0, "label": 1}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_any_field_of_any_type_is_read_or_refused_with_a_400(shape: str) -> None:
    read, valid = SHAPES[shape]
    read(valid)  # the body confused below is valid
    wrong = []
    for at in _paths(valid):
        for value in CONFUSIONS:
            what = f"{at} := {json.dumps(value)[:40]}"
            try:
                read(_replaced(valid, at, value))
            except InvalidRequest as refused:
                if refused.status not in (400, 413) or not refused.details:
                    wrong.append(f"{what}: {refused.status} without details")
            except Exception as exc:  # a 5xx behind the API
                wrong.append(f"{what}: {exc!r}"[:200])
    assert not wrong, f"{len(wrong)} not read nor refused with a 4xx:\n" + "\n".join(wrong[:20])


@pytest.mark.parametrize(
    "datatype",
    [[], {}, ["FP32"], [[]], {"FP32": 1}, _deep(900)],
    ids=["[]", "{}", '["FP32"]', "[[]]", '{"FP32": 1}', "900 levels deep"],
)
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_datatype_that_is_an_array_or_an_object_is_a_400_naming_the_input(
    datatype: Any, binary: bool
) -> None:
    # Given an infer request whose numeric and categorical inputs have a datatype that is not a string
    document, raw = _tensors(binary)
    for name in ("income", "segment"):
        next(t for t in document["inputs"] if t["name"] == name)["datatype"] = datatype
    # When it is read / Then a 400 names each input and says what its datatype must be
    with pytest.raises(InvalidRequest) as refused:
        infer_request(document, raw, FEATURES, OUTPUTS, max_instances=10)
    assert refused.value.status == 400
    named = {d["field"]: str(d["message"]) for d in refused.value.details}
    kind = "an array" if isinstance(datatype, list) else "an object"
    assert named == {
        "income": f"datatype must be a string, not {kind}: a numeric feature takes FP32 (or another numeric datatype)",
        "segment": f"datatype must be a string, not {kind}: a categorical feature takes BYTES",
    }


def test_a_missing_datatype_is_named_as_required() -> None:
    document, _ = _tensors(binary=False)
    del document["inputs"][0]["datatype"]
    with pytest.raises(InvalidRequest) as refused:
        infer_request(document, b"", FEATURES, OUTPUTS, max_instances=10)
    assert [(d["field"], d["message"]) for d in refused.value.details] == [
        ("income", "datatype is required: a numeric feature takes FP32 (or another numeric datatype)")
    ]


@pytest.mark.parametrize("params", [[], 0, False, "", [{"threshold": 0.3}]], ids=repr)
def test_mlflow_params_that_are_not_an_object_are_named(params: Any) -> None:
    with pytest.raises(InvalidRequest) as refused:
        scoring_instances({"dataframe_records": [ROW], "params": params})
    assert [(d["field"], d["message"]) for d in refused.value.details] == [
        ("params", "must be an object of inference parameters (Sluice models take none)")
    ]
