"""Whether the scheduled drift check starts a retraining, and why not when it does not: on dataset drift
or live quality under the spec's gate (trigger drift), or when the spec's retraining schedule is due
(trigger schedule); never when the spec forbids it, one is running, the cool-down holds, or it would
learn from exactly the dataset and spec of the production version (nothing new)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.ports import Executions, Registry, TrainingDeps
from sluice.app.training.start import prepare_retraining, start_training
from sluice.domain.monitoring.drift.next_steps import RetrainHold, Retraining, RetrainReason
from sluice.domain.registry.records import AuditEvent, EventType, RunState, Trigger, new_event_id
from sluice.domain.spec.model_spec import ModelSpec
from sluice.errors import ModelNotFound

logger = logging.getLogger(__name__)

RUNNING = "RUNNING"
# The retrainings the check starts itself; one of them holds the next back for the cool-down.
AUTOMATIC_TRIGGERS = frozenset({Trigger.DRIFT, Trigger.SCHEDULE})


def decide_retraining(
    deps: TrainingDeps,
    limits: DriftCheckLimits,
    spec: ModelSpec,
    now: datetime,
    *,
    dataset_drift: bool,
    quality_fell: bool,
) -> Retraining:
    """Start at most one retraining: on dataset drift or live quality under the gate (concept drift shows
    in the labels, not the inputs), else when the schedule is due; the result says which was started,
    or why the last one asked for was held."""
    retraining = Retraining()
    if dataset_drift or quality_fell:
        retraining = retrain(deps, limits, spec, now, "drift" if dataset_drift else "quality")
    if retraining.execution is None and schedule_due(deps.registry, spec, now):
        retraining = retrain(deps, limits, spec, now, "schedule")
    return retraining


def retrain(
    deps: TrainingDeps, limits: DriftCheckLimits, spec: ModelSpec, now: datetime, reason: RetrainReason
) -> Retraining:
    """Start one retraining (see `prepare_retraining`: the latest accepted upload, plus the labelled
    traffic the spec's `retraining:`, or its defaults, asks for), unless the spec forbids retraining on
    drift (reasons drift and quality), one is running, the cool-down since drift or the schedule last
    started one holds, or its dataset and spec are the production version's (see `nothing_new`)."""
    trigger = Trigger.SCHEDULE if reason == "schedule" else Trigger.DRIFT
    if trigger is Trigger.DRIFT and not spec.retrain_on_drift:
        why = "the spec does not allow retraining on drift (retrain_on_drift: false)"
        return Retraining(reason=reason, held=RetrainHold.NOT_ALLOWED, why=why)
    running = _running_training(deps.executions, spec.name)
    if running:
        return Retraining(reason=reason, held=RetrainHold.RUNNING, why=running)
    cooling = _cooldown(deps.registry, spec.name, now, timedelta(hours=limits.retrain_cooldown_hours))
    if cooling:
        return Retraining(reason=reason, held=RetrainHold.COOLDOWN, why=cooling)
    try:
        run = prepare_retraining(spec.name, trigger, deps, now=now)
    except ModelNotFound:
        return Retraining(reason=reason, held=RetrainHold.NO_DATASET, why="no dataset to retrain on")
    held = nothing_new(deps.registry, run, reason)
    if held is not None:
        return held
    # The same start as an upload's (execution name, audit event); the trigger makes the name unique.
    return Retraining(reason=reason, execution=start_training(run, deps).arn)


def nothing_new(registry: Registry, run: RunState, reason: RetrainReason) -> Retraining | None:
    """The hold when `run` would train on exactly the production version's dataset and spec — it could
    only learn what that version learnt (no feedback since, no newer upload, no new spec) — logged and
    recorded as a `retraining_held` audit event (once while nothing changes: not again at every check);
    None when there is something new, or no production version."""
    alias = registry.get_alias(run.model)
    if alias is None:
        return None
    production = registry.get_version(run.model, alias.version)
    if (production.dataset_sha256, production.spec_sha256) != (run.dataset_sha256, run.spec_sha256):
        return None
    why = f"nothing new to learn from since v{production.version}: send feedback or upload newer data"
    logger.info("retraining held", extra={"model": run.model, "reason": reason, "why": why})
    event = AuditEvent(
        model=run.model,
        type=EventType.RETRAINING_HELD,
        id=new_event_id(),
        version=production.version,
        reason=why,
        trigger=run.trigger,
        details={"dataset_sha256": run.dataset_sha256, "spec_sha256": run.spec_sha256, "asked_by": reason},
    )
    registry.record_once(
        f"retraining-held#v{production.version}#{run.dataset_sha256}#{run.spec_sha256}", event
    )
    return Retraining(reason=reason, held=RetrainHold.NOTHING_NEW, why=why)


def schedule_due(registry: Registry, spec: ModelSpec, now: datetime) -> bool:
    """Whether the spec's `retraining.schedule_days` asks for a retraining: the model's last training
    start (any trigger) is older than that, or it never started one."""
    days = spec.retraining.schedule_days if spec.retraining else None
    if days is None:
        return False
    starts = [
        datetime.fromisoformat(event.time)
        for event in registry.list_events(spec.name)
        if event.type is EventType.TRAINING_STARTED
    ]
    return not starts or now - max(starts) >= timedelta(days=days)


def _running_training(executions: Executions, model: str) -> str | None:
    for execution in executions.list(status=RUNNING):
        payload = json.loads(executions.describe(execution["executionArn"]).get("input") or "{}")
        if payload.get("model") == model:
            return f"a training run is already running ({execution['name']})"
    return None


def _cooldown(registry: Registry, model: str, now: datetime, cooldown: timedelta) -> str | None:
    for event in registry.list_events(model):
        recent = now - datetime.fromisoformat(event.time) < cooldown
        if event.type is EventType.TRAINING_STARTED and event.trigger in AUTOMATIC_TRIGGERS and recent:
            return f"cool-down: {event.trigger.value} started a retraining at {event.time}"
    return None
