"""The prediction API on the local stack: over HTTP like `sam local start-api`, the real handler behind
it, the model the state machine promoted. Then capture and the scheduled drift check."""

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
from tests.integration.live_rollout import instances_and_labels
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


def _traffic(shift: float, rows: int, seed: int) -> list[dict[str, Any]]:
    return instances_and_labels(credit_risk(rows, seed=seed, shift=shift))[0]


@pytest.mark.slow
def test_drift_check_alerts_and_retrains_once_on_shifted_traffic_only(stack: Stack) -> None:
    # Given a model of its own, serving, with same-distribution traffic captured
    model = "it-drift"
    stack.train(model, ("first.csv", to_csv_bytes(credit_risk(rows=800, seed=21))))
    served = stack.local.serve_api(0)
    try:
        stack.notifications()  # drain earlier messages
        answers = [predict(served, _traffic(0.0, 100, seed=100 + chunk), model=model) for chunk in range(3)]
        assert [status for status, _ in answers] == [200, 200, 200]
        # And ground truth sent for two of those predictions: one right, one wrong
        first_answer = answers[0][1]
        for instance, label in ((0, first_answer["predictions"][0]), (1, 1 - first_answer["predictions"][1])):
            feedback = {"request_id": first_answer["request_id"], "instance": instance, "label": label}
            assert http(served, "POST", f"/models/{model}/feedback", feedback)[0] == 200
        # When the streams' buffer interval passes and the scheduled check runs / Then no drift, no alert,
        # no retraining
        stack.local.flush_streams()
        check = next(c for c in stack.scheduled_check()["checked"] if c["model"] == model)
        assert check["status"] == "ok" and check["rows"] == 300
        assert check["dataset_drift"] is False and check["alerted"] is False and check["retraining"] is None
        live = check["live_metric"]
        assert (live["accuracy"], live["labelled_rows"]) == (0.5, 2)
        assert set(live) <= {"accuracy", "labelled_rows", "roc_auc"}  # and the spec's primary metric
        # And the production version's card now shows it, read through the registry's new sha256
        card = json.loads(
            stack.artifacts.get_verified(stack.registry.get_version(model, 1).artifacts["card"])
        )
        assert (card["live"]["metrics"]["accuracy"], card["live"]["labelled_rows"]) == (0.5, 2)
        assert not [n for n in stack.notifications() if n["subject"] == f"Sluice: drift in {model}"]

        # When shifted traffic arrives and the check runs twice
        for chunk in range(4):
            assert predict(served, _traffic(1.0, 150, seed=200 + chunk), model=model)[0] == 200

        stack.local.flush_streams()

        def check_now() -> dict[str, Any]:
            return next(c for c in stack.scheduled_check()["checked"] if c["model"] == model)

        first = check_now()
        second = check_now()  # while the retraining runs
        # Then drift is flagged, an alert is published, and exactly one retraining starts
        assert first["dataset_drift"] is True and first["alerted"] is True
        assert {"income", "debt_ratio"} <= set(first["drifted_features"])
        assert first["retraining"] is not None
        assert second["dataset_drift"] is True and second["retraining"] is None
        assert "already running" in second["retrain_skipped"]
        executions = [e for e in stack.settle() if e["executionArn"] == first["retraining"]]
        # And once it finished (the same data trains the same model: promoted as version 2), shifted
        # traffic to version 2 is flagged again, but the cool-down holds back a second retraining
        assert stack.registry.get_alias(model).version == 2  # type: ignore[union-attr]
        assert predict(served, _traffic(1.0, 150, seed=300), model=model)[1]["version"] == 2
        stack.local.flush_streams()
        third = check_now()
        assert third["version"] == 2 and third["dataset_drift"] is True
        assert third["retraining"] is None and "cool-down" in third["retrain_skipped"]
        alerts = [n for n in stack.notifications() if n["subject"] == f"Sluice: drift in {model}"]
        assert len(alerts) == 3 and {a["message"]["model"] for a in alerts} == {model}
        assert len(executions) == 1
        run = stack.registry.list_versions(model)[-1]
        assert run.trigger.value == "drift"
        # And the report is in S3 as JSON and HTML
        report = json.loads(stack.artifacts.get_bytes(first["report_uri"]))
        assert report["dataset_drift"] is True and report["prediction_drift"] is not None
        html = stack.artifacts.get_bytes(first["html_uri"]).decode()
        assert "<svg" in html and "Outside the dataset verdict" in html and "Predictions:" in html
    finally:
        served.stop()


@pytest.mark.slow
def test_a_model_whose_reference_is_missing_does_not_stop_the_other_checks(stack: Stack) -> None:
    # Given two models in production, one of which lost its reference sample
    stack.train("it-noref", ("first.csv", to_csv_bytes(credit_risk(rows=400, seed=31))))
    stack.train("it-ref", ("first.csv", to_csv_bytes(credit_risk(rows=400, seed=32))))
    record = stack.registry.get_version("it-noref", 1)
    bucket, key = record.artifacts["reference"].uri.removeprefix("s3://").split("/", 1)
    stack.client("s3").delete_object(Bucket=bucket, Key=key)
    # When the scheduled check runs
    payload = stack.scheduled_check()
    # Then it succeeds, reports the broken model as an error naming the object, and checks the other
    checks = {c["model"]: c for c in payload["checked"]}
    assert checks["it-noref"]["status"] == "error" and "no such object" in checks["it-noref"]["error"]
    assert checks["it-ref"]["status"] in {"ok", "insufficient_data"} and checks["it-ref"]["error"] is None
