"""The OpenAPI document in the repo is the one the API serves (regenerate with `make openapi`)."""

from __future__ import annotations

import json

from sluice.api import create_app, openapi_document
from tests.conftest import ROOT


def test_openapi_json_in_the_repo_matches_the_routes() -> None:
    served = json.loads(openapi_document(create_app()))
    kept = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    assert kept == served, "openapi.json is stale: run `make openapi`"
    assert set(served["paths"]) == {
        "/models/{model}/predict",
        "/models/{model}/feedback",
        "/models",
        "/models/{model}",
        "/openapi.json",
    }
    predict = served["paths"]["/models/{model}/predict"]["post"]
    assert "instances" in json.dumps(predict["requestBody"]) or "PredictRequest" in json.dumps(predict)
