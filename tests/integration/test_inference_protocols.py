"""The standard inference protocols on the local stack, over HTTP, through the same auth as /predict: the
Open Inference Protocol (KServe V2) called by an unmodified tritonclient (the reference V2 client, from
PyPI) with binary and JSON tensors, and MLflow's scoring format. Both answer what /predict answers (same
validation, version, capture), and their errors name the field in the protocol's own shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from sluice.adapters.prediction_api import SignedClient
from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import INSTANCE, Stack
from tests.integration.local_api import delivered, signed_request

MODEL = "it-protocols"
NUMERIC = ["income", "age", "debt_ratio", "credit_lines", "months_employed"]
CATEGORICAL = ["segment", "region"]
ROWS: list[dict[str, Any]] = [
    INSTANCE,
    {**INSTANCE, "income": 18000.0, "debt_ratio": 0.9, "segment": "sme", "region": "south"},
]


@pytest.fixture(scope="module")
def signed_api(stack: Stack) -> Iterator[LocalApi]:
    """The stack's API in its default mode (SigV4), with MODEL trained and promoted (version 1)."""
    stack.train(MODEL, ("first.csv", to_csv_bytes(credit_risk(rows=400, seed=5))))
    served = stack.local.serve_api(0)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def keyed(stack: Stack, signed_api: LocalApi) -> Iterator[LocalApi]:
    """A second front on the same stack in API_KEY mode: tritonclient sends the key as a header."""
    served = stack.local.serve_api(0, auth="API_KEY")
    yield served
    served.stop()


@pytest.fixture
def client(keyed: LocalApi) -> Iterator[triton.InferenceServerClient]:
    """tritonclient as any V2 user creates it: the API's host:port (with a stage path on AWS)."""
    v2 = triton.InferenceServerClient(url=keyed.url.removeprefix("http://"))
    yield v2
    v2.close()


@pytest.fixture
def key(stack: Stack) -> dict[str, str]:
    return {"x-api-key": stack.local.api_key}


def signed(api: LocalApi, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    """One SigV4-signed JSON request: status, headers (lower-case) and JSON body."""
    response = signed_request(api, method, path, body)
    return response.status, response.headers, response.json()


def tensors(rows: list[dict[str, Any]], binary: bool = True) -> list[triton.InferInput]:
    """One input tensor per feature, [n, 1], FP32 or BYTES, as the model metadata declares them."""
    inputs = []
    for name in NUMERIC + CATEGORICAL:
        numeric = name in NUMERIC
        values = np.array(
            [[np.nan if r[name] is None else r[name]] if numeric else [r[name]] for r in rows],
            dtype=np.float32 if numeric else np.object_,
        )
        tensor = triton.InferInput(name, list(values.shape), "FP32" if numeric else "BYTES")
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_health_and_metadata_through_tritonclient(
    client: triton.InferenceServerClient, key: dict[str, str]
) -> None:
    # When an unmodified V2 client asks the server and the model about themselves, with the API key
    # Then the server is live and ready, speaks the binary extension, and the model is ready
    assert client.is_server_live(headers=key) and client.is_server_ready(headers=key)
    assert "binary_tensor_data" in client.get_server_metadata(headers=key)["extensions"]
    assert client.is_model_ready(MODEL, headers=key)
    # And its metadata has one input per feature as the ONNX contract defines it, and the ONNX outputs
    metadata = client.get_model_metadata(MODEL, headers=key)
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == (MODEL, ["1"], "onnx")
    assert {i["name"]: (i["datatype"], i["shape"]) for i in metadata["inputs"]} == {
        **{name: ("FP32", [-1, 1]) for name in NUMERIC},
        **{name: ("BYTES", [-1, 1]) for name in CATEGORICAL},
    }
    assert {o["name"]: o["datatype"] for o in metadata["outputs"]} == {
        "label": "INT64",
        "probabilities": "FP32",
    }
    # And a version that is not served is a 404 naming it; so is an unknown model; without the key a 403
    assert not client.is_model_ready(MODEL, model_version="7", headers=key)
    with pytest.raises(InferenceServerException) as unserved:
        client.get_model_metadata(MODEL, model_version="7", headers=key)
    assert unserved.value.status() == "404" and "version '7' is not served" in unserved.value.message()
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_metadata("no-such-model", headers=key)
    assert unknown.value.status() == "404"
    assert not client.is_server_live()


@pytest.mark.parametrize("binary", [True, False], ids=["binary tensors", "JSON tensors"])
def test_infer_answers_what_predict_answers(
    client: triton.InferenceServerClient, key: dict[str, str], signed_api: LocalApi, binary: bool
) -> None:
    # Given /predict's answer for two rows
    status, _, expected = signed(signed_api, "POST", f"/models/{MODEL}/predict", {"instances": ROWS})
    assert status == 200, expected
    # When tritonclient sends them as tensors (binary by default; JSON with binary_data=False) and asks
    # for binary outputs (its default) or JSON ones
    outputs = (
        None
        if binary
        else [triton.InferRequestedOutput(n, binary_data=False) for n in ("label", "probabilities")]
    )
    result = client.infer(
        MODEL, tensors(ROWS, binary), outputs=outputs, request_id=f"v2-{binary}", headers=key
    )
    # Then the labels and probabilities are /predict's, from the same version, under the request's id
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (MODEL, "1", f"v2-{binary}")
    assert result.as_numpy("label").tolist() == expected["predictions"]
    assert np.allclose(result.as_numpy("probabilities"), expected["probabilities"], atol=1e-5)
    assert result.as_numpy("probabilities").shape == (2, 2)
    assert ("binary_data_size" in result.get_output("label").get("parameters", {})) is binary


def test_a_v2_request_is_captured_with_its_version(
    client: triton.InferenceServerClient, key: dict[str, str], stack: Stack
) -> None:
    # Given the capture streams written out
    stack.local.flush_streams()
    before = delivered(stack, f"capture/{MODEL}/")
    # When a V2 request of two rows is served and the buffer interval passes
    client.infer(MODEL, tensors(ROWS), request_id="v2-captured", headers=key)
    stack.local.flush_streams()
    # Then its two instances are captured with the version, their inputs as the FP32 tensors held them
    records = [
        r for k, lines in delivered(stack, f"capture/{MODEL}/").items() if k not in before for r in lines
    ]
    captured = sorted((r for r in records if r["request_id"] == "v2-captured"), key=lambda r: r["instance"])
    as_sent = [{k: float(np.float32(v)) if k in NUMERIC else v for k, v in row.items()} for row in ROWS]
    assert [(r["version"], r["inputs"]) for r in captured] == [(1, row) for row in as_sent]


def test_bad_tensors_are_a_400_naming_each_input(
    client: triton.InferenceServerClient, key: dict[str, str], keyed: LocalApi
) -> None:
    # Given tensors with one problem each: a numeric feature sent as BYTES, a shape its data does not
    # fill, a batch of another length, an input the model does not have, and `region` left out
    inputs = {t.name(): t for t in tensors(ROWS)}
    inputs["income"] = triton.InferInput("income", [2, 1], "BYTES")
    inputs["income"].set_data_from_numpy(np.array([[b"52000"], [b"18000"]], dtype=np.object_))
    inputs["age"].set_shape([3, 1])
    debt = triton.InferInput("debt_ratio", [3, 1], "FP32")
    debt.set_data_from_numpy(np.array([[0.1], [0.2], [0.3]], dtype=np.float32))
    inputs["debt_ratio"] = debt
    colour = triton.InferInput("colour", [2, 1], "BYTES")
    colour.set_data_from_numpy(np.array([[b"red"], [b"blue"]], dtype=np.object_))
    inputs["colour"] = colour
    del inputs["region"]
    # When tritonclient sends them
    with pytest.raises(InferenceServerException) as refused:
        client.infer(MODEL, list(inputs.values()), headers=key)
    # Then a 400 in the protocol's {"error"} shape
    assert refused.value.status() == "400" and "problem(s) in the input tensors" in refused.value.message()
    # And the same tensors as JSON get the details naming every input at once
    document = {"inputs": [_json_tensor(t) for t in inputs.values()]}
    status, body = _post_json(keyed, key, f"/v2/models/{MODEL}/infer", document)
    assert status == 400
    named = {d["field"]: d["message"] for d in body["details"]}
    assert set(named) == {"income", "age", "debt_ratio", "colour", "region"}
    assert "BYTES" in named["income"] and "2 values for shape [3]" in named["age"]
    assert "has 3 instances" in named["debt_ratio"] and "not an input" in named["colour"]
    assert "is required" in named["region"]


def _json_tensor(tensor: triton.InferInput) -> dict[str, Any]:
    sent = json.loads(json.dumps(tensor._get_tensor()))  # what the client would send, as JSON data
    if "data" not in sent:
        raw = tensor._get_binary_data()
        if sent["datatype"] == "BYTES":
            values, offset = [], 0
            while offset < len(raw):
                size = int.from_bytes(raw[offset : offset + 4], "little")
                values.append(raw[offset + 4 : offset + 4 + size].decode())
                offset += 4 + size
        else:
            values = np.frombuffer(raw, dtype=np.float32).tolist()
        sent = {**sent, "data": values, "parameters": {}}
    return sent


def _post_json(api: LocalApi, headers: dict[str, str], path: str, document: Any) -> tuple[int, Any]:
    client = SignedClient(api.url, api_key=headers["x-api-key"])
    try:
        response = client.request("POST", path, document)
    finally:
        client.close()
    assert response.headers["content-type"] == "application/json"
    return response.status, response.json()


def test_values_the_model_refuses_are_named_by_instance_and_input(
    keyed: LocalApi, key: dict[str, str]
) -> None:
    # Given well-formed tensors whose values /predict would refuse: a negative income, an unknown segment
    document: dict[str, Any] = {
        "id": "v2-bad-values",
        "inputs": [
            {
                "name": n,
                "datatype": "FP32" if n in NUMERIC else "BYTES",
                "shape": [2],
                "data": [r[n] for r in ROWS],
            }
            for n in NUMERIC + CATEGORICAL
        ],
    }
    document["inputs"][0]["data"] = [-5.0, 1.0]
    document["inputs"][5]["data"] = ["retail", "martian"]
    # When they are sent / Then the same validation as /predict names each instance and feature
    status, body = _post_json(keyed, key, f"/v2/models/{MODEL}/infer", document)
    assert status == 400 and body["error"]
    assert {(d["instance"], d["field"]) for d in body["details"]} == {(0, "income"), (1, "segment")}


def test_mlflow_invocations_answer_predicts_labels_in_both_formats(signed_api: LocalApi) -> None:
    # Given /predict's answer for two rows
    _, _, expected = signed(signed_api, "POST", f"/models/{MODEL}/predict", {"instances": ROWS})
    columns = list(ROWS[0])
    payloads = {
        "dataframe_split": {
            "columns": columns,
            "data": [[r[c] for c in columns] for r in ROWS],
            "index": [0, 1],
        },
        "dataframe_records": ROWS,
    }
    for name, payload in payloads.items():
        # When the rows are sent in MLflow's format, signed
        status, headers, body = signed(signed_api, "POST", f"/models/{MODEL}/invocations", {name: payload})
        # Then the answer is MLflow's {"predictions"}: /predict's labels; the version and id in headers
        assert (status, body) == (200, {"predictions": expected["predictions"]}), name
        assert headers["x-sluice-model-version"] == str(expected["version"])
        assert headers["x-request-id"]


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        ({"rows": ROWS}, 400, "BAD_REQUEST", "rows"),
        (
            {"dataframe_records": ROWS, "dataframe_split": {}},
            400,
            "BAD_REQUEST",
            "dataframe_split, dataframe_records",
        ),
        (
            {"dataframe_split": {"columns": ["income"], "data": [[1.0, 2.0]]}},
            400,
            "BAD_REQUEST",
            "dataframe_split.data",
        ),
        ({"dataframe_records": [{**INSTANCE, "age": "old"}]}, 400, "BAD_REQUEST", "age"),
        ({"dataframe_records": [INSTANCE] * 1001}, 413, "BAD_REQUEST", "instances"),
    ],
)
def test_mlflow_errors_name_the_field_in_mlflows_shape(
    signed_api: LocalApi, payload: dict[str, Any], status: int, code: str, field: str
) -> None:
    # When a malformed scoring request is sent / Then a 4xx in MLflow's shape naming the field
    answered, _, body = signed(signed_api, "POST", f"/models/{MODEL}/invocations", payload)
    assert (answered, body["error_code"]) == (status, code), body
    assert body["message"] and field in {d["field"] for d in body["details"]}


def test_mlflow_unknown_model_is_resource_does_not_exist(signed_api: LocalApi) -> None:
    # When a model that does not exist is asked / Then MLflow's 404 code
    status, _, body = signed(
        signed_api, "POST", "/models/no-such-model/invocations", {"dataframe_records": ROWS}
    )
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert "no-such-model" in body["message"]
