"""Staged rollout: how a challenger that passed its gates reaches production, as the spec's `rollout`
says. `auto` (the default) promotes at once; `manual` holds the version as pending_approval while the
state machine waits on a task token, until a person answers with `sluice models approve|reject` or the
spec's `timeout_hours` pass (then it is rejected as "not approved in time"); `shadow` and `canary` try
it on live traffic first (app/rollout/live.py).

The state machine's side: `plan_rollout` (which mode, how long to wait) and `request_approval` (the
await_approval step). The person's side: `approve` and `refuse`, which answer the waiting task through
the Executions port and record who answered (the principal STS authenticated, never a name the caller
typed) and their note in the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sluice.app.data.stored import load_spec
from sluice.app.ports import CoreDeps, Registry, TrainingDeps
from sluice.domain.registry.records import (
    ApprovalRecord,
    AuditEvent,
    EventType,
    ModelVersion,
    Principal,
    RolloutPlan,
    RunState,
    Trigger,
    VersionStatus,
    new_event_id,
)
from sluice.domain.rollout.live import RolloutStatus
from sluice.domain.spec.model_spec import RolloutMode, RolloutSpec
from sluice.errors import SluiceError

# The error a refusal sends with SendTaskFailure, and the one the state machine's NotApprovedInTime
# state puts in the run when the wait times out; both lead to the reject step with their Cause as reason.
APPROVAL_REFUSED_ERROR = "ApprovalRejected"
APPROVAL_TIMED_OUT_ERROR = "ApprovalTimedOut"


def plan_rollout(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """The run's rollout, read from its spec (no `rollout` section: auto). For manual, the wait in whole
    seconds (at least 1), which the state machine's AwaitApproval reads as its TimeoutSecondsPath; for
    shadow and canary, the wait between two checks (WaitForTraffic's SecondsPath)."""
    rollout = load_spec(run.spec_uri, deps.artifacts).rollout or RolloutSpec()
    timeout = max(1, round(rollout.timeout_hours * 3600)) if rollout.mode is RolloutMode.MANUAL else None
    check = rollout.check_seconds if rollout.mode.is_live else None
    plan = RolloutPlan(mode=rollout.mode.value, timeout_seconds=timeout, check_seconds=check)
    return run.model_copy(update={"rollout": plan, "approval": None})


def approval_commands(model: str, version: int) -> dict[str, str]:
    """The commands that answer a pending approval, as the notification names them."""
    return {
        "approve": f"sluice models approve {model} {version}",
        "reject": f'sluice models reject {model} {version} --reason "…"',
    }


def request_approval(
    run: RunState, decided: ModelVersion, execution_arn: str, task_token: str | None, deps: CoreDeps
) -> RunState:
    """Record `decided` (the run's version with its evaluation) as pending_approval with the task token
    the execution waits on, audit it, and notify what to run. Raises SluiceError without a token."""
    if not task_token:
        raise SluiceError("await_approval needs the task token ($$.Task.Token) of a .waitForTaskToken task")
    timeout = run.rollout.timeout_seconds if run.rollout and run.rollout.timeout_seconds else None
    deadline = (
        (datetime.now(UTC) + timedelta(seconds=timeout)).strftime("%Y-%m-%dT%H:%M:%SZ") if timeout else None
    )
    reason = f"waiting for approval until {deadline}" if deadline else "waiting for approval"
    pending = decided.model_copy(
        update={"status": VersionStatus.PENDING_APPROVAL, "approval_token": task_token, "reason": reason}
    )
    commands = approval_commands(run.model, decided.version)
    deps.registry.decide(
        pending,
        AuditEvent.of_run(
            run,
            EventType.APPROVAL_REQUESTED,
            execution_arn,
            version=decided.version,
            reason=reason,
            details={"deadline": deadline, **commands},
        ),
    )
    deps.notifier.publish(
        f"Sluice: {run.model} version {decided.version} waits for approval",
        {
            "model": run.model,
            "version": decided.version,
            "status": VersionStatus.PENDING_APPROVAL.value,
            "metrics": run.metrics,
            "champion_version": run.champion_version,
            "champion_metrics": run.champion_metrics,
            "deadline": deadline,
            "execution_arn": execution_arn,
            **commands,
        },
    )
    return run.model_copy(update={"status": VersionStatus.PENDING_APPROVAL, "reason": reason})


def approval_refusal(error: dict[str, Any] | None) -> str | None:
    """The rejection reason of a run a person refused ("rejected by <who>: <reason>") or nobody approved
    in time ("not approved in time"); None when `error` is about something else."""
    if error and error.get("Error") in (APPROVAL_REFUSED_ERROR, APPROVAL_TIMED_OUT_ERROR):
        return str(error.get("Cause") or "not approved")
    return None


def pending_version(registry: Registry, model: str, version: int) -> ModelVersion:
    """The version, if it waits for approval. Raises ModelNotFound for an unknown version and
    SluiceError for one that is not pending_approval."""
    record = registry.get_version(model, version)
    if record.status is not VersionStatus.PENDING_APPROVAL or not record.approval_token:
        raise SluiceError(
            f"{model} version {version} is {record.status.value}, not pending_approval; nothing to answer"
        )
    return record


def _answered(
    record: ModelVersion, event_type: EventType, by: Principal, reason: str | None, note: str | None
) -> AuditEvent:
    return AuditEvent(
        model=record.model,
        type=event_type,
        id=new_event_id(),
        version=record.version,
        reason=reason,
        execution_arn=record.execution_arn,
        trigger=Trigger.MANUAL,
        by=by.arn,
        by_email=by.email,
        note=note,
    )


def approve(
    deps: TrainingDeps,
    model: str,
    version: int,
    *,
    by: Principal,
    reason: str | None = None,
    note: str | None = None,
) -> AuditEvent:
    """Let a pending_approval version's run go on to promotion (SendTaskSuccess with who and why), and
    audit it as `approved` by `by` (the principal STS answered for the caller) with their `note`. The
    promotion itself is the state machine's (a conditional write, as for auto). Raises SluiceError when
    the version is not pending or its run no longer waits."""
    record = pending_version(deps.registry, model, version)
    answer = ApprovalRecord(by=by.arn, by_email=by.email, reason=reason, note=note)
    # an AWS principal's answer is as it was before console users (no by_email)
    output = answer.model_dump(mode="json", exclude={"by_email"} if by.email is None else None)
    deps.executions.send_task_success(str(record.approval_token), output)
    event = _answered(record, EventType.APPROVED, by, reason or f"approved by {by}", note)
    deps.registry.append_event(event)
    return event


def refuse(
    deps: TrainingDeps, model: str, version: int, *, by: Principal, reason: str, note: str | None = None
) -> AuditEvent:
    """Send a pending_approval version's run to the reject path (SendTaskFailure) with the reason
    "rejected by <by>: <reason>", and audit it as `approval_refused` by `by` (the principal STS answered
    for the caller) with their `note`; or end a shadow or canary version's live rollout at once
    (requests stop reaching it; its run's next check rejects it with that reason). Raises SluiceError
    for an empty reason, a version that is neither, or a run that no longer waits."""
    if not reason.strip():
        raise SluiceError("a rejection needs a reason (--reason)")
    live = deps.registry.get_version(model, version)
    if live.status in (VersionStatus.SHADOW, VersionStatus.CANARY):
        refusal = f"rolled back by {by}: {reason.strip()}"
        if not deps.registry.stop_rollout(model, version, RolloutStatus.ROLLED_BACK, refusal):
            raise SluiceError(f"{model} version {version}'s rollout is not running; nothing to stop")
        event = _answered(live, EventType.APPROVAL_REFUSED, by, refusal, note)
        deps.registry.append_event(event)
        return event
    record = pending_version(deps.registry, model, version)
    refusal = f"rejected by {by}: {reason.strip()}"
    deps.executions.send_task_failure(str(record.approval_token), APPROVAL_REFUSED_ERROR, refusal)
    event = _answered(record, EventType.APPROVAL_REFUSED, by, refusal, note)
    deps.registry.append_event(event)
    return event
