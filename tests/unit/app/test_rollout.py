"""A manual rollout on the in-memory ports: the plan read from the spec, the await_approval step that
holds a version as pending_approval, and a person's approve or reject answering the waiting run."""

from __future__ import annotations

import pytest

from sluice.app.registry.catalog import show_model
from sluice.app.rollout import plan as rollout
from sluice.app.training.steps import run_step
from sluice.domain.registry.records import (
    EventType,
    GatesRecord,
    RolloutPlan,
    RunState,
    TaskEvent,
    VersionStatus,
)
from sluice.errors import SluiceError
from tests.unit.app.fakes import ALICE, BOB, FakePorts
from tests.unit.app.test_steps import FIRST, MODEL, SPEC_TEXT, execution_arn, step, stored_run

TOKEN = "token-of-the-waiting-task"


def manual_spec(timeout_hours: float = 72) -> str:
    return SPEC_TEXT + f"rollout: {{mode: manual, timeout_hours: {timeout_hours}}}\n"


def gated_run(fakes: FakePorts, spec_text: str, name: str = "run") -> RunState:
    """A run whose version is allocated and passed its gates (scores written by hand: no training)."""
    run = step(fakes, "allocate", stored_run(fakes, FIRST, spec_text), name)
    return run.model_copy(update={"metrics": {"roc_auc": 0.8}, "gates": GatesRecord(passed=True)})


def awaiting(fakes: FakePorts, name: str = "run") -> RunState:
    """A manual run through PlanRollout and AwaitApproval, its task waiting on TOKEN."""
    run = step(fakes, "plan_rollout", gated_run(fakes, manual_spec(), name), name)
    event = TaskEvent(action="await_approval", run=run, execution_arn=execution_arn(name), task_token=TOKEN)
    fakes.executions.wait_for_token(TOKEN)
    return run_step(event, fakes.core_deps())


# ------------------------------------------------------------------------------------------- the plan
def test_a_spec_without_rollout_plans_an_auto_rollout(fakes: FakePorts) -> None:
    # When PlanRollout runs for a spec with no rollout section
    run = step(fakes, "plan_rollout", gated_run(fakes, SPEC_TEXT), "auto")
    # Then the run goes on to promotion at once (the state machine's Default)
    assert run.rollout == RolloutPlan(mode="auto", timeout_seconds=None)


@pytest.mark.parametrize(("hours", "seconds"), [(72, 259200), (0.5, 1800), (0.00001, 1)])
def test_a_manual_rollout_waits_the_spec_timeout_in_whole_seconds(
    fakes: FakePorts, hours: float, seconds: int
) -> None:
    # When PlanRollout runs for a manual spec
    run = step(fakes, "plan_rollout", gated_run(fakes, manual_spec(hours)), "manual")
    # Then the state machine's TimeoutSecondsPath finds a positive whole number of seconds
    assert run.rollout == RolloutPlan(mode="manual", timeout_seconds=seconds)


# ------------------------------------------------------------------------------------- await_approval
def test_await_approval_holds_the_version_with_its_token_and_says_what_to_run(fakes: FakePorts) -> None:
    # When the run reaches AwaitApproval
    run = awaiting(fakes)
    # Then its version is pending_approval with the token, audited, and production is untouched
    assert run.status is VersionStatus.PENDING_APPROVAL
    version = fakes.registry.get_version(MODEL, 1)
    assert (version.status, version.approval_token) == (VersionStatus.PENDING_APPROVAL, TOKEN)
    assert version.metrics == {"roc_auc": 0.8}
    assert fakes.registry.get_alias(MODEL) is None
    assert fakes.registry.list_events(MODEL)[-1].type is EventType.APPROVAL_REQUESTED
    # and the notification names both commands
    subject, message = fakes.notifier.published[-1]
    assert "waits for approval" in subject
    assert message["approve"] == f"sluice models approve {MODEL} 1"
    assert message["reject"].startswith(f"sluice models reject {MODEL} 1 --reason")
    assert message["deadline"] is not None


def test_await_approval_without_a_task_token_is_an_error(fakes: FakePorts) -> None:
    run = step(fakes, "plan_rollout", gated_run(fakes, manual_spec()), "no-token")
    with pytest.raises(SluiceError, match="task token"):
        step(fakes, "await_approval", run, "no-token")
    assert fakes.registry.get_version(MODEL, 1).status is VersionStatus.TRAINING


def test_show_model_names_the_pending_version_and_hides_its_token(fakes: FakePorts) -> None:
    awaiting(fakes)
    detail = show_model(fakes.registry, MODEL)
    assert detail.rollout == {"mode": "manual", "version": 1, "status": "pending_approval"}
    assert all("approval_token" not in v for v in detail.versions)


# ---------------------------------------------------------------------------------------- the answers
def test_approve_answers_the_waiting_task_with_who_and_audits_it(fakes: FakePorts) -> None:
    awaiting(fakes)
    # When a person approves
    event = rollout.approve(fakes.deps(), MODEL, 1, by=ALICE, reason="checked the card")
    # Then the task gets its output (who and why), and the audit trail says who approved
    assert fakes.executions.answers == [
        (TOKEN, {"success": {"by": ALICE.arn, "reason": "checked the card", "note": None}})
    ]
    assert (event.type, event.version, event.by, event.note) == (EventType.APPROVED, 1, ALICE.arn, None)
    assert fakes.registry.list_events(MODEL)[-1] == event


def test_reject_fails_the_waiting_task_with_who_and_why(fakes: FakePorts) -> None:
    awaiting(fakes)
    event = rollout.refuse(fakes.deps(), MODEL, 1, by=BOB, reason=" too risky ")
    assert fakes.executions.answers == [
        (TOKEN, {"error": "ApprovalRejected", "cause": f"rejected by {BOB.arn}: too risky"})
    ]
    assert (event.type, event.reason, event.by) == (
        EventType.APPROVAL_REFUSED,
        f"rejected by {BOB.arn}: too risky",
        BOB.arn,
    )


def test_a_rejection_needs_a_reason(fakes: FakePorts) -> None:
    awaiting(fakes)
    with pytest.raises(SluiceError, match="needs a reason"):
        rollout.refuse(fakes.deps(), MODEL, 1, by=BOB, reason="  ")
    assert fakes.executions.answers == []


def test_a_version_that_is_not_pending_cannot_be_answered(fakes: FakePorts) -> None:
    step(fakes, "allocate", stored_run(fakes, FIRST), "auto")
    with pytest.raises(SluiceError, match="is training, not pending_approval"):
        rollout.approve(fakes.deps(), MODEL, 1, by=ALICE)
    assert fakes.executions.answers == []


def test_an_answer_to_a_run_that_no_longer_waits_is_an_error_and_not_audited(fakes: FakePorts) -> None:
    awaiting(fakes)
    fakes.executions.waiting.clear()  # the wait timed out, or the execution was stopped
    with pytest.raises(SluiceError, match="no longer waits"):
        rollout.approve(fakes.deps(), MODEL, 1, by=ALICE)
    assert fakes.registry.list_events(MODEL)[-1].type is EventType.APPROVAL_REQUESTED


# ------------------------------------------------------------------------------ the reject step's reason
@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ({"Error": "ApprovalRejected", "Cause": "rejected by bob: too risky"}, "rejected by bob: too risky"),
        ({"Error": "ApprovalTimedOut", "Cause": "not approved in time"}, "not approved in time"),
    ],
)
def test_a_refused_or_unanswered_version_is_rejected_with_that_reason(
    fakes: FakePorts, error: dict[str, str], reason: str
) -> None:
    # Given a waiting run the state machine caught a refusal or a timeout in
    run = awaiting(fakes).model_copy(update={"error": error})
    # When Reject runs
    rejected = step(fakes, "reject", run, "run")
    # Then the version is rejected with the person's reason or the timeout, as is
    assert rejected.reason == reason
    version = fakes.registry.get_version(MODEL, 1)
    assert (version.status, version.reason) == (VersionStatus.REJECTED, reason)
