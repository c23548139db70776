"""The prediction API on the local stack: over HTTP like `sam local start-api`, the real handler behind
it, the model the state machine promoted, and capture (the scheduled drift check: test_drift_check.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.adapters.identity import caller_principal
from sluice.app.registry.catalog import rollback
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import AuditEvent, EventType
from sluice.tools.example_data import credit_risk
from sluice.tools.local.api.gateway import LocalApi, Route, proxy_event
from sluice.tools.local.firehose.buffers import delivery
from tests.integration.conftest import INSTANCE, Stack, spec_text
from tests.integration.local_api import delivered, delivered_request_ids, signed_request

MODEL = "it-serve"


def http(
    api: LocalApi, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    response = signed_request(
        api, method, path, data, {"Content-Type": content_type} if data is not None else {}
    )
    return response.status, response.json()


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    """The stack's API over HTTP on a free port, with MODEL trained and promoted (version 1)."""
    stack.train(MODEL, ("first.csv", to_csv_bytes(credit_risk(rows=600, seed=11))))
    served = stack.local.serve_api(0)
    yield served
    served.stop()


def predict(api: LocalApi, instances: list[Any], model: str = MODEL) -> tuple[int, Any]:
    return http(api, "POST", f"/models/{model}/predict", {"instances": instances})


def test_a_valid_request_is_scored_by_the_production_version(api: LocalApi) -> None:
    status, body = predict(api, [INSTANCE, {**INSTANCE, "age": None, "region": None}])
    assert status == 200, body
    assert body["model"] == MODEL and body["version"] == 1
    assert body["classes"] == [0, 1]
    assert all(abs(sum(p) - 1) < 1e-5 for p in body["probabilities"])
    assert body["predictions"] == [
        body["classes"][max(range(2), key=p.__getitem__)] for p in body["probabilities"]
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"instances=1", "application/x-www-form-urlencoded", 415, "must be JSON"),
        (b"hello", "text/plain", 415, "must be JSON"),
        ({"instances": []}, "application/json", 400, "no instances"),
        ([INSTANCE], "application/json", 400, "does not match the API"),
        ({"rows": [INSTANCE]}, "application/json", 400, "does not match the API"),
        ({"instances": [INSTANCE] * 1001}, "application/json", 413, "too many instances"),
    ],
)
def test_malformed_requests_get_a_clear_4xx(
    api: LocalApi, body: Any, content_type: str, status: int, error: str
) -> None:
    got, answer = http(api, "POST", f"/models/{MODEL}/predict", body, content_type)
    assert got == status, answer
    assert error in answer["error"]
    assert isinstance(answer["details"], list)


def test_every_problem_of_every_instance_is_named_together(api: LocalApi) -> None:
    bad = [
        {**INSTANCE, "income": "lots"},
        {**INSTANCE, "age": 7, "segment": "bank"},
        {k: v for k, v in INSTANCE.items() if k != "debt_ratio"},
        {**INSTANCE, "debt_ratio": None, "colour": "red"},
        "not an object",
        {**INSTANCE, "credit_lines": True},
        {**INSTANCE, "income": 1e39},
    ]
    status, body = predict(api, [INSTANCE, *bad])
    assert status == 400
    assert {(d["instance"], d["field"]) for d in body["details"]} == {
        (1, "income"),
        (2, "age"),
        (2, "segment"),
        (3, "debt_ratio"),
        (4, "debt_ratio"),
        (4, "colour"),
        (5, None),
        (6, "credit_lines"),
        (7, "income"),
    }


def test_unknown_model_and_model_without_production_version_are_404(api: LocalApi, stack: Stack) -> None:
    status, body = predict(api, [INSTANCE], model="nobody")
    assert status == 404 and "no model named" in body["error"]
    # Given a model whose spec is registered but which has no production version yet
    stack.upload("it-spec-only/spec.yaml", spec_text("it-spec-only").encode())
    stack.settle()
    status, body = predict(api, [INSTANCE], model="it-spec-only")
    assert status == 404 and "no version in production" in body["error"]
    # And a path with no route is API Gateway's 403 "Missing Authentication Token", even when signed
    assert http(api, "GET", "/nowhere") == (403, {"message": "Missing Authentication Token"})


def test_models_routes_describe_the_production_version(api: LocalApi) -> None:
    status, listing = http(api, "GET", "/models")
    assert status == 200
    assert {"model": MODEL, "production_version": 1}.items() <= next(
        m for m in listing["models"] if m["model"] == MODEL
    ).items()
    status, detail = http(api, "GET", f"/models/{MODEL}")
    assert status == 200
    assert detail["version"] == 1
    assert detail["input_schema"][5] == {
        "name": "segment",
        "type": "categorical",
        "categories": ["retail", "sme", "corporate"],
        "nullable": False,
    }
    assert detail["production"]["metrics"]["roc_auc"] > 0.6
    assert len(detail["production"]["model_sha256"]) == 64  # public view: hashes, no S3 locations


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | JSON
INSTANCES = st.dictionaries(st.sampled_from([*INSTANCE, "other"]), FIELD_VALUES, max_size=9)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        JSON.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=60),
        st.lists(INSTANCES, max_size=5).map(
            lambda xs: json.dumps({"instances": xs}, allow_nan=True).encode()
        ),
    ),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/csv", ""]),
)
def test_no_client_input_causes_a_5xx(stack: Stack, api: LocalApi, body: bytes, content_type: str) -> None:
    # Given any body and content type a client could send / When the handler gets it through API Gateway
    route = Route("POST", "/models/{model}/predict", "PredictFunction")
    headers = {"content-type": content_type} if content_type else {}
    outcome = stack.local.invoke(
        "PredictFunction", proxy_event(route, "POST", f"/models/{MODEL}/predict", headers, body)
    )
    # Then the function did not fail and answered below 500, with a JSON error naming what is wrong
    assert outcome.error is None, outcome.error
    assert outcome.payload["statusCode"] < 500, outcome.payload
    if outcome.payload["statusCode"] >= 400:
        assert json.loads(outcome.payload["body"])["error"]


def test_capture_and_feedback_arrive_through_firehose_as_few_gzip_objects(
    api: LocalApi, stack: Stack
) -> None:
    # Given what the streams hold from earlier tests written out
    stack.local.flush_streams()
    before = set(delivered(stack, f"capture/{MODEL}/")) | set(delivered(stack, f"feedback/{MODEL}/"))
    # When 12 requests of 1 to 3 instances are served and 4 labels sent
    answers = [predict(api, [INSTANCE] * (1 + i % 3)) for i in range(12)]
    assert {status for status, _ in answers} == {200}
    for _, body in answers[:4]:
        label = {"request_id": body["request_id"], "instance": 0, "label": body["predictions"][0]}
        answer = {"model": MODEL, "request_id": body["request_id"], "instance": 0}
        assert http(api, "POST", f"/models/{MODEL}/feedback", label) == (200, answer)
    # Then nothing new is in the bucket while the streams buffer
    assert set(delivered(stack, f"capture/{MODEL}/")) | set(delivered(stack, f"feedback/{MODEL}/")) == before
    # When the buffer interval passes
    stack.local.flush_streams()
    # Then one gzip object holds every captured instance (24), under capture/<model>/dt=…/hour=…/
    capture = {k: v for k, v in delivered(stack, f"capture/{MODEL}/").items() if k not in before}
    assert len(capture) == 1
    [(key, records)] = capture.items()
    parts = key.split("/")
    assert parts[2].startswith("dt=") and parts[3].startswith("hour=") and parts[4].endswith(".gz")
    assert parts[4].startswith(stack.local.function_environment("PredictFunction")["CAPTURE_STREAM"] + "-1-")
    served = {(body["request_id"], i) for _, body in answers for i in range(len(body["predictions"]))}
    assert len(records) == 24 and {(r["request_id"], r["instance"]) for r in records} == served
    first = next(r for r in records if r["request_id"] == answers[0][1]["request_id"])
    assert (first["model"], first["version"], first["inputs"]) == (MODEL, 1, INSTANCE)
    assert first["outputs"]["prediction"] == answers[0][1]["predictions"][0]
    # And one object holds the 4 labels, each with the time it was received
    feedback = {k: v for k, v in delivered(stack, f"feedback/{MODEL}/").items() if k not in before}
    assert len(feedback) == 1
    [labels] = feedback.values()
    assert sorted((f["request_id"], f["instance"], f["label"]) for f in labels) == sorted(
        (body["request_id"], 0, body["predictions"][0]) for _, body in answers[:4]
    )
    assert all(f["model"] == MODEL and f["time"] for f in labels)


def test_captured_requests_wait_in_the_extension_and_arrive_when_the_environment_shuts_down(
    api: LocalApi, stack: Stack
) -> None:
    # Given a running PredictFunction environment (its capture extension beside it)
    stack.local.flush_streams()
    logged = len(stack.local.function_log("PredictFunction"))
    # When requests are served at capture 100%
    answers = [predict(api, [INSTANCE]) for _ in range(5)]
    assert {status for status, _ in answers} == {200}
    served = {body["request_id"] for _, body in answers}
    # Then the handler sent nothing to Firehose on the request path: after Firehose's buffer interval,
    # none of them is in the bucket (they wait in the extension, in the environment's memory)
    delivery().flush()
    assert not served & delivered_request_ids(stack, f"capture/{MODEL}/")
    # When the environment shuts down (Lambda spins it down: SHUTDOWN to the extension) / Then every
    # captured request arrives, each once
    stack.local.flush_streams()
    arrived = [r["request_id"] for records in delivered(stack, f"capture/{MODEL}/").values() for r in records]
    assert sorted(r for r in arrived if r in served) == sorted(served)  # each once
    # And the extension ran beside the function: nothing was counted as lost
    assert '"CaptureFailures"' not in stack.local.function_log("PredictFunction")[logged:]


def test_a_firehose_failure_never_fails_a_prediction_and_lost_records_are_counted(
    api: LocalApi, stack: Stack
) -> None:
    # Given a running environment and a capture stream that refuses every record for a while
    predict(api, [INSTANCE])
    stream = stack.local.function_environment("PredictFunction")["CAPTURE_STREAM"]
    logged = len(stack.local.function_log("PredictFunction"))
    delivery().refuse(stream, 1000)
    try:
        # When requests are served / Then they are answered
        answers = [predict(api, [INSTANCE]) for _ in range(3)]
        assert {status for status, _ in answers} == {200}
        # When the environment shuts down while the stream still refuses
        stack.local.flush_streams()
    finally:
        delivery().refuse(stream, 0)
    # Then what could not be delivered is counted in the function's log (the alarm's metric): the three
    # requests and the one before, one record each
    log = stack.local.function_log("PredictFunction")[logged:]
    metrics = [json.loads(line) for line in log.splitlines() if '"CaptureFailures"' in line]
    assert [m["CaptureFailures"] for m in metrics] == [[4.0]]
    assert not {body["request_id"] for _, body in answers} & delivered_request_ids(stack, f"capture/{MODEL}/")


def test_a_label_the_feedback_stream_refuses_gets_a_503_to_send_again_and_then_is_kept(
    api: LocalApi, stack: Stack
) -> None:
    # Given a served request and a feedback stream that refuses every record for a while
    status, body = predict(api, [INSTANCE])
    assert status == 200
    label = {"request_id": body["request_id"], "instance": 0, "label": body["predictions"][0]}
    stream = stack.local.function_environment("PredictFunction")["FEEDBACK_STREAM"]
    delivery().refuse(stream, 1000)
    try:
        # When the label is sent / Then the client is told to send it again (503, a JSON error that
        # names no resource), not a bare 502 from a crashed handler
        refused_status, refused = http(api, "POST", f"/models/{MODEL}/feedback", label)
        assert refused_status == 503
        assert "send the request again" in refused["error"] and "arn:" not in refused["error"]
    finally:
        delivery().refuse(stream, 0)
    # When it is sent again after the stream recovers / Then it is accepted and delivered once
    assert http(api, "POST", f"/models/{MODEL}/feedback", label)[0] == 200
    stack.local.flush_streams()
    labels = [
        f
        for records in delivered(stack, f"feedback/{MODEL}/").values()
        for f in records
        if f["request_id"] == body["request_id"]
    ]
    assert len(labels) == 1


def test_promotion_rollback_and_a_tampered_file_reach_the_warm_handler(api: LocalApi, stack: Stack) -> None:
    # Given version 1 serving in a warm handler (ALIAS_TTL_SECONDS=0 in the test environment)
    assert predict(api, [INSTANCE])[1]["version"] == 1
    # When a better dataset is promoted as version 2 / Then the same warm handler serves version 2
    stack.upload(f"{MODEL}/data/more.csv", to_csv_bytes(credit_risk(rows=2400, seed=12)))
    stack.settle()
    assert stack.registry.get_alias(MODEL).version == 2  # type: ignore[union-attr]
    assert predict(api, [INSTANCE])[1]["version"] == 2
    # When rolled back / Then version 1 again, without a redeploy
    rollback(stack.registry, stack.artifacts, MODEL, by=caller_principal(stack.client("sts")))
    assert predict(api, [INSTANCE])[1]["version"] == 1
    # When version 2's file is tampered with and 2 is put back in production behind the registry's back
    record = stack.registry.get_version(MODEL, 2)
    bucket, key = record.artifacts["model"].uri.removeprefix("s3://").split("/", 1)
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=b"not the model that was trained")
    event = AuditEvent(model=MODEL, type=EventType.PROMOTED, id="tamper-test", to_version=2)
    stack.registry.promote(record, expected=1, event=event)
    # Then the warm handler refuses the file and keeps serving the verified version 1
    status, body = predict(api, [INSTANCE])
    assert status == 200 and body["version"] == 1
    # And a new container, with nothing verified to fall back on, refuses to serve (503, not a crash)
    stack.local.recycle("PredictFunction")
    status, body = predict(api, [INSTANCE])
    assert status == 503 and "integrity" in body["error"]
    # Cleanup for the tests after this one: version 1 back in production
    stack.registry.promote(
        stack.registry.get_version(MODEL, 1),
        expected=2,
        event=AuditEvent(model=MODEL, type=EventType.ROLLED_BACK, id="untamper", to_version=1),
    )
