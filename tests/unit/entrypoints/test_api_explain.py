"""POST /models/{model}/explain in-process (events/api-explain.json) on the in-memory fakes: what it
answers for a version with a background, one trained before backgrounds, and a request /predict would
refuse. The same route over signed HTTP on the local stack: tests/integration/test_explain.py."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from sluice.app.serving import explain as explaining
from sluice.app.serving import production as serving
from sluice.domain.candidate import train_candidate
from sluice.domain.explain.background import BACKGROUND_ARTIFACT, BACKGROUND_FILE, background_sample
from sluice.entrypoints.api import create_app
from sluice.settings import PredictSettings
from sluice.tools.example_data import credit_risk
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_serving import MODEL, SPEC
from tests.unit.entrypoints.api_events import api_event, event_body, json_body, send

MAX_INSTANCES = 10


@pytest.fixture(scope="module")
def files() -> dict[str, tuple[str, bytes]]:
    """A trained credit-risk version's model file and background, trained once for the module."""
    table = credit_risk(800, seed=1)
    candidate = train_candidate(SPEC, table, dataset_sha256="0" * 64, version="1")
    assert candidate.onnx_model is not None
    return {
        serving.MODEL_ARTIFACT: ("model.onnx", candidate.onnx_model),
        BACKGROUND_ARTIFACT: (BACKGROUND_FILE, background_sample(SPEC, table)),
    }


def app_serving(files: dict[str, tuple[str, bytes]]) -> APIGatewayRestResolver:
    fakes = FakePorts()
    fakes.train_version(MODEL, files, spec_sha256=SPEC.sha256)
    fakes.put_in_production(MODEL, 1)
    settings = PredictSettings(
        artifact_bucket="artifacts",
        registry_table="registry",
        capture_stream="capture",
        feedback_stream="feedback",
        max_instances=MAX_INSTANCES,
    )
    return create_app(lambda: settings, deps=lambda _: fakes.predict_deps())


def explain(app: APIGatewayRestResolver, body: Any = None) -> tuple[int, dict[str, Any]]:
    event = api_event("api-explain", **(json_body(body) if body is not None else {}))
    answer = send(app, event)
    return answer.status, answer.json


def test_each_instance_gets_contributions_that_add_up_to_its_prediction(
    files: dict[str, tuple[str, bytes]],
) -> None:
    # Given the production version with its background; When the event's two instances are explained
    app = app_serving(files)
    status, body = explain(app)
    # Then the answer is /predict's, plus one explanation per instance
    assert status == 200, body
    predicted = send(app, api_event("api-predict")).json
    assert {k: body[k] for k in ("model", "version", "predictions", "classes", "probabilities")} == {
        k: predicted[k] for k in ("model", "version", "predictions", "classes", "probabilities")
    }
    instances = event_body(api_event("api-explain"))["instances"]
    assert len(body["explanations"]) == len(instances)
    for explanation, prediction, probabilities in zip(
        body["explanations"], body["predictions"], body["probabilities"], strict=True
    ):
        # the predicted class's probability is what is explained, and the contributions add up to it
        assert explanation["prediction"] == prediction and explanation["method"] == "exact"
        column = body["classes"].index(prediction)
        assert abs(explanation["output"] - probabilities[column]) < 1e-6
        total = explanation["base_value"] + sum(explanation["contributions"].values())
        assert abs(total - explanation["output"]) < 1e-6
        assert list(explanation["contributions"]) == [f.name for f in SPEC.features]
        # and the three largest read as sentences, largest first
        largest = sorted(explanation["contributions"], key=lambda n: -abs(explanation["contributions"][n]))
        assert len(explanation["sentences"]) == 3
        assert all(
            s.startswith(name + " ") for s, name in zip(explanation["sentences"], largest, strict=False)
        )
        assert "the probability of" in explanation["sentences"][0]
        assert "error_bound" not in explanation


def test_a_version_trained_before_backgrounds_gets_a_409_naming_it(
    files: dict[str, tuple[str, bytes]],
) -> None:
    # Given a production version stored without a background (as versions were before this feature)
    app = app_serving({serving.MODEL_ARTIFACT: files[serving.MODEL_ARTIFACT]})
    # When it is asked to explain / Then a 409 says which version and what to do, never a 5xx
    status, body = explain(app)
    assert status == 409, body
    assert "version 1 has no background sample" in body["error"] and "retrain" in body["error"]
    # And /predict still serves it
    assert send(app, api_event("api-predict")).status == 200


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"instances": [{"income": "lots"}]}, 400, "problem(s) in the instances"),
        ({"rows": []}, 400, "does not match the API"),
        ({"instances": [{}] * (MAX_INSTANCES + 1)}, 413, "too many instances"),
    ],
)
def test_it_refuses_what_predict_refuses(
    files: dict[str, tuple[str, bytes]], body: Any, status: int, error: str
) -> None:
    got, answer = explain(app_serving(files), body)
    assert got == status and error in answer["error"], answer


def test_more_work_than_a_request_may_take_is_a_413_saying_how_many_to_send(
    files: dict[str, tuple[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a budget of model rows that two instances exceed (one fits)
    monkeypatch.setattr(explaining, "MAX_EXPLAIN_ROWS", 16 * 2**7 + 1)
    # When the event's two instances are explained / Then a 413 says to send one at a time
    status, body = explain(app_serving(files))
    assert status == 413, body
    assert body["details"][0]["message"] == "send at most 1 per /explain request"


def test_above_the_exact_limit_the_answer_states_its_method_and_error_bound(
    files: dict[str, tuple[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a model with more features than the exact method's limit (the limit lowered below 7)
    from sluice.domain.explain import shapley

    monkeypatch.setattr(shapley, "EXACT_MAX_FEATURES", 3)
    # When it is asked to explain / Then each answer is a seeded permutation estimate with its bound,
    # and still adds up
    status, body = explain(app_serving(files))
    assert status == 200, body
    for explanation in body["explanations"]:
        assert explanation["method"] == "permutation" and explanation["error_bound"] > 0
        total = explanation["base_value"] + sum(explanation["contributions"].values())
        assert abs(total - explanation["output"]) < 1e-6
    assert explain(app_serving(files))[1]["explanations"] == body["explanations"]
