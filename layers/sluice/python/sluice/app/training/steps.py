"""The TrainAndPromote state machine's steps, one function per task state: allocate a version, then
the training steps (app/training/candidate.py: plan the search, cross-validate, train, export and check
parity, evaluate against production), then promote, reject or fail. Handlers parse their event and
call `run_step`."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING

from sluice.app.ports import CoreDeps
from sluice.app.registry.dashboard import refresh_dashboard
from sluice.app.rollout.live import (
    begin_live_rollout,
    check_live_rollout,
    comparison_of,
    end_live_rollout,
    finished_rollout,
)
from sluice.app.rollout.plan import approval_refusal, plan_rollout, request_approval
from sluice.app.training.candidate import (
    cross_validate,
    evaluate_challenger,
    export_and_check_parity,
    plan_search,
    require_version,
    train,
)
from sluice.app.training.task import collect_training_task, stage_training_task
from sluice.domain.registry.records import (
    AuditEvent,
    EventType,
    ModelVersion,
    RunState,
    TaskEvent,
    VersionStatus,
)
from sluice.domain.training.backend import LambdaLimits
from sluice.errors import PromotionConflict, SluiceError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sluice.domain.training.search import CandidateScore  # imports scikit-learn: typing only


CROSS_VALIDATE = "cross_validate"
# The steps after which the dashboard shows something new (a decision, a rollout's state).
DECISION_ACTIONS = frozenset(
    {"promote", "reject", "fail", "await_approval", "start_rollout", "check_rollout"}
)


def score_candidate(event: TaskEvent, deps: CoreDeps) -> CandidateScore:
    """A search's `cross_validate` task (one SearchCandidates Map iteration): the candidate's score."""
    if event.action != CROSS_VALIDATE or event.candidate is None:
        raise SluiceError("cross_validate needs the candidate's index (the Map's item)")
    return cross_validate(event.run, event.candidate, deps)


def run_step(event: TaskEvent, deps: CoreDeps, limits: LambdaLimits | None = None) -> RunState:
    """Dispatch a TrainAndPromote task by its action (every action but `cross_validate`, see
    `score_candidate`): the run state it returns. `limits`: the largest dataset Lambda trains (the
    stack's thresholds, read by PlanSearch)."""
    steps = {
        "allocate": allocate_version,
        "plan_search": lambda run, arn, svc: plan_search(run, arn, svc, limits),
        "train": train,
        "stage_training_task": stage_training_task,
        "collect_training_task": collect_training_task,
        "export": export_and_check_parity,
        "evaluate": evaluate_challenger,
        "promote": promote,
        "reject": reject,
        "fail": fail,
        "plan_rollout": plan_rollout,
        "await_approval": lambda run, arn, svc: await_approval(run, arn, svc, event.task_token),
        "start_rollout": start_rollout,
        "check_rollout": check_live_rollout,
    }
    try:
        step = steps[event.action]
    except KeyError:
        known = sorted([*steps, CROSS_VALIDATE])
        raise SluiceError(f"unknown action {event.action!r}; expected one of {known}") from None
    result = step(event.run, event.execution_arn, deps)
    if event.action in DECISION_ACTIONS:
        refresh_dashboard(deps, event.run.model)  # never raises: the decision stands
    return result


def allocate_version(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """The run's version number, allocated once per execution: a retried task gets the same one."""
    version = deps.registry.allocate_version(
        run.model,
        execution_arn.rsplit(":", 1)[-1],
        trigger=run.trigger,
        execution_arn=execution_arn,
        dataset_sha256=run.dataset_sha256,
        dataset_uri=run.dataset_uri,
        spec_sha256=run.spec_sha256,
    )
    return run.model_copy(update={"version": version, "status": VersionStatus.TRAINING})


def _decided_record(run: RunState, deps: CoreDeps, status: VersionStatus, reason: str | None) -> ModelVersion:
    version = require_version(run)
    current = deps.registry.get_version(run.model, version)
    return current.model_copy(
        update={
            "status": status,
            "metrics": run.metrics,
            "champion_version": run.champion_version,
            "champion_metrics": run.champion_metrics,
            "gates": run.gates,
            "parity": run.parity,
            "artifacts": {k: v for k, v in run.artifacts.items() if k != "pipeline"},
            "reason": reason,
            "backend": run.backend or current.backend,
        }
    )


def promote(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """Conditional write of the production alias, expecting the version Evaluate compared against.
    Raises PromotionConflict when it moved (the state machine then evaluates again) — unless it moved
    to this very version: the step ran before and promoted it, and its answer was lost (Step Functions
    runs a step again after a timeout or a Lambda.SdkClientException), so the promotion stands, recorded
    once."""
    record = _decided_record(run, deps, VersionStatus.PRODUCTION, None)
    details: dict[str, object] = {"metrics": run.metrics, "champion_metrics": run.champion_metrics}
    comparison = comparison_of(run, deps)
    if comparison is not None:
        details["rollout"] = {"mode": comparison.mode, **comparison.summary()}
    event = AuditEvent.of_run(
        run,
        EventType.PROMOTED,
        execution_arn,
        from_version=run.champion_version,
        to_version=record.version,
        version=record.version,
        reason=_promotion_reason(run),
        details=details,
    )
    try:
        deps.registry.promote(
            record, expected=run.champion_version, event=event, rollout=finished_rollout(run, deps)
        )
    except PromotionConflict:
        alias = deps.registry.get_alias(run.model)
        if alias is None or alias.version != record.version:
            raise
        logger.info("promoted already, by an earlier attempt of this step", extra={"model": run.model})
        return run.model_copy(update={"status": VersionStatus.PRODUCTION, "reason": event.reason})
    logger.info(
        "promoted", extra={"model": run.model, "version": record.version, "from": run.champion_version}
    )
    return run.model_copy(update={"status": VersionStatus.PRODUCTION, "reason": event.reason})


def _promotion_reason(run: RunState) -> str:
    if run.rollout is not None and run.rollout.decision == "promote" and run.rollout.reason:
        return run.rollout.reason
    if run.champion_version is None:
        return "first version to pass its gates"
    if not run.champion_metrics:
        return f"passed its gates; version {run.champion_version} could not be compared on this holdout"
    return f"passed its gates against version {run.champion_version} on the same holdout"


def await_approval(
    run: RunState, execution_arn: str, deps: CoreDeps, task_token: str | None = None
) -> RunState:
    """Manual rollout: the version waits for a person as pending_approval, with the task token its
    execution waits on (app/rollout/plan.py `request_approval`)."""
    decided = _decided_record(run, deps, VersionStatus.PENDING_APPROVAL, None)
    return request_approval(run, decided, execution_arn, task_token, deps)


def start_rollout(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """Shadow or canary: the version, with its evaluation, goes beside production (app/rollout/live.py)."""
    decided = _decided_record(run, deps, VersionStatus.CANDIDATE, None)
    return begin_live_rollout(run, decided, execution_arn, deps)


def rejection_reason(run: RunState) -> str:
    """Why a run was rejected: a live rollout's roll-back, a person's refusal, the failed gates, or the
    domain error the state machine caught."""
    if run.rollout is not None and run.rollout.decision == "roll_back" and run.rollout.reason:
        return run.rollout.reason
    refusal = approval_refusal(run.error)
    if refusal:
        return refusal
    if run.error:
        cause = run.error.get("Cause") or ""
        message = cause
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(cause).get("errorMessage", cause)
        return f"{run.error.get('Error', 'Error')}: {message}"
    if run.gates and run.gates.failed:
        return "gates failed: " + "; ".join(
            f"{f.gate} (value {f.value}, limit {f.limit})" for f in run.gates.failed
        )
    return "did not pass its gates"


def _rejection_details(run: RunState, deps: CoreDeps) -> dict[str, object]:
    details: dict[str, object] = {"failed_gates": [f.gate for f in run.gates.failed] if run.gates else []}
    comparison = comparison_of(run, deps)
    if comparison is not None:
        details["rollout"] = {"mode": comparison.mode, **comparison.summary()}
    return details


def reject(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """The version is marked rejected, its failed gates or the caught error as the reason (production is
    not touched)."""
    reason = rejection_reason(run)
    end_live_rollout(run, reason, deps)
    record = _decided_record(run, deps, VersionStatus.REJECTED, reason)
    deps.registry.decide(
        record,
        AuditEvent.of_run(
            run,
            EventType.REJECTED,
            execution_arn,
            version=record.version,
            reason=reason,
            details=_rejection_details(run, deps),
        ),
    )
    logger.info("rejected", extra={"model": run.model, "version": record.version, "reason": reason})
    return run.model_copy(update={"status": VersionStatus.REJECTED, "reason": reason})


def fail(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """An unexpected error: the version is marked failed (production is not touched). A run whose
    AllocateVersion failed may still own a version (allocated, then the answer lost): that one is marked
    failed, so no version of an ended run is left in training."""
    reason = rejection_reason(run) if run.error else "unexpected failure"
    if run.version is None:
        allocated = deps.registry.run_version(run.model, execution_arn.rsplit(":", 1)[-1])
        run = run.model_copy(update={"version": allocated}) if allocated is not None else run
    event = AuditEvent.of_run(
        run,
        EventType.FAILED,
        execution_arn,
        version=run.version,
        reason=reason,
    )
    if run.version is None:
        deps.registry.append_event(event)
    else:
        end_live_rollout(run, reason, deps)
        deps.registry.decide(_decided_record(run, deps, VersionStatus.FAILED, reason), event)
    return run.model_copy(update={"status": VersionStatus.FAILED, "reason": reason})
