"""The standard inference protocols with a regressor (scikit-learn's diabetes data, ridge): the V2 output
is `variable`, FP32 [n, 1], and MLflow's predictions are the values /predict answers. The classifier and
the error cases are in test_inference_protocols.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from sluice.app.monitoring.estimation import read_estimator
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.monitoring.estimation.window import estimate_window
from sluice.domain.spec.model_spec import parse_spec
from sluice.tools.example_data import bundled
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import ROOT, Stack
from tests.integration.test_inference_protocols import signed

MODEL = "it-protocols-regressor"


@pytest.fixture(scope="module")
def apis(stack: Stack) -> Iterator[tuple[LocalApi, LocalApi, list[dict[str, Any]]]]:
    """The diabetes example trained and promoted as MODEL; a SigV4 front, an API-key front, and three
    rows of its data as instances."""
    spec = (ROOT / "examples" / "diabetes" / "spec.yaml").read_text(encoding="utf-8")
    stack.upload(f"{MODEL}/spec.yaml", spec.replace("name: diabetes", f"name: {MODEL}").encode())
    stack.settle()
    data = bundled("diabetes")
    stack.upload(f"{MODEL}/data/first.csv", to_csv_bytes(data))
    stack.settle()
    features = [name for name in data.header if name != "target"]
    rows = [{name: float(data.columns[name][i]) for name in features} for i in range(3)]
    signed_api, keyed = stack.local.serve_api(0), stack.local.serve_api(0, auth="API_KEY")
    yield signed_api, keyed, rows
    signed_api.stop()
    keyed.stop()


def test_a_regressor_answers_variable_in_v2_and_values_in_mlflow(
    apis: tuple[LocalApi, LocalApi, list[dict[str, Any]]], stack: Stack
) -> None:
    signed_api, keyed, rows = apis
    key = {"x-api-key": stack.local.api_key}
    # Given /predict's values for three rows
    status, _, expected = signed(signed_api, "POST", f"/models/{MODEL}/predict", {"instances": rows})
    assert status == 200, expected
    client = triton.InferenceServerClient(url=keyed.url.removeprefix("http://"))
    try:
        # When tritonclient reads the metadata / Then the one output is `variable`, FP32 [-1, 1]
        metadata = client.get_model_metadata(MODEL, headers=key)
        assert metadata["outputs"] == [{"name": "variable", "datatype": "FP32", "shape": [-1, 1]}]
        # When it sends the rows as FP32 tensors (binary, its default)
        inputs = []
        for name in rows[0]:
            tensor = triton.InferInput(name, [3, 1], "FP32")
            tensor.set_data_from_numpy(np.array([[r[name]] for r in rows], dtype=np.float32))
            inputs.append(tensor)
        values = client.infer(MODEL, inputs, headers=key).as_numpy("variable")
    finally:
        client.close()
    # Then the values are /predict's, [n, 1]
    assert values.shape == (3, 1)
    assert np.allclose(values[:, 0], expected["predictions"], rtol=1e-5)
    # And MLflow's answer is the same values
    status, headers, body = signed(
        signed_api, "POST", f"/models/{MODEL}/invocations", {"dataframe_records": rows}
    )
    assert status == 200 and np.allclose(body["predictions"], expected["predictions"], rtol=1e-6)
    assert headers["x-sluice-model-version"] == str(expected["version"])


def test_the_regressors_training_stored_its_loss_models_and_they_estimate_mae_and_rmse(
    apis: tuple[LocalApi, LocalApi, list[dict[str, Any]]], stack: Stack
) -> None:
    signed_api, _, rows = apis
    # Given the production version the stack trained, and /predict's values for three rows
    alias = stack.registry.get_alias(MODEL)
    assert alias is not None
    version = stack.registry.get_version(MODEL, alias.version)
    status, _, answered = signed(signed_api, "POST", f"/models/{MODEL}/predict", {"instances": rows})
    assert status == 200
    # Then its training stored DLE's basis and both loss models (ONNX), each verified by its sha256
    assert {"estimation", "loss_mae", "loss_rmse"} <= set(version.artifacts)
    estimator = read_estimator(stack.artifacts, version.artifacts)
    assert estimator is not None and estimator.basis.method == "dle"
    # And the drift check's estimate of those rows has MAE and RMSE, each within its band, never below 0
    records = [
        {"inputs": r, "outputs": {"prediction": p}}
        for r, p in zip(rows, answered["predictions"], strict=True)
    ]
    spec = parse_spec((ROOT / "examples" / "diabetes" / "spec.yaml").read_text(encoding="utf-8"))
    estimate = estimate_window(spec, estimator, records).estimate
    assert estimate is not None and set(estimate.values) == {"mae", "rmse"} and estimate.rows == 3
    for metric, (low, high) in estimate.band.items():
        assert 0.0 <= low <= estimate.values[metric] <= high, metric
