"""Tests share one stack, and what a test leaves running is stopped after it (conftest's
`leaves_nothing_running`, which calls `LocalStack.stop_leftovers`): an execution left waiting for an
approval would otherwise make every later `settle()` wait for it until the timeout."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Stack
from tests.integration.scenario import FIRST
from tests.integration.test_manual_approval import manual_spec, upload_and_await_approval, upload_spec

MODEL = "it-left-waiting"


def test_an_execution_left_waiting_for_approval_is_stopped_and_settle_then_waits_for_nothing(
    stack: Stack,
) -> None:
    # Given a version waiting for approval: its execution waits on a task token
    upload_spec(stack, MODEL, manual_spec(MODEL))
    upload_and_await_approval(stack, MODEL, FIRST, 1)
    sfn = stack.client("stepfunctions")
    (waiting,) = [e for e in stack.local.executions("RUNNING") if e["name"].startswith(f"{MODEL}-")]
    # which a settle that gives up names, with the state it is in and the token it waits on
    with pytest.raises(TimeoutError) as gave_up:
        stack.local.wait_for_executions(timeout=0)
    assert f"{waiting['name']} (" in str(gave_up.value)
    assert "in state AwaitApproval, waiting on 1 task token(s)" in str(gave_up.value)
    # and StopExecution alone does not end it in moto's engine (the state waits for its token)
    sfn.stop_execution(executionArn=waiting["executionArn"])
    assert stack.describe(waiting["executionArn"])["status"] == "RUNNING"

    # When the cleanup after a test runs
    left = stack.local.stop_leftovers(cause="left running by this test")

    # Then it stopped that execution: its token was failed, which ends it (moto says FAILED with that
    # error where AWS would say ABORTED); nothing is running or queued, and a settle returns with
    # nothing pending
    assert waiting["name"] in left["executions"]
    stopped = stack.describe(waiting["executionArn"])
    assert (stopped["status"], stopped["error"], stopped["cause"]) == (
        "FAILED",
        "Sluice.Stopped",
        "left running by this test",
    )
    assert stack.local.executions("RUNNING") == []
    assert stack.local.pending_deliveries == []
    settled = stack.settle()
    assert [e["status"] for e in settled if e["name"].startswith(f"{MODEL}-")] == ["FAILED"]
    assert [e for e in settled if e["status"] == "RUNNING"] == []

    # And a second cleanup finds nothing left
    assert stack.local.stop_leftovers(cause="nothing left") == {"deliveries": [], "executions": []}
