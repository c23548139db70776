"""The OpenAPI document in the repo is the one the API serves (regenerate with `make openapi`)."""

from __future__ import annotations

import json
import re

from sluice.entrypoints.api import create_app, openapi_document
from tests.conftest import ROOT


def test_openapi_json_in_the_repo_matches_the_routes() -> None:
    served = json.loads(openapi_document(create_app()))
    kept = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    assert kept == served, "openapi.json is stale: run `make openapi`"
    # Every route the template gives PredictFunction is documented, with its method; only the
    # dashboard's linked pages (`/dashboard/{key+}`, a greedy path Powertools routes by regex) are not
    declared = {
        (path, method)
        for path, method in re.findall(
            r'RestApiId: !Ref PredictionApi, Path: "?([^",]+)"?, Method: (\w+)',
            (ROOT / "template.yaml").read_text(encoding="utf-8"),
        )
    }
    documented = {(path, method) for path, methods in served["paths"].items() for method in methods}
    # /console… are ConsoleFunction's (the console's page and JSON API, behind Cognito), not this API's
    console = {(path, method) for path, method in declared if path.startswith("/console")}
    assert console == {
        ("/console", "get"),
        ("/console/assets/{asset}", "get"),
        ("/console/api/sign-in", "post"),
        ("/console/api/{proxy+}", "any"),
    }
    assert documented == declared - {("/dashboard/{key+}", "get")} - console
    assert {"/v2/models/{model}/infer", "/models/{model}/invocations", "/dashboard"} <= set(served["paths"])
    predict = served["paths"]["/models/{model}/predict"]["post"]
    assert "instances" in json.dumps(predict["requestBody"]) or "PredictRequest" in json.dumps(predict)


def test_openapi_documents_every_status_the_api_answers() -> None:
    served = json.loads(openapi_document(create_app()))
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    expected = {
        ("/models/{model}/predict", "post"): {200, 400, 403, 404, 413, 415, 503},
        ("/models/{model}/feedback", "post"): {200, 400, 403, 404, 415, 503},
        ("/models", "get"): {200, 403},
        ("/models/{model}", "get"): {200, 403, 404, 503},
    }
    for (path, method), statuses in expected.items():
        responses = served["paths"][path][method]["responses"]
        # Then each status is documented, none that the API never answers (Powertools' 422)
        assert {int(status) for status in responses} == statuses, path
        for status in statuses - {200, 403}:
            assert responses[str(status)]["content"]["application/json"]["schema"] == error
        # And 403 is API Gateway's own answer, {"message": ...}
        forbidden = responses["403"]["content"]["application/json"]["schema"]
        assert set(forbidden["properties"]) == {"message"}
    schemas = served["components"]["schemas"]
    assert {"error", "details", "truncated"} <= set(schemas["ErrorResponse"]["properties"])
    assert "pattern" in schemas["FeedbackRequest"]["properties"]["request_id"]
    assert "HTTPValidationError" not in schemas
    # And the public model view has no S3 locations or execution ARNs
    assert not {"artifacts", "execution_arn", "dataset_uri"} & set(schemas["ProductionVersion"]["properties"])
