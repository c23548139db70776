"""The TrainAndPromote steps on the in-memory ports, in the state machine's order, on small generated
datasets: allocate, train, export and check parity, evaluate against production on the same holdout,
then promote, reject or fail."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sluice.app.data.stored import dataset_prefix, model_prefix, spec_key
from sluice.app.training.steps import run_step
from sluice.domain.candidate import train_candidate
from sluice.domain.data.table import RawTable, to_csv_bytes
from sluice.domain.monitoring.estimation.basis import EstimationBasis
from sluice.domain.registry.records import EventType, RunState, TaskEvent, Trigger, VersionStatus, sha256_hex
from sluice.domain.spec.model_spec import ModelSpec, parse_spec
from sluice.domain.training.evaluation import evaluate
from sluice.domain.training.pipeline import SEED, model_matrix, split_holdout, target_array
from sluice.errors import ChampionUnverifiable, ParityFailed, PromotionConflict, SluiceError
from sluice.tools.example_data import credit_risk
from tests.unit.app.fakes import FakePorts

ROOT = Path(__file__).resolve().parents[3]
MODEL = "credit-risk"
# The credit-risk example with a small forest and gates sized for a few hundred rows.
SPEC_TEXT = re.sub(
    r"gates: .*",
    "gates: {min_metric: 0.6, max_regression: 0.02}",
    re.sub(
        r"algorithm: .*",
        "algorithm: {name: random_forest, params: {n_estimators: 15, max_depth: 5}}",
        (ROOT / "examples" / MODEL / "spec.yaml").read_text(encoding="utf-8"),
    ),
)
SPEC = parse_spec(SPEC_TEXT)
# Columns the generator never leaves empty, so a pipeline without imputation can train on them.
NUMERIC_SPEC_TEXT = """
name: credit-risk
task: binary
target: default
features:
  - {name: income, type: numeric}
  - {name: debt_ratio, type: numeric}
  - {name: credit_lines, type: numeric}
algorithm: {name: random_forest}
metric: roc_auc
"""
FIRST = credit_risk(300, seed=1)
BETTER = credit_risk(1500, seed=2)
NOISY = credit_risk(800, seed=3, label_noise=0.45)
STATE_MACHINE_LIMIT_BYTES = 256 * 1024


def execution_arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:TrainAndPromote:{name}"


def stored_run(fakes: FakePorts, table: RawTable, spec_text: str = SPEC_TEXT) -> RunState:
    """A run's input as ingestion leaves it: the spec and the dataset stored by their hashes."""
    spec = parse_spec(spec_text)
    data = to_csv_bytes(table)
    stored_spec = fakes.artifacts.put_bytes(spec_key(spec.name, spec.sha256), spec_text.encode())
    dataset = fakes.artifacts.put_bytes(dataset_prefix(spec.name, sha256_hex(data)) + "data.csv", data)
    return RunState(
        model=spec.name,
        dataset_sha256=dataset.sha256,
        dataset_uri=dataset.uri,
        spec_sha256=spec.sha256,
        spec_uri=stored_spec.uri,
        trigger=Trigger.UPLOAD,
    )


def step(fakes: FakePorts, action: str, run: RunState, name: str) -> RunState:
    """One task of the state machine, as its handler runs it."""
    event = TaskEvent(action=action, run=run, execution_arn=execution_arn(name))
    return run_step(event, fakes.core_deps())


def evaluated(fakes: FakePorts, table: RawTable, name: str) -> RunState:
    """A run through Allocate, Train, ExportAndCheckParity and Evaluate."""
    run = stored_run(fakes, table)
    for action in ("allocate", "train", "export", "evaluate"):
        run = step(fakes, action, run, name)
    return run


def decided(fakes: FakePorts, table: RawTable, name: str) -> RunState:
    """A whole run: promoted when its gates passed, else rejected (the state machine's Gate choice)."""
    run = evaluated(fakes, table, name)
    assert run.gates is not None
    return step(fakes, "promote" if run.gates.passed else "reject", run, name)


def holdout_of(table: RawTable, spec: ModelSpec = SPEC) -> RawTable:
    return split_holdout(spec, table).holdout


# ------------------------------------------------------------------------------------------- allocate
def test_allocate_gives_one_version_per_execution(fakes: FakePorts) -> None:
    # Given a run's input
    run = stored_run(fakes, FIRST)
    # When Allocate runs twice for one execution (a retried task) and once for another
    first = step(fakes, "allocate", run, "first")
    retried = step(fakes, "allocate", run, "first")
    other = step(fakes, "allocate", run, "second")
    # Then the retry gets the same version and the other execution the next one
    assert (first.version, retried.version, other.version) == (1, 1, 2)
    assert first.status is VersionStatus.TRAINING
    assert fakes.registry.event_types(MODEL) == [EventType.VERSION_ALLOCATED] * 2
    assert fakes.registry.get_version(MODEL, 1).execution_arn == execution_arn("first")


# ---------------------------------------------------------------------------------------------- train
def test_train_weighs_a_retraining_datasets_recent_rows(fakes: FakePorts) -> None:
    # Given the same dataset trained as an upload and as a retraining whose last 100 rows weigh 5
    plain = step(fakes, "train", step(fakes, "allocate", stored_run(fakes, FIRST), "plain"), "plain")
    retraining = stored_run(fakes, FIRST).model_copy(update={"recent_rows": 100, "recent_weight": 5.0})
    weighted = step(fakes, "train", step(fakes, "allocate", retraining, "weighted"), "weighted")
    # When both pipelines score the holdout
    holdout = model_matrix(SPEC, holdout_of(FIRST))
    scores = [
        pickle.loads(fakes.artifacts.get_verified(run.artifacts["pipeline"])).predict_proba(holdout)
        for run in (plain, weighted)
    ]
    # Then the weights changed the fit, on the same training rows
    assert plain.n_train == weighted.n_train
    assert not np.allclose(scores[0], scores[1])


def test_a_retraining_is_scored_on_its_recent_holdout_too(fakes: FakePorts) -> None:
    # Given version 1 in production, and a retraining whose last 300 rows are labelled traffic, the
    # newest 100 of them its recent holdout
    decided(fakes, FIRST, "first")
    run = stored_run(fakes, BETTER).model_copy(
        update={"recent_rows": 300, "recent_weight": 2.0, "recent_holdout_rows": 100}
    )
    # When it runs through Evaluate
    for action in ("allocate", "train", "export", "evaluate"):
        run = step(fakes, action, run, "retraining")
    # Then it trained on none of the recent holdout, and it and the champion were scored on it
    assert (run.n_train or 0) + (run.n_holdout or 0) == BETTER.n_rows - 100
    recent = fakes.artifacts.json(model_prefix(MODEL, 2) + "evaluation.json")["recent_holdout"]
    assert recent["rows"] == 100 and recent["counted"] is True
    assert recent["evaluation"]["metrics"]["roc_auc"] is not None
    assert recent["champion"]["metrics"]["roc_auc"] is not None
    # And the card shows it
    assert fakes.artifacts.json(model_prefix(MODEL, 2) + "card.json")["recent_holdout"]["rows"] == 100


# -------------------------------------------------------------------------------------- the first run
def test_the_first_run_makes_version_1_production_with_its_artifacts(fakes: FakePorts) -> None:
    # When a first dataset runs through every step
    run = decided(fakes, FIRST, "first")
    # Then version 1 is in production, the first version to pass its gates
    assert (run.status, run.reason) == (VersionStatus.PRODUCTION, "first version to pass its gates")
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1
    version = fakes.registry.get_version(MODEL, 1)
    assert version.status is VersionStatus.PRODUCTION
    assert version.metrics["roc_auc"] is not None and version.metrics["roc_auc"] >= 0.6
    assert version.gates is not None and version.gates.passed
    assert version.parity is not None and version.parity.passed
    # And every artifact the registry names is stored with its sha256; the pickled pipeline stays out
    served = {"model", "reference", "background", "statistics", "constraints", "estimation"}
    assert set(version.artifacts) == served | {"evaluation", "card", "card_html"}
    for artifact in version.artifacts.values():
        fakes.artifacts.get_verified(artifact)
    # And what the drift check estimates performance from without labels: CBPE's basis, learnt on the
    # holdout with the model's classes
    basis = EstimationBasis.model_validate_json(fakes.artifacts.get_verified(version.artifacts["estimation"]))
    assert (basis.method, basis.task, basis.classes) == ("cbpe", "binary", [0, 1])
    assert basis.reference_rows == run.n_holdout and len(basis.calibration) == 1
    assert set(basis.sampling) == {"accuracy", "roc_auc", "f1", "precision", "recall"}
    assert run.artifacts["pipeline"].uri == fakes.artifacts.uri(model_prefix(MODEL, 1) + "pipeline.pkl")
    # And the promotion is audited from no version to version 1
    (promoted,) = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.PROMOTED]
    assert (promoted.from_version, promoted.to_version, promoted.reason) == (None, 1, run.reason)
    assert promoted.execution_arn == execution_arn("first")
    # And the run's state stays far below what the state machine carries
    assert len(run.model_dump_json()) < STATE_MACHINE_LIMIT_BYTES


def test_the_card_and_evaluation_document_are_those_sluice_train_writes(fakes: FakePorts) -> None:
    # Given the state machine's version 1 and `sluice train`'s candidate from the same data and spec
    decided(fakes, FIRST, "first")
    card = fakes.artifacts.json(model_prefix(MODEL, 1) + "card.json")
    document = fakes.artifacts.json(model_prefix(MODEL, 1) + "evaluation.json")
    candidate = train_candidate(SPEC, FIRST, dataset_sha256="0" * 64, version="1")
    # Then they are the same model, with the same card parameters: the estimator's resolved ones
    assert card["lineage"]["model_sha256"] == candidate.card.lineage.model_sha256
    assert card["parameters"] == candidate.card.parameters
    assert card["parameters"]["n_estimators"] == 15 and card["parameters"]["max_depth"] == 5
    assert card["parameters"]["random_state"] == SEED and "min_samples_leaf" in card["parameters"]
    # And the same evaluation document, parity included
    assert set(document) == set(candidate.evaluation_document)
    assert document["parity"] == candidate.evaluation_document["parity"] and document["parity"]["passed"]
    assert document["evaluation"]["metrics"] == candidate.evaluation_document["evaluation"]["metrics"]
    assert document["gates"] == candidate.evaluation_document["gates"]
    # And the state machine's card names its run
    assert card["lineage"]["run_id"] == execution_arn("first") and card["lineage"]["trigger"] == "upload"


# ------------------------------------------------------------------------------- challenger vs champion
def test_a_better_candidate_is_compared_on_its_holdout_and_promoted(fakes: FakePorts) -> None:
    # Given version 1 in production
    decided(fakes, FIRST, "first")
    champion_model = fakes.artifacts.get_bytes(fakes.artifacts.uri(model_prefix(MODEL, 1) + "model.onnx"))
    # When a larger dataset is evaluated
    run = evaluated(fakes, BETTER, "better")
    # Then the champion was scored on the challenger's holdout
    expected = evaluate(champion_model, SPEC, holdout_of(BETTER), detailed=False)
    assert run.champion_version == 1 and run.champion_metrics == expected.metrics
    document = fakes.artifacts.json(model_prefix(MODEL, 2) + "evaluation.json")
    assert document["champion_version"] == 1
    assert document["champion"]["rows"] == document["evaluation"]["rows"] == holdout_of(BETTER).n_rows
    # And it passes the regression gate and is promoted over version 1, which is archived
    assert run.gates is not None and run.gates.passed
    promoted = step(fakes, "promote", run, "better")
    assert promoted.reason == "passed its gates against version 1 on the same holdout"
    assert {v.version: v.status for v in fakes.registry.list_versions(MODEL)} == {
        1: VersionStatus.ARCHIVED,
        2: VersionStatus.PRODUCTION,
    }
    promotions = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.PROMOTED]
    assert [(e.from_version, e.to_version) for e in promotions] == [(None, 1), (1, 2)]


def test_a_worse_candidate_is_rejected_naming_its_failed_gates(fakes: FakePorts) -> None:
    # Given version 1 in production
    decided(fakes, FIRST, "first")
    # When a dataset with mostly random labels runs
    run = decided(fakes, NOISY, "noisy")
    # Then version 2 is rejected, the reason naming each failed gate with its value and limit
    assert run.status is VersionStatus.REJECTED
    rejected = fakes.registry.get_version(MODEL, 2)
    assert rejected.status is VersionStatus.REJECTED and rejected.champion_version == 1
    assert rejected.gates is not None
    failed = {f.gate: f for f in rejected.gates.failed}
    assert "min_metric" in failed
    assert rejected.reason == "gates failed: " + "; ".join(
        f"{f.gate} (value {f.value}, limit {f.limit})" for f in rejected.gates.failed
    )
    (event,) = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.REJECTED]
    assert event.version == 2 and event.details == {"failed_gates": list(failed)}
    # And production is unchanged
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1
    assert fakes.registry.get_version(MODEL, 1).status is VersionStatus.PRODUCTION


def test_a_champion_whose_bytes_were_tampered_with_stops_the_evaluation(fakes: FakePorts) -> None:
    # Given version 1 in production, whose model file was then changed in the bucket
    decided(fakes, FIRST, "first")
    fakes.artifacts.objects[fakes.artifacts.uri(model_prefix(MODEL, 1) + "model.onnx")] += b"\x00"
    # When a challenger is evaluated against it
    run = stored_run(fakes, BETTER)
    for action in ("allocate", "train", "export"):
        run = step(fakes, action, run, "better")
    # Then the evaluation stops, naming the champion, and writes no evaluation or card
    with pytest.raises(ChampionUnverifiable, match="champion version 1 cannot be verified"):
        step(fakes, "evaluate", run, "better")
    assert not fakes.artifacts.exists(fakes.artifacts.uri(model_prefix(MODEL, 2) + "evaluation.json"))
    assert not fakes.artifacts.exists(fakes.artifacts.uri(model_prefix(MODEL, 2) + "card.json"))


def test_promotion_fails_when_production_moved_since_evaluation(fakes: FakePorts) -> None:
    # Given two runs evaluated while no version was in production
    first = evaluated(fakes, FIRST, "first")
    second = evaluated(fakes, credit_risk(300, seed=4), "second")
    assert first.champion_version is None and second.champion_version is None
    # When the second is promoted, then the first
    step(fakes, "promote", second, "second")
    # Then the first's conditional promotion fails, and it is not promoted
    with pytest.raises(PromotionConflict, match="version 1 was not promoted"):
        step(fakes, "promote", first, "first")
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 2
    assert fakes.registry.get_version(MODEL, 1).status is VersionStatus.TRAINING
    promotions = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.PROMOTED]
    assert [e.to_version for e in promotions] == [2]


def test_a_promotion_run_again_after_its_answer_was_lost_stands_and_is_recorded_once(
    fakes: FakePorts,
) -> None:
    # Given a run promoted (its step's answer lost, so the state machine runs the step again)
    run = evaluated(fakes, FIRST, "first")
    step(fakes, "promote", run, "first")
    # When the same step runs again, still expecting no version in production
    again = step(fakes, "promote", run, "first")
    # Then it succeeds: the version is in production, promoted once
    assert again.status is VersionStatus.PRODUCTION
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1
    promotions = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.PROMOTED]
    assert [e.to_version for e in promotions] == [1]


def test_a_run_whose_allocation_answer_was_lost_marks_its_version_failed(fakes: FakePorts) -> None:
    # Given a run whose AllocateVersion allocated version 1, then failed (its answer lost, the retry too)
    run = stored_run(fakes, FIRST)
    step(fakes, "allocate", run, "lost")
    assert fakes.registry.get_version(MODEL, 1).status is VersionStatus.TRAINING
    # When its failure is registered from the state it had before allocating (no version in it)
    failed = step(fakes, "fail", run, "lost")
    # Then the version the run owns is marked failed: no version of an ended run stays in training
    assert failed.version == 1 and fakes.registry.get_version(MODEL, 1).status is VersionStatus.FAILED
    assert fakes.registry.event_types(MODEL)[-1] is EventType.FAILED


def test_a_run_that_failed_before_allocating_records_its_failure_without_a_version(
    fakes: FakePorts,
) -> None:
    run = step(fakes, "fail", stored_run(fakes, FIRST), "never")
    assert run.version is None and fakes.registry.list_versions(MODEL) == []
    assert fakes.registry.event_types(MODEL) == [EventType.FAILED]


def test_a_rejection_made_again_is_recorded_once(fakes: FakePorts) -> None:
    # Given a noisy run rejected by its gates
    run = evaluated(fakes, NOISY, "noisy")
    assert run.gates is not None and not run.gates.passed
    step(fakes, "reject", run, "noisy")
    # When the step runs again (its answer was lost)
    again = step(fakes, "reject", run, "noisy")
    # Then the version stays rejected, with one rejection in the audit trail
    assert again.status is VersionStatus.REJECTED
    assert fakes.registry.event_types(MODEL).count(EventType.REJECTED) == 1


# ---------------------------------------------------------------------------------------------- parity
def test_an_export_that_fails_parity_raises_and_stores_no_model(fakes: FakePorts) -> None:
    # Given a numeric-only spec and, stored as the run's pipeline, a forest behind a StandardScaler
    # (which computes in float32 inside ONNX and moves values across tree thresholds)
    spec = parse_spec(NUMERIC_SPEC_TEXT)
    table = credit_risk(1000, seed=7)
    run = step(fakes, "allocate", stored_run(fakes, table, NUMERIC_SPEC_TEXT), "scaled")
    train = split_holdout(spec, table).train
    scaled = Pipeline(
        [
            ("features", ColumnTransformer([("scale", StandardScaler(), [0, 1, 2])])),
            ("model", RandomForestClassifier(n_estimators=20, max_depth=12, random_state=0)),
        ]
    ).fit(model_matrix(spec, train), target_array(spec, train))
    stored = fakes.artifacts.put_bytes(model_prefix(MODEL, 1) + "pipeline.pkl", pickle.dumps(scaled))
    run = run.model_copy(update={"artifacts": {"pipeline": stored}})
    # When it is exported
    with pytest.raises(ParityFailed, match="does not match scikit-learn on the holdout: max_abs_diff="):
        step(fakes, "export", run, "scaled")
    # Then its parity is recorded as failed, and no model or reference sample is stored to serve
    parity = fakes.artifacts.json(model_prefix(MODEL, 1) + "parity.json")
    assert parity["passed"] is False and parity["max_abs_diff"] > parity["tolerance"]
    assert not fakes.artifacts.exists(fakes.artifacts.uri(model_prefix(MODEL, 1) + "model.onnx"))
    assert not fakes.artifacts.exists(fakes.artifacts.uri(model_prefix(MODEL, 1) + "reference.csv.gz"))


# ------------------------------------------------------------------------------------ reject and fail
def test_reject_after_a_caught_error_records_the_error_as_the_reason(fakes: FakePorts) -> None:
    # Given a run the state machine caught a ParityFailed in (its Catch puts the error under `error`)
    run = step(fakes, "allocate", stored_run(fakes, FIRST), "caught")
    cause = json.dumps({"errorMessage": "ONNX export does not match", "errorType": "ParityFailed"})
    run = run.model_copy(update={"error": {"Error": "ParityFailed", "Cause": cause}})
    # When it is rejected
    rejected = step(fakes, "reject", run, "caught")
    # Then the version is rejected for that error, audited with it
    assert rejected.reason == "ParityFailed: ONNX export does not match"
    version = fakes.registry.get_version(MODEL, 1)
    assert version.status is VersionStatus.REJECTED and version.reason == rejected.reason
    assert fakes.registry.list_events(MODEL)[-1].type is EventType.REJECTED


def test_fail_without_a_version_only_appends_an_event(fakes: FakePorts) -> None:
    # Given a run that failed before Allocate gave it a version
    run = stored_run(fakes, FIRST)
    # When Fail runs
    failed = step(fakes, "fail", run, "early")
    # Then an event records the failure, and no version exists
    assert (failed.status, failed.reason) == (VersionStatus.FAILED, "unexpected failure")
    (event,) = fakes.registry.list_events(MODEL)
    assert event.type is EventType.FAILED and event.version is None
    assert event.execution_arn == execution_arn("early")
    assert fakes.registry.list_versions(MODEL) == []


def test_fail_with_a_version_marks_it_failed_and_leaves_production(fakes: FakePorts) -> None:
    # Given version 1 in production and a second run that failed after Allocate
    decided(fakes, FIRST, "first")
    run = step(fakes, "allocate", stored_run(fakes, BETTER), "broken")
    run = run.model_copy(update={"error": {"Error": "States.Timeout", "Cause": "timed out"}})
    # When Fail runs
    step(fakes, "fail", run, "broken")
    # Then version 2 is failed with the error as its reason, and version 1 stays in production
    version = fakes.registry.get_version(MODEL, 2)
    assert version.status is VersionStatus.FAILED and version.reason == "States.Timeout: timed out"
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1


def test_an_unknown_action_names_the_valid_ones(fakes: FakePorts) -> None:
    # When a task names an action no step has
    with pytest.raises(SluiceError) as raised:
        step(fakes, "deploy", stored_run(fakes, FIRST), "unknown")
    # Then the error names it and every valid action
    assert str(raised.value) == (
        "unknown action 'deploy'; expected one of "
        "['allocate', 'await_approval', 'check_rollout', 'collect_training_task', 'cross_validate', 'evaluate', "
        "'export', 'fail', 'plan_rollout', 'plan_search', 'promote', 'reject', 'stage_training_task', "
        "'start_rollout', 'train']"
    )
