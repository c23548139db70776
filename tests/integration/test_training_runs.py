"""TrainAndPromote on the local stack, end to end: an upload trains, promotes a better model, rejects a
worse one naming the gate, fails cleanly, and runs again on request (`sluice models train`)."""

from __future__ import annotations

import json

import pytest

from sluice.adapters.identity import caller_principal
from sluice.app.training import steps
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import EventType, VersionStatus
from sluice.tools.cli import main
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack, spec_text
from tests.integration.scenario import BETTER, FIRST, NOISY, event_types, statuses


def test_spec_and_data_upload_train_and_promote_version_1(stack: Stack) -> None:
    # Given a spec and a dataset uploaded to RawBucket
    stack.train("it-first", FIRST)

    # Then version 1 is in production with its lineage, and the run succeeded
    executions = stack.executions_of("it-first")
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    alias = stack.registry.get_alias("it-first")
    assert alias is not None and alias.version == 1
    version = stack.registry.get_version("it-first", 1)
    assert version.status is VersionStatus.PRODUCTION
    assert version.trigger.value == "upload"
    assert version.execution_arn == executions[0]["executionArn"]
    dataset = stack.registry.list_datasets("it-first")
    assert [d.sha256 for d in dataset] == [version.dataset_sha256]
    assert dataset[0].n_rows == 300
    assert version.spec_sha256 == stack.registry.current_spec("it-first").sha256  # type: ignore[union-attr]
    assert version.metrics["roc_auc"] is not None and version.metrics["roc_auc"] >= 0.6
    assert version.gates is not None and version.gates.passed
    # and every artifact the registry names is in S3 with the recorded sha256
    assert {"model", "reference", "evaluation", "card"} <= set(version.artifacts)
    for artifact in version.artifacts.values():
        stack.artifacts.get_verified(artifact)
    assert "promoted" in event_types(stack, "it-first")
    assert any(
        n["message"].get("model") == "it-first" and n["message"].get("status") == "production"
        for n in stack.notifications()
    )


def test_better_dataset_promotes_version_2_over_version_1(stack: Stack) -> None:
    # Given version 1 in production
    stack.train("it-better", FIRST)

    # When a better dataset is uploaded
    stack.upload("it-better/data/better.csv", BETTER[1])
    stack.settle()

    # Then version 2 is in production, version 1 is archived, and the promotion names both
    assert statuses(stack, "it-better") == {1: "archived", 2: "production"}
    version = stack.registry.get_version("it-better", 2)
    assert version.champion_version == 1
    assert version.champion_metrics["roc_auc"] is not None
    promotions = [e for e in stack.registry.list_events("it-better") if e.type is EventType.PROMOTED]
    assert [(e.from_version, e.to_version) for e in promotions] == [(None, 1), (1, 2)]


def test_label_noise_dataset_is_rejected_with_the_failed_gate_named(stack: Stack) -> None:
    # Given version 1 in production
    stack.train("it-noise", FIRST)
    stack.notifications()

    # When a dataset with mostly random labels is uploaded
    stack.upload("it-noise/data/noisy.csv", NOISY[1])
    stack.settle()

    # Then version 2 is rejected naming the gate, keeps its number, and production is unchanged
    rejected = stack.registry.get_version("it-noise", 2)
    assert rejected.status is VersionStatus.REJECTED
    assert rejected.gates is not None
    assert "min_metric" in [f.gate for f in rejected.gates.failed]
    assert rejected.reason is not None and "min_metric" in rejected.reason
    assert stack.registry.get_alias("it-noise").version == 1  # type: ignore[union-attr]
    assert stack.registry.get_version("it-noise", 1).status is VersionStatus.PRODUCTION
    rejections = [e for e in stack.registry.list_events("it-noise") if e.type is EventType.REJECTED]
    assert len(rejections) == 1 and rejections[0].version == 2
    notes = [n for n in stack.notifications() if n["message"].get("model") == "it-noise"]
    assert [n["message"]["status"] for n in notes] == ["rejected"]


def test_a_task_that_raises_unexpectedly_fails_the_execution_and_leaves_production_alone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given version 1 in production and an Evaluate step that crashes
    stack.train("it-crash", FIRST)

    def crash(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(steps, "evaluate_challenger", crash)

    # When a new dataset is uploaded
    stack.upload("it-crash/data/better.csv", BETTER[1])
    stack.settle()

    # Then the execution failed, version 2 is marked failed with the error, and version 1 still serves
    run = next(e for e in stack.executions_of("it-crash") if e["status"] != "SUCCEEDED")
    assert run["status"] == "FAILED"
    assert stack.describe(run["executionArn"])["error"] == "TrainingRunFailed"
    failed = stack.registry.get_version("it-crash", 2)
    assert failed.status is VersionStatus.FAILED
    assert failed.reason is not None and "RuntimeError" in failed.reason and "disk on fire" in failed.reason
    assert stack.registry.get_alias("it-crash").version == 1  # type: ignore[union-attr]
    assert statuses(stack, "it-crash") == {1: "production", 2: "failed"}
    assert event_types(stack, "it-crash")[-1] == "failed"


def test_recovery_from_a_bad_spec_by_re_upload_and_by_models_train(stack: Stack, tmp_path, capsys) -> None:
    # Given version 1 in production, then a valid but useless spec (an unreachable gate) registered
    stack.train("it-recover", FIRST)
    good = stack.registry.current_spec("it-recover")
    strict = spec_text("it-recover").replace("min_metric: 0.6", "min_metric: 0.999")
    stack.upload("it-recover/spec.yaml", strict.encode())
    stack.settle()
    assert stack.registry.current_spec("it-recover") != good

    # When the previous spec is uploaded again (same bytes as the first upload)
    stack.upload("it-recover/spec.yaml", spec_text("it-recover").encode())
    stack.settle()

    # Then it is current again (a new object version, not swallowed as a duplicate event)
    assert stack.registry.current_spec("it-recover").sha256 == good.sha256  # type: ignore[union-attr]

    # When `sluice models train` starts a run, and again (the same spec and dataset)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    capsys.readouterr()
    runs = []
    for _ in range(2):
        capsys.readouterr()
        assert main(["models", "--stack-outputs", str(outputs), "train", "it-recover", "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
        stack.settle()

    # Then each is a new execution with trigger manual, on the latest accepted dataset, within 80 chars
    assert all(r["started"] and r["trigger"] == "manual" for r in runs)
    assert runs[0]["name"] != runs[1]["name"]
    assert all(len(r["name"]) <= 80 and "-manual-" in r["name"] for r in runs)
    manual = [v for v in stack.registry.list_versions("it-recover") if v.trigger.value == "manual"]
    assert [v.version for v in manual] == [2, 3]
    assert {v.dataset_sha256 for v in manual} == {stack.registry.list_datasets("it-recover")[0].sha256}
    assert all(v.spec_sha256 == good.sha256 for v in manual)  # type: ignore[union-attr]
    started = [e for e in stack.registry.list_events("it-recover") if e.type is EventType.TRAINING_STARTED]
    assert [e.trigger.value for e in started if e.trigger] == ["upload", "manual", "manual"]
    # and each manual start records who started it: the principal STS answers for the CLI's credentials
    principal = caller_principal().arn
    assert [e.by for e in started] == [None, principal, principal]
    assert all(r["by"] == principal for r in runs)

    # And an unknown dataset is refused by name
    capsys.readouterr()
    code = main(["models", "--stack-outputs", str(outputs), "train", "it-recover", "--dataset", "ab" * 32])
    assert code == 1
    assert "no accepted dataset" in capsys.readouterr().err


def test_a_champion_that_cannot_be_verified_stops_the_run(stack: Stack) -> None:
    # Given version 1 in production, and its model.onnx overwritten in S3
    stack.train("it-corrupt", FIRST)
    model_uri = stack.registry.get_version("it-corrupt", 1).artifacts["model"].uri
    bucket, key = model_uri.removeprefix("s3://").split("/", 1)
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=b"not the model")
    stack.notifications()

    # When a weaker dataset is uploaded
    stack.upload("it-corrupt/data/weaker.csv", to_csv_bytes(credit_risk(rows=300, seed=4, label_noise=0.15)))
    stack.settle()

    # Then the challenger is rejected because the champion cannot be verified; production is unchanged
    rejected = stack.registry.get_version("it-corrupt", 2)
    assert rejected.status is VersionStatus.REJECTED
    assert rejected.reason is not None
    assert "ChampionUnverifiable: champion version 1 cannot be verified" in rejected.reason
    assert "could not be compared" not in rejected.reason
    assert stack.registry.get_alias("it-corrupt").version == 1  # type: ignore[union-attr]
    assert "promoted" not in event_types(stack, "it-corrupt")[-3:]
    notes = [n for n in stack.notifications() if n["message"].get("model") == "it-corrupt"]
    assert [n["message"]["status"] for n in notes] == ["rejected"]
