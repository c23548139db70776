"""Starting TrainAndPromote on the in-memory ports: execution names (an upload's is deterministic, a
manual or drift run's is new each time), a repeated start that is not a new run, and the run a
retraining gets (the current spec and the latest accepted dataset, or the one named)."""

from __future__ import annotations

import pytest

from sluice.app.start_training import (
    EXECUTION_NAME_MAX,
    execution_name,
    retraining_run,
    start_manual_run,
    start_training,
)
from sluice.domain.records import (
    AuditEvent,
    DatasetRecord,
    EventType,
    ExecutionRef,
    RunState,
    SpecRecord,
    Trigger,
    new_event_id,
)
from sluice.errors import ModelNotFound
from tests.unit.app.fakes import FakeServices, InMemoryExecutions

MODEL = "loans"
LONGEST_MODEL = "m" * 63  # the longest name MODEL_NAME allows
DATASET = "d" * 64
SPEC = "s" * 64


def upload_run(model: str = MODEL, dataset: str = DATASET, spec: str = SPEC) -> RunState:
    return RunState(
        model=model,
        dataset_sha256=dataset,
        dataset_uri=f"s3://artifacts/datasets/{model}/{dataset}/data.csv",
        spec_sha256=spec,
        spec_uri=f"s3://artifacts/specs/{model}/{spec}.yaml",
    )


def add_spec(fakes: FakeServices, sha256: str = SPEC) -> None:
    fakes.registry.register_spec(
        SpecRecord(
            model=MODEL,
            sha256=sha256,
            uri=f"s3://artifacts/specs/{MODEL}/{sha256}.yaml",
            source_key=f"{MODEL}/spec.yaml",
            created_at="2026-12-01T00:00:00.000000Z",
        ),
        AuditEvent(model=MODEL, type=EventType.SPEC_REGISTERED, id=new_event_id()),
    )


def add_dataset(fakes: FakeServices, sha256: str, created_at: str) -> None:
    fakes.registry.put_dataset(
        DatasetRecord(
            model=MODEL,
            sha256=sha256,
            uri=f"s3://artifacts/datasets/{MODEL}/{sha256}/data.csv",
            source_key=f"{MODEL}/data/{sha256[:4]}.csv",
            n_rows=100,
            size_bytes=1000,
            spec_sha256=SPEC,
            validation_uri=f"s3://artifacts/datasets/{MODEL}/{sha256}/validation.json",
            created_at=created_at,
        )
    )


class RepeatAnsweredAsStarted(InMemoryExecutions):
    """StartExecution as AWS answers it while the first execution with the name still runs: a repeat
    with the same name and input is a success, indistinguishable from a new start."""

    def start(self, name: str, payload: dict[str, object]) -> ExecutionRef:
        return super().start(name, payload).model_copy(update={"started": True})


# ----------------------------------------------------------------------------------------------- names
def test_an_upload_runs_name_is_its_model_dataset_and_spec() -> None:
    # When the same upload run is named twice, and with another spec
    first = execution_name(MODEL, DATASET, SPEC, Trigger.UPLOAD)
    second = execution_name(MODEL, DATASET, SPEC, Trigger.UPLOAD)
    other_spec = execution_name(MODEL, DATASET, "e" * 64, Trigger.UPLOAD)
    # Then the same data and spec give the same name, and another spec a new one
    assert first == second == f"{MODEL}-{DATASET[:16]}-{SPEC[:12]}"
    assert other_spec != first
    # And the longest model name still fits Step Functions' limit
    assert len(execution_name(LONGEST_MODEL, DATASET, SPEC, Trigger.UPLOAD)) <= EXECUTION_NAME_MAX


@pytest.mark.parametrize("trigger", [Trigger.MANUAL, Trigger.DRIFT])
def test_manual_and_drift_run_names_are_new_each_time(trigger: Trigger) -> None:
    # When the same retraining is named twice
    names = {execution_name(LONGEST_MODEL, DATASET, SPEC, trigger) for _ in range(2)}
    # Then the names differ, say the trigger, and fit Step Functions' limit
    assert len(names) == 2
    for name in names:
        assert f"-{trigger.value}-" in name and len(name) <= EXECUTION_NAME_MAX
        assert name.startswith(LONGEST_MODEL[:36])


# ---------------------------------------------------------------------------------------------- starts
def test_starting_an_upload_run_starts_one_execution_with_the_run_as_input(fakes: FakeServices) -> None:
    # When an upload run is started
    started = start_training(upload_run(), fakes.services())
    # Then one execution runs with the run's fields as input, and its start is audited
    assert started.started is True and started.name == execution_name(MODEL, DATASET, SPEC, Trigger.UPLOAD)
    assert fakes.executions.inputs() == [
        {
            "model": MODEL,
            "dataset_sha256": DATASET,
            "dataset_uri": upload_run().dataset_uri,
            "spec_sha256": SPEC,
            "spec_uri": upload_run().spec_uri,
            "trigger": "upload",
        }
    ]
    (event,) = fakes.registry.list_events(MODEL)
    assert event.type is EventType.TRAINING_STARTED and event.execution_arn == started.arn
    assert event.details == {"dataset_sha256": DATASET, "spec_sha256": SPEC}


def test_a_repeated_start_is_not_a_new_run(fakes: FakeServices) -> None:
    # Given an upload run that started
    first = start_training(upload_run(), fakes.services())
    # When it is started again
    again = start_training(upload_run(), fakes.services())
    # Then it names the same execution, says it did not start, and writes no second audit event
    assert (again.arn, again.started) == (first.arn, False)
    assert len(fakes.executions.executions) == 1
    assert fakes.registry.event_types(MODEL) == [EventType.TRAINING_STARTED]


def test_a_repeat_that_step_functions_answers_as_started_is_still_not_a_new_run() -> None:
    # Given StartExecution answering a repeat as a success (the first execution still runs)
    fakes = FakeServices(executions=RepeatAnsweredAsStarted())
    first = start_training(upload_run(), fakes.services())
    # When the run is started again
    again = start_training(upload_run(), fakes.services())
    # Then the registry's record of the start tells the repeat apart: not started, audited once
    assert first.started is True and again.started is False
    assert fakes.registry.event_types(MODEL) == [EventType.TRAINING_STARTED]


# ------------------------------------------------------------------------------------------ retraining
def test_a_retraining_run_takes_the_current_spec_and_the_latest_dataset(fakes: FakeServices) -> None:
    # Given a spec and two accepted datasets, the later one accepted second
    add_spec(fakes)
    add_dataset(fakes, "b" * 64, "2026-12-02T00:00:00.000000Z")
    add_dataset(fakes, "a" * 64, "2026-12-01T00:00:00.000000Z")
    # When a drift retraining is prepared with no dataset named
    run = retraining_run(MODEL, Trigger.DRIFT, fakes.registry)
    # Then it trains the latest dataset on the current spec
    assert (run.dataset_sha256, run.spec_sha256, run.trigger) == ("b" * 64, SPEC, Trigger.DRIFT)
    assert run.dataset_uri == f"s3://artifacts/datasets/{MODEL}/{'b' * 64}/data.csv"
    assert run.spec_uri == f"s3://artifacts/specs/{MODEL}/{SPEC}.yaml"
    # When a dataset is named
    named = retraining_run(MODEL, Trigger.MANUAL, fakes.registry, "a" * 64)
    # Then that one is trained
    assert named.dataset_sha256 == "a" * 64


def test_a_retraining_run_names_what_is_missing(fakes: FakeServices) -> None:
    # Given no spec: the spec is what is missing
    with pytest.raises(ModelNotFound, match=f"model '{MODEL}' has no spec; upload {MODEL}/spec.yaml first"):
        retraining_run(MODEL, Trigger.MANUAL, fakes.registry)
    # Given a spec but no dataset: an accepted dataset is
    add_spec(fakes)
    with pytest.raises(ModelNotFound, match=f"no accepted dataset; upload {MODEL}/data/\\*.csv first"):
        retraining_run(MODEL, Trigger.MANUAL, fakes.registry)
    # Given a dataset, but another one named: the named one is
    add_dataset(fakes, "a" * 64, "2026-12-01T00:00:00.000000Z")
    with pytest.raises(ModelNotFound, match=f"no accepted dataset {'c' * 64}"):
        retraining_run(MODEL, Trigger.MANUAL, fakes.registry, "c" * 64)


def test_a_manual_run_is_a_new_execution_every_time(fakes: FakeServices) -> None:
    # Given a spec and an accepted dataset
    add_spec(fakes)
    add_dataset(fakes, "a" * 64, "2026-12-01T00:00:00.000000Z")
    # When `sluice models train` starts a run twice on the same data
    first = start_manual_run(MODEL, fakes.services())
    second = start_manual_run(MODEL, fakes.services())
    # Then both are new executions of a manual run on that dataset, each audited
    assert first.started and second.started and first.arn != second.arn
    inputs = fakes.executions.inputs()
    assert [(i["trigger"], i["dataset_sha256"], i["spec_sha256"]) for i in inputs] == [
        ("manual", "a" * 64, SPEC)
    ] * 2
    started = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.TRAINING_STARTED]
    assert sorted(e.execution_arn or "" for e in started) == sorted([first.arn, second.arn])
