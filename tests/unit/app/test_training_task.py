"""The Fargate branch's steps on in-memory ports: PlanSearch chooses the backend from the dataset record,
the task runs `train` through run.json / result.json, and Collect turns every outcome into the state or
an error the state machine routes like Train's."""

from __future__ import annotations

import json

import pytest

from sluice.app.training.steps import run_step
from sluice.app.training.task import run_training_task
from sluice.domain.registry.records import DatasetRecord, RunState, TaskEvent, utc_now
from sluice.domain.training.backend import LambdaLimits
from sluice.errors import SluiceError, TrainingTaskFailed
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_steps import FIRST, SPEC_TEXT, execution_arn, step, stored_run

FARGATE_SPEC = SPEC_TEXT + "resources: {backend: fargate, cpu: 1024, memory: 4096}\n"


def _planned(fakes: FakePorts, spec_text: str, limits: LambdaLimits | None = None) -> RunState:
    """A run allocated and planned, its dataset registered as ingest registers it (300 rows)."""
    run = step(fakes, "allocate", stored_run(fakes, FIRST, spec_text), "backend")
    fakes.registry.put_dataset(
        DatasetRecord(
            model=run.model,
            sha256=run.dataset_sha256,
            uri=run.dataset_uri,
            source_key="data/first.csv",
            n_rows=300,
            size_bytes=20_000,
            spec_sha256=run.spec_sha256,
            validation_uri=run.dataset_uri + ".validation.json",
            created_at=utc_now(),
        )
    )
    event = TaskEvent(action="plan_search", run=run, execution_arn=execution_arn("backend"))
    return run_step(event, fakes.core_deps(), limits)


def test_plan_search_sends_a_dataset_past_the_limits_to_fargate(fakes: FakePorts) -> None:
    # Given the stack's limits below the dataset's size (the spec says nothing: auto)
    run = _planned(fakes, SPEC_TEXT, LambdaLimits(max_cells=10, max_bytes=10**9))
    # Then Train goes to Fargate, with the default task size and where the run will be staged
    assert run.backend == "fargate"
    assert run.backend_reason == "300 rows × 7 columns = 2100 cells > 10"
    assert run.training_task is not None
    assert (run.training_task.cpu, run.training_task.memory) == ("4096", "16384")
    assert run.training_task.run_uri.endswith("/training-task/run.json")
    # and with the defaults, the same small dataset trains in Lambda
    assert _planned(FakePorts(), SPEC_TEXT).backend == "lambda"


def test_the_task_trains_what_train_trains_and_collect_returns_it(fakes: FakePorts) -> None:
    # Given a run planned for Fargate and staged
    deps = fakes.core_deps()
    run = step(fakes, "stage_training_task", _planned(fakes, FARGATE_SPEC), "backend")
    assert run.training_task is not None and run.training_task.cpu == "1024"
    # When the container's work runs, then Collect
    assert run_training_task(run.training_task.run_uri, deps, run_step) == 0
    collected = step(fakes, "collect_training_task", run, "backend")
    # Then the run carries what Train adds, and says where it trained
    assert "pipeline" in collected.artifacts and collected.n_train is not None
    assert collected.backend == "fargate" and collected.training_task == run.training_task


def test_a_step_error_in_the_task_comes_back_under_its_own_name(fakes: FakePorts) -> None:
    run = step(fakes, "stage_training_task", _planned(fakes, FARGATE_SPEC), "backend")
    assert run.training_task is not None
    # Given the dataset is gone when the task reads it
    broken = run.model_copy(update={"dataset_uri": run.dataset_uri + ".missing"})
    fakes.artifacts.put_json(
        run.training_task.run_uri.split("/", 3)[3],
        {"run": broken.model_dump(mode="json"), "execution_arn": "x"},
    )
    assert run_training_task(run.training_task.run_uri, fakes.core_deps(), run_step) == 1
    with pytest.raises(SluiceError) as raised:
        step(fakes, "collect_training_task", run, "backend")
    assert type(raised.value).__name__ == "ArtifactNotFound"


def test_a_task_that_stopped_without_a_result_fails_with_ecs_reason(fakes: FakePorts) -> None:
    run = step(fakes, "stage_training_task", _planned(fakes, FARGATE_SPEC), "backend")
    described = {"StoppedReason": "OutOfMemoryError: Container killed", "Containers": [{"ExitCode": 137}]}
    failed = run.model_copy(
        update={"task_error": {"Error": "States.TaskFailed", "Cause": json.dumps(described)}}
    )
    with pytest.raises(TrainingTaskFailed, match=r"OutOfMemoryError: Container killed \(exit code 137\)"):
        step(fakes, "collect_training_task", failed, "backend")
