"""The scheduled drift check on the local stack, through the monitoring state machine the schedule starts: one
alert per incident (three drifting checks, one message; a recovered check, one "resolved" message; a
team's filtered subscription), exactly one retraining, and one model's broken reference never stopping
the others' checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluice.adapters.identity import caller_principal
from sluice.app.registry.catalog import rollback
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import AuditEvent, EventType
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack
from tests.integration.live_rollout import instances_and_labels
from tests.integration.test_serving import http, predict


def _traffic(shift: float, rows: int, seed: int) -> list[dict[str, Any]]:
    return instances_and_labels(credit_risk(rows, seed=seed, shift=shift))[0]


@pytest.mark.slow
def test_drift_check_alerts_once_per_incident_and_retrains_once_on_shifted_traffic_only(stack: Stack) -> None:
    # Given a model of its own, serving, with same-distribution traffic captured
    model = "it-drift"
    stack.train(model, ("first.csv", to_csv_bytes(credit_risk(rows=800, seed=21))))
    # And a team subscribed to the topic for this model's drift incidents only (a filter policy)
    team = _subscribed(stack, "it-drift-team", {"model": [model], "kind": ["drift"]})
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
        assert check["incidents"] == {}
        live = check["live_metric"]
        assert (live["accuracy"], live["labelled_rows"]) == (0.5, 2)
        assert set(live) <= {"accuracy", "labelled_rows", "roc_auc"}  # and the spec's primary metric
        # And the production version's card now shows it, read through the registry's new sha256
        card = json.loads(
            stack.artifacts.get_verified(stack.registry.get_version(model, 1).artifacts["card"])
        )
        assert (card["live"]["metrics"]["accuracy"], card["live"]["labelled_rows"]) == (0.5, 2)
        assert _incident_messages(stack, model) == []

        # When shifted traffic arrives and the check runs twice
        for chunk in range(4):
            assert predict(served, _traffic(1.0, 150, seed=200 + chunk), model=model)[0] == 200

        stack.local.flush_streams()

        def check_now() -> dict[str, Any]:
            return next(c for c in stack.scheduled_check()["checked"] if c["model"] == model)

        first = check_now()
        second = check_now()  # while the retraining runs
        # Then drift is flagged, a drift incident opens with one alert, and exactly one retraining starts
        assert first["dataset_drift"] is True and first["alerted"] is True
        assert first["incidents"] == {"drift": "open"}
        assert {"income", "debt_ratio"} <= set(first["drifted_features"])
        assert first["retraining"] is not None
        assert second["dataset_drift"] is True and second["retraining"] is None
        assert "already running" in second["retrain_skipped"]
        assert second["alerted"] is False and second["incidents"] == {"drift": "ongoing"}
        executions = [e for e in stack.settle() if e["executionArn"] == first["retraining"]]
        # And once it finished (the same data trains the same model: promoted as version 2) and version 1
        # is rolled back to, its shifted traffic is flagged a third time: still no second alert, and the
        # cool-down holds back a second retraining
        assert stack.registry.get_alias(model).version == 2  # type: ignore[union-attr]
        rollback(stack.registry, stack.artifacts, model, by=caller_principal(stack.client("sts")))
        third = check_now()
        assert third["version"] == 1 and third["dataset_drift"] is True
        assert third["retraining"] is None and "cool-down" in third["retrain_skipped"]
        assert third["alerted"] is False and third["incidents"] == {"drift": "ongoing"}
        alerts = _incident_messages(stack, model)
        assert [a["subject"] for a in alerts] == [f"Sluice: drift in {model}"]
        assert alerts[0]["message"]["state"] == "open" and alerts[0]["message"]["severity"] == "medium"
        assert len(executions) == 1
        run = stack.registry.list_versions(model)[-1]
        assert run.trigger.value == "drift"
        # And the report is in S3 as JSON and HTML
        report = json.loads(stack.artifacts.get_bytes(first["report_uri"]))
        assert report["dataset_drift"] is True and report["prediction_drift"] is not None
        html = stack.artifacts.get_bytes(first["html_uri"]).decode()
        assert "<svg" in html and "Outside the dataset verdict" in html and "Predictions:" in html
        second_html = stack.artifacts.get_bytes(second["html_uri"]).decode()
        assert "No new alert: this drift is the incident open since" in second_html

        # When version 2 is back in production and serves traffic like its training data
        stack.registry.promote(
            stack.registry.get_version(model, 2),
            expected=1,
            event=AuditEvent(model=model, type=EventType.PROMOTED, id="it-drift-forward", to_version=2),
        )
        assert predict(served, _traffic(0.0, 150, seed=400), model=model)[1]["version"] == 2
        stack.local.flush_streams()
        recovered = check_now()
        # Then the check finds the drift gone and closes the incident with one "resolved" message
        assert recovered["version"] == 2 and recovered["dataset_drift"] is False
        assert recovered["incidents"] == {"drift": "resolved"}
        resolved = _incident_messages(stack, model)
        assert [n["subject"] for n in resolved] == [f"Sluice: drift in {model} resolved"]
        # And the registry's audit trail has the incident's opening and resolution
        kinds = [e.type for e in stack.registry.list_events(model)]
        assert kinds.count(EventType.INCIDENT_OPENED) == 1 and kinds.count(EventType.INCIDENT_RESOLVED) == 1
        # And the team's filtered subscription received the same two messages, with their attributes
        assert _received(stack, team) == [
            {
                "model": model,
                "kind": "drift",
                "severity": "medium",
                "state": "open",
                "event": "incident_open",
            },
            {
                "model": model,
                "kind": "drift",
                "severity": "medium",
                "state": "resolved",
                "event": "incident_resolved",
            },
        ]
    finally:
        served.stop()


def _incident_messages(stack: Stack, model: str) -> list[dict[str, Any]]:
    """The model's incident announcements among the messages published since the last drain."""
    return [
        n
        for n in stack.notifications()
        if n["message"].get("model") == model and str(n["message"].get("event")).startswith("incident_")
    ]


def _subscribed(stack: Stack, name: str, policy: dict[str, list[str]]) -> str:
    """A queue subscribed to the stack's topic with a filter policy on the message attributes."""
    sqs = stack.client("sqs")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.client("sns").subscribe(
        TopicArn=stack.local.outputs["NotificationTopicArn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps(policy)},
    )
    return str(queue)


def _received(stack: Stack, queue: str) -> list[dict[str, str]]:
    """The message attributes of what the queue received, in order."""
    messages = stack.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [
        {name: a["Value"] for name, a in json.loads(m["Body"])["MessageAttributes"].items()} for m in messages
    ]


@pytest.mark.slow
def test_a_model_whose_reference_is_missing_does_not_stop_the_other_checks(stack: Stack) -> None:
    # Given two models in production, one of which lost its reference sample
    stack.train("it-noref", ("first.csv", to_csv_bytes(credit_risk(rows=400, seed=31))))
    stack.train("it-ref", ("first.csv", to_csv_bytes(credit_risk(rows=400, seed=32))))
    record = stack.registry.get_version("it-noref", 1)
    bucket, key = record.artifacts["reference"].uri.removeprefix("s3://").split("/", 1)
    stack.client("s3").delete_object(Bucket=bucket, Key=key)
    # When the scheduled check runs
    outcome = stack.scheduled_check()
    # Then it succeeds, reports the broken model as an error naming the object, and checks the other
    checks = {c["model"]: c for c in outcome["checked"]}
    assert checks["it-noref"]["status"] == "error" and "no such object" in checks["it-noref"]["error"]
    assert checks["it-ref"]["status"] in {"ok", "insufficient_data"} and checks["it-ref"]["error"] is None
