"""The standard inference protocols with a regressor (scikit-learn's diabetes data, ridge): the V2 output
is `variable`, FP32 [n, 1], and MLflow's predictions are the values /predict answers. The classifier and
the error cases are in test_inference_protocols.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from sluice.domain.data.table import to_csv_bytes
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
