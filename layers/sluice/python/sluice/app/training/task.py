"""Train as an ECS Fargate task: the same step as TrainFunction's `train`, one code path.

The state machine cannot hand a container its run directly (ECS overrides hold 8 KB; a run after a
search is larger) and `ecs:runTask.sync` returns the task's description, not what the container
computed. So: `stage_training_task` (a Lambda step) writes the run to run.json; the task reads it,
runs `train` (`run_training_task`) and writes result.json (the new run, or the error); then
`collect_training_task` (a Lambda step) reads result.json back into the state, re-raising a failed
step's error under its own name so the state machine's Catch treats it as it treats Train's."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

from sluice.app.ports import CoreDeps
from sluice.domain.registry.records import RunState, TaskEvent, TrainingTask, split_uri
from sluice.errors import ArtifactNotFound, SluiceError, TrainingTaskFailed

logger = logging.getLogger(__name__)

TRAIN = "train"


def _task(run: RunState) -> TrainingTask:
    if run.training_task is None:
        raise SluiceError("the run has no training task (PlanSearch did not choose fargate)")
    return run.training_task


def stage_training_task(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """Write the run (and its execution) to the task's run.json, and clear an earlier attempt's result,
    so a retried task never collects a stale one."""
    task = _task(run)
    deps.artifacts.put_json(
        split_uri(task.run_uri)[1],
        {"run": run.model_dump(mode="json", exclude_none=True), "execution_arn": execution_arn},
    )
    deps.artifacts.put_json(split_uri(task.result_uri)[1], {"pending": True})
    return run.model_copy(update={"task_error": None})


def run_training_task(
    run_uri: str, deps: CoreDeps, run_step: Callable[[TaskEvent, CoreDeps], RunState]
) -> int:
    """The container's work: read run.json, run `train` through `run_step` (sluice.app.training.steps', exactly as
    TrainFunction does), write result.json. Returns the process's exit code: 0 when the step succeeded,
    1 when it raised (the error is in result.json, so the state machine can say why)."""
    staged = json.loads(deps.artifacts.get_bytes(run_uri))
    run = RunState.model_validate(staged["run"])
    result_key = split_uri(_task(run).result_uri)[1]
    try:
        done = run_step(TaskEvent(action=TRAIN, run=run, execution_arn=staged["execution_arn"]), deps)
    except Exception as exc:
        logger.exception("training task failed", extra={"model": run.model, "version": run.version})
        deps.artifacts.put_json(
            result_key,
            {
                "error": {
                    "Error": type(exc).__name__,
                    "Cause": str(exc),
                    "trace": traceback.format_exc()[-2000:],
                }
            },
        )
        return 1
    deps.artifacts.put_json(result_key, {"run": done.model_dump(mode="json", exclude_none=True)})
    return 0


def collect_training_task(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """The task's result as the run's state. Raises the task's error under its own name (a domain error
    rejects the version as Train's would), or TrainingTaskFailed with ECS's reason and exit code when
    the task stopped without writing one."""
    task = _task(run)
    try:
        result: dict[str, Any] = json.loads(deps.artifacts.get_bytes(task.result_uri))
    except ArtifactNotFound:
        result = {}
    if "run" in result:
        done = RunState.model_validate(result["run"])
        return done.model_copy(update={"training_task": run.training_task, "task_error": None})
    if "error" in result:
        error = result["error"]
        raise _relayed(str(error.get("Error", "Error")), str(error.get("Cause", "")))
    raise TrainingTaskFailed(
        f"the Fargate training task stopped without a result: {_stopped(run.task_error)}"
    )


def _relayed(name: str, message: str) -> SluiceError:
    """An exception whose class has the task's error's name: Lambda reports it as the errorType."""
    if not name.isidentifier():
        return TrainingTaskFailed(f"{name}: {message}")
    return type(name, (SluiceError,), {"__module__": __name__})(message)


def _stopped(task_error: dict[str, Any] | None) -> str:
    """ECS's words for why the task stopped, from the error Step Functions caught (its Cause is the
    task's description as JSON)."""
    if not task_error:
        return "no reason recorded"
    cause = task_error.get("Cause") or ""
    try:
        described = json.loads(cause)
    except (TypeError, ValueError):
        return f"{task_error.get('Error', 'Error')}: {cause}"[:1000]
    containers = described.get("Containers") or described.get("containers") or [{}]
    exit_codes = [c.get("ExitCode", c.get("exitCode")) for c in containers]
    reason = described.get("StoppedReason") or described.get("stoppedReason") or task_error.get("Error")
    return f"{reason} (exit code {', '.join(str(code) for code in exit_codes)})"
