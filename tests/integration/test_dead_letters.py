"""A function's failed asynchronous invocations end in its dead-letter queue, sent as Lambda sends them:
with the function's own role (its SAM DeadLetterQueue policy), not the deployer's."""

from __future__ import annotations

import json

from sluice.tools.local.schedules import scheduled_event
from tests.integration.conftest import Stack


def test_an_event_the_ingest_function_cannot_handle_ends_in_its_dead_letter_queue(stack: Stack) -> None:
    # Given an EventBridge event IngestFunction cannot parse (its detail is not an object)
    event = {
        "version": "0",
        "id": "dead-letter-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": "not an object",
    }
    enforcer = stack.local.enforcer
    assert enforcer is not None
    before = {e for e in enforcer.trace if e.action == "sqs:SendMessage"}

    # When EventBridge delivers it (asynchronously, with its retries) and every attempt fails
    stack.local.deliver("IngestFunction", event, {})
    stack.local.drain()

    # Then the event is in the function's dead-letter queue with the error, and the message was sent by
    # the function's role, allowed by the template's DeadLetterQueue policy
    sqs = stack.client("sqs")
    url = stack.local.physical["IngestDeadLetterQueue"]  # a queue's physical id is its URL
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b["event"]["id"] for b in bodies if b["event"].get("id") == "dead-letter-1"] == ["dead-letter-1"]
    sent = {e for e in enforcer.trace if e.action == "sqs:SendMessage"} - before
    roles = stack.local.roles()
    assert [(roles.get(e.principal), e.allowed) for e in sent] == [("IngestFunctionRole", True)]


def test_a_scheduled_check_that_fails_every_attempt_ends_in_the_drift_functions_dead_letter_queue(
    stack: Stack,
) -> None:
    # Given DriftFunction misconfigured (a window of -1 hours fails its settings' validation)
    enforcer = stack.local.enforcer
    assert enforcer is not None
    before = {e for e in enforcer.trace if e.action == "sqs:SendMessage"}
    overrides = stack.local.env_overrides
    saved = overrides.get("DriftFunction")
    overrides["DriftFunction"] = {**(saved or {}), "DRIFT_WINDOW_HOURS": "-1"}
    try:
        # When its schedule fires (EventBridge invokes it asynchronously) and every attempt fails
        event = scheduled_event(stack.local.region, stack.local.stack_name, "DriftFunction")
        stack.local.deliver("DriftFunction", event, {})
        stack.local.drain()
    finally:
        if saved is None:
            overrides.pop("DriftFunction", None)
        else:
            overrides["DriftFunction"] = saved

    # Then the event is in the dead-letter queue, sent by DriftFunction's role
    sqs = stack.client("sqs")
    url = stack.local.physical["IngestDeadLetterQueue"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ids = [json.loads(m["Body"])["event"].get("id") for m in messages]
    assert event["id"] in ids
    roles = stack.local.roles()
    sent = {e for e in enforcer.trace if e.action == "sqs:SendMessage"} - before
    assert [(roles.get(e.principal), e.allowed) for e in sent] == [("DriftFunctionRole", True)]
