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
    assert states["RolloutMode"]["Choices"][0] == {
        "Variable": "$.rollout.mode",
        "StringEquals": "manual",
        "Next": "AwaitApproval",
    }
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


def test_a_live_rollout_loops_wait_and_check_until_it_promotes_or_rolls_back() -> None:
    states = ASL["States"]
    # Shadow and canary go to StartRollout, on the register function
    live = states["RolloutMode"]["Choices"][1]
    assert {c["StringEquals"] for c in live["Or"]} == {"shadow", "canary"} and live["Next"] == "StartRollout"
    start = states["StartRollout"]
    assert (start["Resource"], start["Parameters"]["action"]) == ("${RegisterFunctionArn}", "start_rollout")
    # whose decision promotes at once (no production to compare with), or waits check_seconds and checks
    decision = {c["StringEquals"]: c["Next"] for c in states["RolloutDecision"]["Choices"]}
    assert decision == {"promote": "RegisterAndPromote", "roll_back": "RegisterRejected"}
    assert states["RolloutDecision"]["Default"] == "WaitForTraffic"
    wait = states["WaitForTraffic"]
    assert (wait["Type"], wait["SecondsPath"], wait["Next"]) == (
        "Wait",
        "$.rollout.check_seconds",
        "CheckRollout",
    )
    # The check runs where the metrics can be computed (the training layer) and loops to the decision
    check = states["CheckRollout"]
    assert (check["Resource"], check["Parameters"]["action"]) == ("${EvaluateFunctionArn}", "check_rollout")
    assert check["Next"] == "RolloutDecision"
    assert RESOURCES["EvaluateFunction"]["Properties"]["Layers"]
    # Production moving re-evaluates; another rollout running rejects; anything else fails (and ends the rollout)
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in start["Catch"]}
    assert catches == {
        ("PromotionConflict",): "Evaluate",
        ("RolloutBusy",): "RegisterRejected",
        ("States.ALL",): "RegisterFailed",
    }
    assert check["Catch"][-1]["Next"] == "RegisterFailed"


def test_the_predict_function_may_add_to_rollout_counts_and_a_rollback_raises_an_alarm() -> None:
    predict = RESOURCES["PredictFunction"]["Properties"]
    statements = [s for p in predict["Policies"] if "Statement" in p for s in p["Statement"]]
    counting = next(s for s in statements if s["Sid"] == "CountRolloutRequests")
    assert counting["Action"] == ["dynamodb:UpdateItem"]
    assert "ROLLOUT_FLUSH_SECONDS" in predict["Environment"]["Variables"]
    alarm = RESOURCES["RolloutRollbackAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "RolloutGuardrailBreached",
        1,
        "GreaterThanOrEqualToThreshold",
    )
