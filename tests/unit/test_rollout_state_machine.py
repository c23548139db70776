"""The state machine's manual rollout: PlanRollout, the RolloutMode choice, AwaitApproval waiting on a
task token for the spec's timeout, and where a refusal or a timeout leads."""

from __future__ import annotations

from tests.unit.test_template import ASL, RESOURCES, TIMEOUT_FROM_RUN


def test_a_manual_rollout_waits_on_a_task_token_between_the_gate_and_promotion() -> None:
    states = ASL["States"]
    # The gate leads to the rollout plan, whose mode chooses between promoting now and waiting
    assert states["Gate"]["Choices"][0]["Next"] == "PlanRollout"
    assert states["PlanRollout"]["Parameters"]["action"] == "plan_rollout"
    assert states["PlanRollout"]["Next"] == "RolloutMode"
    assert states["RolloutMode"]["Choices"] == [
        {"Variable": "$.rollout.mode", "StringEquals": "manual", "Next": "AwaitApproval"}
    ]
    assert states["RolloutMode"]["Default"] == "RegisterAndPromote"
    # The wait is RegisterFunction's await_approval step, given the token, for the spec's timeout
    wait = states["AwaitApproval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["FunctionName"] == "${RegisterFunctionArn}"
    assert wait["Parameters"]["Payload"]["action"] == "await_approval"
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["TimeoutSecondsPath"] == TIMEOUT_FROM_RUN and "TimeoutSeconds" not in wait
    assert (wait["ResultPath"], wait["Next"]) == ("$.approval", "RegisterAndPromote")
    # and RegisterFunction may publish what a person must run
    register = RESOURCES["RegisterFunction"]["Properties"]
    assert any("SNSPublishMessagePolicy" in p for p in register["Policies"])


def test_a_refusal_or_a_timeout_leads_to_the_rejected_path_and_other_errors_to_failed() -> None:
    states = ASL["States"]
    catches = {tuple(c["ErrorEquals"]): c for c in states["AwaitApproval"]["Catch"]}
    assert catches[("ApprovalRejected",)]["Next"] == "RegisterRejected"
    assert catches[("States.Timeout",)]["Next"] == "NotApprovedInTime"
    assert states["AwaitApproval"]["Catch"][-1]["Next"] == "RegisterFailed"
    timed_out = states["NotApprovedInTime"]
    assert timed_out["Type"] == "Pass" and timed_out["Next"] == "RegisterRejected"
    assert timed_out["Result"] == {"Error": "ApprovalTimedOut", "Cause": "not approved in time"}
