"""The prediction API's routes in-process: the app PredictFunction runs (`create_app`) resolves the API
Gateway REST proxy events of `events/` against the in-memory fakes of `tests/unit/app/fakes.py` — no
moto, no HTTP server. What the routes answer (statuses, bodies, headers, each protocol's dialect) and
what they leave in the ports (captured records, labels); the same requests over signed HTTP on the local
stack are in tests/integration (docs/guides/testing.md says which to write)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from botocore.exceptions import ClientError, ReadTimeoutError

from sluice.app.ports import PredictDeps
from sluice.app.serving import production as serving
from sluice.domain.candidate import train_candidate
from sluice.domain.scoring.echo import MAX_ECHO, MAX_PROBLEMS
from sluice.entrypoints.api import create_app
from sluice.entrypoints.web.errors import MAX_ERROR_CHARS
from sluice.errors import StackError
from sluice.settings import PredictSettings
from sluice.tools.example_data import credit_risk
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_serving import INSTANCE, MODEL, SPEC, stored_labels, tamper_with, trained
from tests.unit.entrypoints.api_events import (
    api_event,
    event_body,
    for_model,
    json_body,
    send,
    v2_rows,
)

PRODUCTION = 2  # versions 1 and 2 are trained, 2 is in production: an answer's version is read, not assumed
MAX_INSTANCES = 10


@dataclass(frozen=True)
class TrainedModel:
    onnx: bytes
    card: bytes


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    """The credit-risk model (the events' model) trained once for the module: its ONNX file and card."""
    candidate = train_candidate(SPEC, credit_risk(800, seed=1), dataset_sha256="0" * 64, version="1")
    assert candidate.onnx_model is not None
    return TrainedModel(candidate.onnx_model, candidate.card.model_dump_json().encode())


@pytest.fixture
def fakes(model: TrainedModel) -> FakePorts:
    """Fresh in-memory ports holding versions 1 and 2 of the model (files and cards), 2 in production."""
    ports = FakePorts()
    for _ in range(PRODUCTION):
        trained(ports, model.onnx, card=model.card)
    ports.put_in_production(MODEL, PRODUCTION)
    return ports


def api(fakes: FakePorts, **settings: Any) -> APIGatewayRestResolver:
    """The API app as PredictFunction creates it, with its deps built from `fakes` instead of AWS."""
    read = PredictSettings(
        artifact_bucket="artifacts",
        registry_table="registry",
        capture_stream="capture",
        feedback_stream="feedback",
        **{"capture_fraction": 1.0, "max_instances": MAX_INSTANCES, **settings},
    )
    return create_app(lambda: read, deps=lambda _: fakes.predict_deps())


@pytest.fixture
def app(fakes: FakePorts) -> APIGatewayRestResolver:
    """The API on `fakes`, capturing every request (capture_fraction 1.0)."""
    return api(fakes)


# ---------------------------------------------------------------------------------------------- /predict
def test_predict_answers_with_the_version_and_request_id_and_captures_each_instance(
    app: APIGatewayRestResolver, fakes: FakePorts
) -> None:
    # Given version 2 in production, capture at 100%, and the two instances of events/api-predict.json
    event = api_event("api-predict")
    instances = event_body(event)["instances"]
    request_id = event["requestContext"]["requestId"]

    # When the route is asked
    answer = send(app, event)

    # Then it answers with the production version and API Gateway's request id, one prediction each
    assert answer.status == 200
    assert answer.json["model"] == MODEL
    assert answer.json["version"] == PRODUCTION and answer.json["request_id"] == request_id
    assert len(answer.json["predictions"]) == len(instances) == 2
    # And the sink holds one record per instance: its inputs and the prediction answered
    records = fakes.traffic.records[MODEL]
    assert [(r["request_id"], r["instance"], r["version"], r["inputs"]) for r in records] == [
        (request_id, i, PRODUCTION, instance) for i, instance in enumerate(instances)
    ]
    assert [r["outputs"]["prediction"] for r in records] == answer.json["predictions"]


def test_with_capture_off_a_prediction_writes_nothing(fakes: FakePorts) -> None:
    # Given the API with capture_fraction 0
    app = api(fakes, capture_fraction=0.0)
    # When a prediction is answered / Then the sink was never written to
    assert send(app, api_event("api-predict")).status == 200
    assert fakes.traffic.writes == [] and MODEL not in fakes.traffic.records


@pytest.mark.parametrize(
    ("body", "problems", "message"),
    [
        pytest.param({"instances": "all of them"}, [(None, "instances")], "must be a list", id="not-a-list"),
        pytest.param({"rows": [INSTANCE]}, [(None, "instances")], "is required", id="missing"),
        pytest.param(
            event_body(api_event("api-predict-invalid")),
            [(1, "colour"), (1, "income"), (1, "debt_ratio"), (1, "segment")],
            "is not an input of this model",
            id="events/api-predict-invalid",
        ),
    ],
)
def test_a_malformed_body_is_a_400_naming_each_field(
    app: APIGatewayRestResolver,
    fakes: FakePorts,
    body: Any,
    problems: list[tuple[int | None, str]],
    message: str,
) -> None:
    # When the body does not match the API, or its instances do not match the model
    answer = send(app, api_event("api-predict", **json_body(body)))
    # Then a 400 names each field (and the instance it is in); capture holds the rejection alone
    assert answer.status == 400
    assert answer.problems() == problems
    assert message in answer.json["details"][0]["message"]
    assert {p["field"] for r in fakes.traffic.records[MODEL] for p in r["rejected"]["problems"]} == {
        f for _, f in problems
    }


def test_an_error_answer_is_bounded_however_many_problems_the_body_has(app: APIGatewayRestResolver) -> None:
    # Given the most instances a request may carry, each with 30 unknown fields of 1,000 characters
    wide = {**INSTANCE, **{f"{j:03d}" + "x" * 997: 1 for j in range(30)}}
    event = api_event("api-predict", **json_body({"instances": [wide] * MAX_INSTANCES}))
    assert len(event["body"]) > 300_000

    # When it is sent
    answer = send(app, event)

    # Then the 400 names the first MAX_PROBLEMS problems, counts the others, and cuts each field name
    assert answer.status == 400
    assert len(answer.json["details"]) == MAX_PROBLEMS
    assert answer.json["truncated"] == MAX_INSTANCES * 30 - MAX_PROBLEMS
    assert answer.problems()[:2] == [
        (0, "000" + "x" * (MAX_ECHO - 3) + "…"),
        (0, "001" + "x" * (MAX_ECHO - 3) + "…"),
    ]
    # And the whole answer stays small
    assert len(answer.body) < 32 * 1024


# ------------------------------------------------------------------------ every route's unknown model
NO_SUCH_MODEL = "no model named 'no-such-model'"
SLUICE_404 = {"error": NO_SUCH_MODEL, "details": []}  # Sluice's and the Open Inference Protocol's dialect


@pytest.mark.parametrize(
    ("event_name", "expected"),
    [
        ("api-predict", SLUICE_404),
        ("api-feedback", SLUICE_404),
        ("api-show-model", SLUICE_404),
        ("api-v2-infer", SLUICE_404),
        (
            "api-mlflow-invocations",
            {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": NO_SUCH_MODEL, "details": []},
        ),
    ],
)
def test_an_unknown_model_is_a_404_in_json_on_every_route(
    app: APIGatewayRestResolver, event_name: str, expected: dict[str, Any]
) -> None:
    # When a route is asked about a model the registry has never heard of
    answer = send(app, for_model(event_name, "no-such-model"))
    # Then a JSON 404 names the model, in the dialect of the route's protocol
    assert answer.status == 404
    assert answer.json == expected


# ------------------------------------------------------------------- the exception → status mapping
Arrange = Callable[[FakePorts, pytest.MonkeyPatch], None]


def as_is(fakes: FakePorts, monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 2 in production, as the `fakes` fixture leaves it."""


def nothing_in_production(fakes: FakePorts, monkeypatch: pytest.MonkeyPatch) -> None:
    del fakes.registry.aliases[MODEL]


def tampered(fakes: FakePorts, monkeypatch: pytest.MonkeyPatch) -> None:
    """The production model's file no longer matches its recorded sha256 (and none is loaded yet)."""
    tamper_with(fakes, PRODUCTION)


def registry_raising(error: Exception) -> Arrange:
    """The registry fails every read of the production alias with `error`."""

    def arrange(fakes: FakePorts, monkeypatch: pytest.MonkeyPatch) -> None:
        def get_alias(model: str) -> None:
            raise error

        monkeypatch.setattr(fakes.registry, "get_alias", get_alias)

    return arrange


TABLE = "sluice-prod-RegistryTable-1A2B3C"  # a resource name the adapter's message carries
REJECTED_AS = {400: ["malformed_body"], 413: ["too_many_instances"], 415: ["malformed_body"]}


@pytest.mark.parametrize(
    ("arrange", "event", "status", "error"),
    [
        pytest.param(
            as_is, api_event("api-predict", body="{"), 400, "the body is not valid JSON", id="InvalidRequest"
        ),
        pytest.param(
            as_is,
            api_event("api-predict", **json_body({"instances": [INSTANCE] * (MAX_INSTANCES + 1)})),
            413,
            f"too many instances: {MAX_INSTANCES + 1} > {MAX_INSTANCES}",
            id="InvalidRequest-too-many",
        ),
        pytest.param(
            as_is,
            api_event("api-predict", headers={"content-type": "text/csv"}),
            415,
            "the body must be JSON",
            id="InvalidRequest-not-json",
        ),
        pytest.param(
            as_is, api_event("api-predict-unknown-model"), 404, "no model named", id="ModelNotFound"
        ),
        pytest.param(
            nothing_in_production,
            api_event("api-predict"),
            404,
            "no version in production",
            id="NoProductionVersion",
        ),
        pytest.param(
            tampered, api_event("api-predict"), 503, "failed its integrity check", id="ModelUnavailable"
        ),
        pytest.param(
            registry_raising(StackError(f"GetItem on {TABLE}: throttled", code="ThrottlingException")),
            api_event("api-predict"),
            503,
            "failed (ThrottlingException); send the request again",
            id="StackError",
        ),
        pytest.param(
            registry_raising(
                ClientError({"Error": {"Code": "InternalServerError", "Message": TABLE}}, "GetItem")
            ),
            api_event("api-predict"),
            503,
            "failed (InternalServerError); send the request again",
            id="ClientError",
        ),
        pytest.param(
            registry_raising(
                ReadTimeoutError(endpoint_url=f"https://dynamodb.us-east-1.amazonaws.com/{TABLE}")
            ),
            api_event("api-predict"),
            503,
            "failed (ReadTimeoutError); send the request again",
            id="BotoCoreError",
        ),
    ],
)
def test_each_error_maps_to_its_status_with_a_bounded_json_body(
    fakes: FakePorts,
    monkeypatch: pytest.MonkeyPatch,
    arrange: Arrange,
    event: dict[str, Any],
    status: int,
    error: str,
) -> None:
    # Given the ports in the state that makes the request fail
    arrange(fakes, monkeypatch)
    # When /predict is asked
    answer = send(api(fakes), event)
    # Then the status errors.py maps the error to, a JSON error saying why (never the AWS resource's
    # name), Retry-After on a 503 only, and nothing scored: a 4xx is captured as a rejection of its kind
    assert answer.status == status
    assert error in answer.json["error"] and len(answer.json["error"]) <= MAX_ERROR_CHARS + 1
    assert TABLE not in answer.body
    assert answer.headers.get("retry-after") == ("1" if status == 503 else None)
    kinds = [p["kind"] for r in fakes.traffic.records.get(MODEL, []) for p in r["rejected"]["problems"]]
    assert kinds == REJECTED_AS.get(status, [])


# ----------------------------------------------------------------------------------------------- feedback
def test_feedback_is_accepted_and_recorded(app: APIGatewayRestResolver, fakes: FakePorts) -> None:
    # Given a prediction, and the label events/api-feedback.json sends for its first instance
    predicted = send(app, api_event("api-predict"))
    feedback = api_event("api-feedback")
    sent = event_body(feedback)
    assert (sent["request_id"], sent["instance"], sent["label"]) == (predicted.json["request_id"], 0, 1)

    # When the feedback route is asked
    answer = send(app, feedback)

    # Then it is accepted and the label is in the feedback sink, for that request and instance
    assert answer.status == 200
    assert answer.json == {"model": MODEL, "request_id": sent["request_id"], "instance": 0}
    assert stored_labels(fakes) == [(sent["request_id"], 0, 1)]
    # And a label that is not one of the model's classes is a 400 naming it, and is not recorded
    refused = send(app, api_event("api-feedback", **json_body({**sent, "label": 2})))
    assert refused.status == 400 and refused.problems() == [(None, "label")]
    assert stored_labels(fakes) == [(sent["request_id"], 0, 1)]


# ----------------------------------------------------------------------------- the inference protocols
def test_the_v2_and_mlflow_routes_answer_what_predict_answers(app: APIGatewayRestResolver) -> None:
    # Given the same two rows as an MLflow dataframe_split, as Open Inference tensors and as /predict's
    # instances
    mlflow_event = api_event("api-mlflow-invocations")
    v2_event = api_event("api-v2-infer")
    split = event_body(mlflow_event)["dataframe_split"]
    instances = [dict(zip(split["columns"], row, strict=True)) for row in split["data"]]
    assert v2_rows(v2_event) == instances

    # When each route is asked
    predicted = send(app, api_event("api-predict", **json_body({"instances": instances})))
    mlflow = send(app, mlflow_event)
    v2 = send(app, v2_event)

    # Then /predict tells the rows apart (so the comparison could fail) ...
    assert predicted.status == mlflow.status == v2.status == 200
    expected = predicted.json
    assert expected["probabilities"][0] != expected["probabilities"][1]
    # ... MLflow answers its predictions, with the version and request id in headers
    assert mlflow.json == {"predictions": expected["predictions"]}
    # ... and Open Inference its labels and probabilities as output tensors
    outputs = {tensor["name"]: tensor["data"] for tensor in v2.json["outputs"]}
    assert outputs["label"] == expected["predictions"]
    assert outputs["probabilities"] == pytest.approx(
        [p for row in expected["probabilities"] for p in row], abs=1e-6
    )
    assert v2.json["model_version"] == str(PRODUCTION)
    for answer in (mlflow, v2):
        assert answer.headers["x-sluice-model-version"] == str(expected["version"])
        assert answer.headers["x-request-id"] == expected["request_id"]


# ------------------------------------------------------------------------------------------ the models
def test_the_models_listing_names_each_model_with_its_production_version(
    app: APIGatewayRestResolver, fakes: FakePorts, model: TrainedModel
) -> None:
    # Given a third version trained but not promoted, and a second model with nothing in production
    trained(fakes, model.onnx)
    fakes.train_version("wine", {serving.MODEL_ARTIFACT: ("model.onnx", model.onnx)})

    # When the listing route is asked
    answer = send(app, api_event("api-list-models"))

    # Then each model is listed with its production and latest versions
    assert answer.status == 200
    assert answer.json == {
        "models": [
            {"model": MODEL, "production_version": PRODUCTION, "latest_version": 3, "versions": 3},
            {"model": "wine", "production_version": None, "latest_version": 1, "versions": 1},
        ]
    }


def test_a_model_is_shown_as_its_production_version(app: APIGatewayRestResolver, fakes: FakePorts) -> None:
    # When the model route is asked about the events' model
    answer = send(app, api_event("api-show-model"))
    # Then it shows the production version, the sha256 of the file it serves and the model's inputs
    assert answer.status == 200
    record = fakes.registry.get_version(MODEL, PRODUCTION)
    assert answer.json["version"] == answer.json["production"]["version"] == PRODUCTION
    assert answer.json["production"]["model_sha256"] == record.artifacts[serving.MODEL_ARTIFACT].sha256
    assert [f["name"] for f in answer.json["input_schema"]] == [f.name for f in SPEC.features]
    assert "s3://" not in answer.body  # no internals


# ------------------------------------------------------------------------------------------ the seam
def test_the_app_builds_its_deps_on_first_use_and_keeps_them(fakes: FakePorts) -> None:
    # Given an app whose deps are built by a function that counts its calls
    settings = PredictSettings(
        artifact_bucket="artifacts", registry_table="registry", capture_stream="c", feedback_stream="f"
    )
    built: list[PredictSettings] = []

    def deps(read: PredictSettings) -> PredictDeps:
        built.append(read)
        return fakes.predict_deps()

    app = create_app(lambda: settings, deps=deps)
    # When it is created, and answers a route that needs no port / Then nothing is built
    assert (
        send(app, api_event("api-list-models", path="/v2/health/live", resource="/v2/health/live")).status
        == 200
    )
    assert built == []
    # When routes need the ports / Then they are built once, from the app's settings, and kept
    assert send(app, api_event("api-list-models")).status == 200
    assert send(app, api_event("api-predict")).status == 200
    assert built == [settings]
