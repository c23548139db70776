"""PredictFunction's cold start imports only what a prediction needs (docs/benchmarks.md, cold start):
the routers of LAZY_ROUTERS are not imported until a request under their path finds no other route, then
answer it through the app's one exception → status mapping; no pydantic-settings, dotenv, YAML or boto3
at start; in Lambda, init creates the clients a prediction uses, so the first request creates none.
No timing here: what is imported, and what answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sluice.entrypoints.api import LAZY_ROUTERS, create_app, openapi_document
from sluice.entrypoints.api.routing import under
from sluice.settings import PredictSettings
from tests.unit.app.fakes import FakePorts
from tests.unit.child_handler import PREDICT_VARIABLES, run_child
from tests.unit.entrypoints.api_events import api_event, send

# What a cold start must not import: each lazy router and what only it uses, pydantic-settings and what it
# imports, YAML (specs are read from the ONNX metadata), boto3 (Powertools' idempotency, IngestFunction's)
NOT_AT_START = [
    *LAZY_ROUTERS,
    "sluice.app.registry.dashboard",
    "sluice.app.registry.catalog",
    "pydantic_settings",
    "dotenv",
    "yaml",
    "boto3",
    "sluice.adapters.idempotency",
]

CHILD = """
import json, os, sys
sys.path.insert(0, FUNCTION)
import app
from sluice import adapters

NOT_AT_START = NOT_AT_START_LIST
LAZY = LAZY_LIST


class Context:
    function_name = "PredictFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id = "cold"
    function_version = "$LATEST"

    def get_remaining_time_in_millis(self):
        return 10_000


event = json.loads(open(EVENT).read())


def get(path):
    request = dict(event, path=path, resource=path, httpMethod="GET", pathParameters=None)
    answer = app.lambda_handler(request, Context())
    return {"status": answer["statusCode"], "body": json.loads(answer["body"])}


result = {
    "at_start": sorted(m for m in NOT_AT_START if m in sys.modules),
    "client_count": adapters._client.cache_info().currsize,
    "botocore_client": "botocore.client" in sys.modules,
}
created = adapters._client.cache_info().misses
answers = {}
for path in ("/nothing", "/models", "/dashboard", "/models/credit-risk/nothing"):
    answers[path] = get(path)
    answers[path]["included"] = sorted(m for m in LAZY if m in sys.modules)
result["answers"] = answers
result["clients_created_by_requests"] = adapters._client.cache_info().misses - created
print(json.dumps(result))
"""


def cold_start(tmp_path: Path, **env: str) -> dict[str, Any]:
    """Import functions/predict/app.py in a new process as Lambda's init does, then GET a few paths;
    AWS is a closed port (every call fails at once: the API answers 503)."""
    code = CHILD.replace("NOT_AT_START_LIST", repr(NOT_AT_START)).replace(
        "LAZY_LIST", repr(list(LAZY_ROUTERS))
    )
    return run_child(
        code,
        {
            **PREDICT_VARIABLES,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard: nothing listens, connections are refused
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction",
            "POWERTOOLS_TRACE_DISABLED": "true",
            **env,
        },
        tmp_path,
    )


def test_a_cold_start_imports_no_lazy_router_and_each_answers_on_first_use(tmp_path: Path) -> None:
    # Given PredictFunction's handler imported as Lambda's init imports it (capture off)
    document = cold_start(tmp_path, CAPTURE_FRACTION="0")

    # Then none of the lazy routers, nor pydantic-settings, YAML or boto3, was imported
    assert document["at_start"] == []
    # When a path no route answers comes first / Then it is a 404, and no router under another path loaded
    nothing = document["answers"]["/nothing"]
    assert nothing["status"] == 404 and nothing["included"] == []
    # When GET /models comes / Then the models router is included, routes it, and the registry's failure
    # is mapped to a 503 like any route's (the dashboard router is still not imported)
    models = document["answers"]["/models"]
    assert models["status"] == 503 and "error" in models["body"]
    assert models["included"] == sorted(m for m, prefix in LAZY_ROUTERS.items() if prefix == "/models")
    # And GET /dashboard includes the dashboard's router, which answers the same way
    dashboard = document["answers"]["/dashboard"]
    assert dashboard["status"] == 503
    assert dashboard["included"] == sorted(LAZY_ROUTERS)
    # And an unknown path under an included prefix is still the API's 404
    assert document["answers"]["/models/credit-risk/nothing"]["status"] == 404


def test_lambda_init_creates_the_clients_a_prediction_uses_and_requests_create_none(tmp_path: Path) -> None:
    # Given the handler imported as Lambda's init imports it, at the template's capture fraction
    document = cold_start(tmp_path, CAPTURE_FRACTION="0.1")

    # Then init created the registry's and the artifact store's clients (DynamoDB, S3); captured
    # requests go to the capture extension, so Firehose's client waits for a label (or the fallback)
    assert document["botocore_client"] is True
    assert document["client_count"] == 2
    # And the requests that reached AWS (the models listing, the dashboard) created no client
    assert document["clients_created_by_requests"] == 0


def test_outside_lambda_the_handler_module_imports_without_creating_clients(tmp_path: Path) -> None:
    # Given the handler module imported by a tool or a test (no AWS_LAMBDA_FUNCTION_NAME, no variables)
    document = run_child(
        """
import json, sys
sys.path.insert(0, FUNCTION)
import app
from sluice import adapters
print(json.dumps({"clients": adapters._client.cache_info().currsize, "botocore": "botocore.client" in sys.modules}))
""",
        {},
        tmp_path,
    )
    # Then nothing was built: its settings are read when a request first needs them
    assert document == {"clients": 0, "botocore": False}


# ------------------------------------------------------------------------------ in-process, on the fakes
def test_a_lazy_router_is_included_by_the_first_request_under_its_path() -> None:
    fakes = FakePorts()  # no model: the listing is empty, the predictions 404
    settings = PredictSettings(
        artifact_bucket="artifacts", registry_table="registry", capture_stream="c", feedback_stream="f"
    )
    app = create_app(lambda: settings, deps=lambda _: fakes.predict_deps())
    # Given a new app: its lazy routers are pending
    assert app.lazy_routers == LAZY_ROUTERS
    # When a prediction route and a path nobody answers are requested / Then none is included
    assert send(app, api_event("api-predict")).status == 404
    assert send(app, api_event("api-list-models", path="/elsewhere", resource="/elsewhere")).status == 404
    assert app.lazy_routers == LAZY_ROUTERS
    # When GET /models comes / Then the models router is included and answers it
    listing = send(app, api_event("api-list-models"))
    assert listing.status == 200 and listing.json == {"models": []}
    assert set(app.lazy_routers) == {m for m, prefix in LAZY_ROUTERS.items() if prefix != "/models"}
    # And the OpenAPI document includes every router first, so it documents every route
    document = json.loads(openapi_document(app))
    assert app.lazy_routers == {}
    assert {"/models", "/models/{model}", "/dashboard"} <= set(document["paths"])
    assert list(document["paths"]) == sorted(document["paths"])


@pytest.mark.parametrize("module", sorted(LAZY_ROUTERS))
def test_every_route_of_a_lazy_router_is_under_its_prefix(module: str) -> None:
    # (a route outside its prefix would never be reached: nothing would include its router for it)
    import importlib

    router = importlib.import_module(module).router
    rules = [key[0] for key in router._routes]  # Powertools' Router: (rule, methods, ...) → handler
    assert rules
    for rule in rules:
        assert under(rule, LAZY_ROUTERS[module]), f"{module}: {rule} is not under {LAZY_ROUTERS[module]}"


def test_under_matches_the_prefix_and_the_paths_below_it_only() -> None:
    assert under("/models", "/models") and under("/models/x", "/models")
    assert not under("/modelsx", "/models") and not under("/v2/models", "/models")


# ------------------------------------------------------------------------------ settings without pydantic-settings
def test_settings_read_the_environment_like_pydantic_settings() -> None:
    environ = {
        "ARTIFACT_BUCKET": "artifacts",
        "registry_table": "registry",  # any case, as pydantic-settings read them (case_sensitive=False)
        "CAPTURE_STREAM": "capture",
        "FEEDBACK_STREAM": "feedback",
        "CAPTURE_FRACTION": "0.25",  # strings, validated and converted by the field's type
        "UNRELATED": "ignored",
    }
    settings = PredictSettings.from_env(environ)
    assert (settings.artifact_bucket, settings.registry_table) == ("artifacts", "registry")
    assert settings.capture_fraction == 0.25 and settings.max_instances == 1000  # a default
    assert PredictSettings.from_env(environ, max_instances=5).max_instances == 5  # values override
    with pytest.raises(ValidationError) as invalid:
        PredictSettings.from_env({**environ, "CAPTURE_FRACTION": "2"})
    assert [e["loc"] for e in invalid.value.errors()] == [("capture_fraction",)]
    with pytest.raises(ValidationError) as missing:
        PredictSettings.from_env({k: v for k, v in environ.items() if k != "CAPTURE_STREAM"})
    assert [(e["loc"], e["type"]) for e in missing.value.errors()] == [(("capture_stream",), "missing")]
    with pytest.raises(ValidationError):  # frozen, as before
        settings.max_instances = 1  # type: ignore[misc]


def test_the_settings_import_neither_asyncio_nor_dotenv_nor_argparse(tmp_path: Path) -> None:
    # Given a new process that imports the settings and the adapters' client factory (every function does)
    document = run_child(
        """
import json, sys
from sluice import adapters, settings
settings.PredictSettings.from_env({"ARTIFACT_BUCKET": "abc", "REGISTRY_TABLE": "abc", "CAPTURE_STREAM": "c", "FEEDBACK_STREAM": "f"})
adapters.AwsSettings.from_env()
imported = sorted(m for m in ("asyncio", "dotenv", "argparse", "pydantic_settings") if m in sys.modules)
print(json.dumps({"imported": imported}))
""",
        {},
        tmp_path,
    )
    # Then none of what pydantic-settings imported is there (a Lambda process still imports asyncio:
    # Powertools' event handler package does, for its AppSync resolver)
    assert document == {"imported": []}
