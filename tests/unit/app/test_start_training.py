"""Starting TrainAndPromote on the in-memory ports: execution names (an upload's is deterministic, a
manual or drift run's is new each time), a repeated start that is not a new run, and the run a
retraining gets (the current spec and the latest accepted dataset, or the one named; never a dataset
whose training was rejected; plus the labelled traffic a `retraining:` section asks for)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sluice.app.training.start import (
    EXECUTION_NAME_MAX,
    execution_name,
    is_accepted,
    prepare_retraining,
    retraining_run,
    start_manual_run,
    start_training,
)
from sluice.domain.registry.records import (
    AuditEvent,
    DatasetKind,
    DatasetRecord,
    EventType,
    ExecutionRef,
    RunState,
    SpecRecord,
    Trigger,
    VersionStatus,
    new_event_id,
)
from sluice.domain.spec.model_spec import RetrainingSpec, parse_spec
from sluice.errors import ModelNotFound
from tests.unit.app.drift_world import LOANS_SPEC, NOW, loan_rows
from tests.unit.app.fakes import ALICE, FakePorts, InMemoryExecutions
from tests.unit.app.test_labelled_traffic import served_with_labels, stored_upload

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


def add_spec(fakes: FakePorts, sha256: str = SPEC, text: str = LOANS_SPEC) -> None:
    """The model's spec (`text`, stored) current under the hash `sha256`."""
    uri = fakes.artifacts.add(f"s3://artifacts/specs/{MODEL}/{sha256}.yaml", text.encode())
    fakes.registry.register_spec(
        SpecRecord(
            model=MODEL,
            sha256=sha256,
            uri=uri,
            source_key=f"{MODEL}/spec.yaml",
            created_at="2026-12-01T00:00:00.000000Z",
        ),
        AuditEvent(model=MODEL, type=EventType.SPEC_REGISTERED, id=new_event_id()),
    )


def add_dataset(fakes: FakePorts, sha256: str, created_at: str) -> None:
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
def test_starting_an_upload_run_starts_one_execution_with_the_run_as_input(fakes: FakePorts) -> None:
    # When an upload run is started
    started = start_training(upload_run(), fakes.deps())
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


def test_a_repeated_start_is_not_a_new_run(fakes: FakePorts) -> None:
    # Given an upload run that started
    first = start_training(upload_run(), fakes.deps())
    # When it is started again
    again = start_training(upload_run(), fakes.deps())
    # Then it names the same execution, says it did not start, and writes no second audit event
    assert (again.arn, again.started) == (first.arn, False)
    assert len(fakes.executions.executions) == 1
    assert fakes.registry.event_types(MODEL) == [EventType.TRAINING_STARTED]


def test_a_repeat_that_step_functions_answers_as_started_is_still_not_a_new_run() -> None:
    # Given StartExecution answering a repeat as a success (the first execution still runs)
    fakes = FakePorts(executions=RepeatAnsweredAsStarted())
    first = start_training(upload_run(), fakes.deps())
    # When the run is started again
    again = start_training(upload_run(), fakes.deps())
    # Then the registry's record of the start tells the repeat apart: not started, audited once
    assert first.started is True and again.started is False
    assert fakes.registry.event_types(MODEL) == [EventType.TRAINING_STARTED]


def test_a_start_stopped_before_its_event_is_recorded_when_run_again(fakes: FakePorts) -> None:
    # Given an upload run whose execution started, its invocation stopped before recording the start
    name = execution_name(MODEL, DATASET, SPEC, Trigger.UPLOAD)
    fakes.executions.start(name, {"model": MODEL})
    # When the invocation is run again
    again = start_training(upload_run(), fakes.deps())
    # Then it starts nothing new, and the start is recorded, once
    assert again.started is False and len(fakes.executions.executions) == 1
    assert fakes.registry.event_types(MODEL) == [EventType.TRAINING_STARTED]
    start_training(upload_run(), fakes.deps())
    assert fakes.registry.event_types(MODEL) == [EventType.TRAINING_STARTED]


# ------------------------------------------------------------------------------------------ retraining
def test_a_retraining_run_takes_the_current_spec_and_the_latest_dataset(fakes: FakePorts) -> None:
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


def test_a_retraining_run_names_what_is_missing(fakes: FakePorts) -> None:
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


def test_a_manual_run_is_a_new_execution_every_time(fakes: FakePorts) -> None:
    # Given a spec and an accepted dataset
    add_spec(fakes)
    add_dataset(fakes, "a" * 64, "2026-12-01T00:00:00.000000Z")
    # When `sluice models train` starts a run twice on the same data
    first = start_manual_run(MODEL, fakes.deps(), by=ALICE, note="after the incident")
    second = start_manual_run(MODEL, fakes.deps(), by=ALICE)
    # Then both are new executions of a manual run on that dataset, each audited
    assert first.started and second.started and first.arn != second.arn
    inputs = fakes.executions.inputs()
    assert [(i["trigger"], i["dataset_sha256"], i["spec_sha256"]) for i in inputs] == [
        ("manual", "a" * 64, SPEC)
    ] * 2
    started = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.TRAINING_STARTED]
    assert sorted(e.execution_arn or "" for e in started) == sorted([first.arn, second.arn])
    # and each start records who started it (their principal) and their note
    notes = {e.execution_arn: (e.by, e.note) for e in started}
    assert notes == {first.arn: (ALICE.arn, "after the incident"), second.arn: (ALICE.arn, None)}


# ------------------------------------------------------------------------------- accepted datasets
def decided_version(fakes: FakePorts, dataset: str, status: VersionStatus) -> None:
    """A version of MODEL trained on `dataset` and decided with `status`."""
    record = fakes.train_version(MODEL, {}, spec_sha256=SPEC, dataset_sha256=dataset)
    fakes.registry.versions[(MODEL, record.version)] = record.model_copy(update={"status": status})


@pytest.mark.parametrize(
    ("statuses", "accepted"),
    [
        ([], True),  # validated, not trained on yet
        ([VersionStatus.TRAINING], True),
        ([VersionStatus.REJECTED], False),
        ([VersionStatus.FAILED], True),  # a run that failed (a fault) says nothing of its data
        ([VersionStatus.FAILED, VersionStatus.REJECTED], False),
        ([VersionStatus.REJECTED, VersionStatus.REJECTED], False),
        ([VersionStatus.REJECTED, VersionStatus.PRODUCTION], True),
        ([VersionStatus.ARCHIVED], True),
        ([VersionStatus.CANDIDATE, VersionStatus.FAILED], True),
    ],
)
def test_a_dataset_is_accepted_unless_its_training_was_only_rejected(
    fakes: FakePorts, statuses: list[VersionStatus], accepted: bool
) -> None:
    # Given a validated dataset, versions trained on it decided with `statuses`, and another dataset's
    # rejected version
    add_dataset(fakes, "a" * 64, "2026-12-01T00:00:00.000000Z")
    for status in statuses:
        decided_version(fakes, "a" * 64, status)
    decided_version(fakes, "b" * 64, VersionStatus.REJECTED)
    # When it is judged
    dataset = fakes.registry.get_dataset(MODEL, "a" * 64)
    assert dataset is not None
    # Then it is accepted unless a version was rejected and none passed its gates
    assert is_accepted(dataset, fakes.registry.list_versions(MODEL)) is accepted


def test_a_retraining_never_takes_a_dataset_whose_training_was_rejected(fakes: FakePorts) -> None:
    # Given a dataset in production and a later upload whose training was rejected (a noisy file)
    add_spec(fakes)
    add_dataset(fakes, "a" * 64, "2026-12-01T00:00:00.000000Z")
    decided_version(fakes, "a" * 64, VersionStatus.PRODUCTION)
    add_dataset(fakes, "b" * 64, "2026-12-02T00:00:00.000000Z")
    decided_version(fakes, "b" * 64, VersionStatus.REJECTED)
    # When a drift retraining is prepared
    run = prepare_retraining(MODEL, Trigger.DRIFT, fakes.deps())
    # Then it trains the accepted dataset, not the later rejected one
    assert run.dataset_sha256 == "a" * 64 and run.recent_rows == 0
    # And `sluice models train --dataset` may still name the rejected one
    assert retraining_run(MODEL, Trigger.MANUAL, fakes.registry, "b" * 64).dataset_sha256 == "b" * 64


def test_with_every_dataset_rejected_there_is_nothing_to_retrain_on(fakes: FakePorts) -> None:
    # Given a spec and one dataset whose training was rejected
    add_spec(fakes)
    add_dataset(fakes, "b" * 64, "2026-12-02T00:00:00.000000Z")
    decided_version(fakes, "b" * 64, VersionStatus.REJECTED)
    # When a retraining is prepared, Then it says there is no accepted dataset, and why
    with pytest.raises(ModelNotFound, match="no accepted dataset \\(the training of every uploaded dataset"):
        prepare_retraining(MODEL, Trigger.DRIFT, fakes.deps())


# ------------------------------------------------------------------ retraining on labelled traffic
def labelled_world(fakes: FakePorts, spec_text: str) -> DatasetRecord:
    """MODEL with `spec_text` current, an accepted upload of 60 rows and 20 served rows labelled."""
    spec = parse_spec(spec_text)
    add_spec(fakes, text=spec_text)
    base = stored_upload(fakes, spec, loan_rows(60, seed=1))
    served_with_labels(fakes, loan_rows(20, seed=2, shift=1.0), labelled=20)
    return base


def test_a_retraining_trains_on_the_accepted_upload_plus_labelled_traffic(fakes: FakePorts) -> None:
    # Given a spec asking for retraining on 3 days of labelled traffic weighed 4 times
    spec_text = LOANS_SPEC + "retraining: {window_days: 3, recent_weight: 4.0}\n"
    base = labelled_world(fakes, spec_text)
    # When a drift retraining is started
    started = start_training(prepare_retraining(MODEL, Trigger.DRIFT, fakes.deps(), now=NOW), fakes.deps())
    # Then it trains a dataset of its own: the upload, then the 20 labelled rows weighed 4 times
    (payload,) = fakes.executions.inputs()
    combined = fakes.registry.get_dataset(MODEL, payload["dataset_sha256"])
    assert started.started and combined is not None and combined.sha256 != base.sha256
    assert (combined.kind, combined.n_rows, combined.recent_rows) == (DatasetKind.RETRAINING, 80, 20)
    assert (payload["recent_rows"], payload["recent_weight"], payload["trigger"]) == (20, 4.0, "drift")
    assert payload["dataset_uri"] == combined.uri
    # And its lineage names the upload and the window of traffic
    window = f"{NOW - timedelta(days=3):%Y-%m-%dT%H:%M:%SZ}..{NOW:%Y-%m-%dT%H:%M:%SZ}"
    assert (
        combined.lineage
        == f"dataset {base.sha256[:12]} ({base.source_key}) + captured traffic {window} + feedback"
    )


@pytest.mark.parametrize("trigger", [Trigger.DRIFT, Trigger.MANUAL])
def test_a_spec_without_retraining_learns_from_labelled_traffic_with_the_defaults(
    fakes: FakePorts, trigger: Trigger
) -> None:
    # Given labelled traffic, and a spec without a `retraining:` section
    base = labelled_world(fakes, LOANS_SPEC)
    spec_sha = fakes.registry.current_spec(MODEL).sha256  # type: ignore[union-attr]
    # When a drift (or a person's) retraining is prepared
    run = prepare_retraining(MODEL, trigger, fakes.deps(), now=NOW)
    # Then it trains the upload plus the labelled rows with the section's defaults (7 days, weight 2,
    # the newest 30% held out), and the spec is the one written, its hash unchanged
    defaults = RetrainingSpec()
    combined = fakes.registry.get_dataset(MODEL, run.dataset_sha256)
    assert combined is not None and combined.sources == [base.sha256, combined.sources[1]]
    assert (combined.kind, combined.n_rows, combined.recent_rows) == (DatasetKind.RETRAINING, 80, 20)
    assert (run.recent_rows, run.recent_weight) == (20, defaults.recent_weight)
    assert run.recent_holdout_rows == int(defaults.recent_holdout_fraction * 20)
    assert run.spec_sha256 == spec_sha and fakes.registry.current_spec(MODEL).sha256 == spec_sha  # type: ignore[union-attr]
    window = f"{NOW - timedelta(days=defaults.window_days):%Y-%m-%dT%H:%M:%SZ}"
    assert combined.lineage is not None and window in combined.lineage


def test_a_named_dataset_is_trained_alone_even_with_a_retraining_section(fakes: FakePorts) -> None:
    # Given labelled traffic and a spec asking for retraining on it
    base = labelled_world(fakes, LOANS_SPEC + "retraining: {window_days: 3}\n")
    # When `sluice models train --dataset` names the upload
    start_manual_run(MODEL, fakes.deps(), base.sha256, by=ALICE)
    # Then that dataset is trained, without the traffic
    (payload,) = fakes.executions.inputs()
    assert payload["dataset_sha256"] == base.sha256 and "recent_rows" not in payload
