"""The pipeline on the local stack: uploads → ingestion → TrainAndPromote → registry, end to end."""

from __future__ import annotations

import json

import pytest

from sluice import catalog, pipeline
from sluice.cli import main
from sluice.errors import PromotionConflict
from sluice.records import AuditEvent, EventType, VersionStatus
from tests.integration.conftest import MAX_UPLOAD_BYTES, Stack, csv_bytes, spec_text

FIRST = ("first.csv", csv_bytes(rows=300, seed=1))
BETTER = ("better.csv", csv_bytes(rows=1500, seed=2))
NOISY = ("noisy.csv", csv_bytes(rows=800, seed=3, label_noise=0.45))


def statuses(stack: Stack, model: str) -> dict[int, str]:
    return {v.version: v.status.value for v in stack.registry.list_versions(model)}


def event_types(stack: Stack, model: str) -> list[str]:
    return [e.type.value for e in stack.registry.list_events(model)]


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


def test_bad_csv_is_quarantined_reported_and_starts_no_execution(stack: Stack) -> None:
    # Given a registered spec
    stack.train("it-bad")
    stack.notifications()
    bad = csv_bytes(rows=50, seed=5).replace(b"retail", b"wholesale", 3)

    # When a CSV with values outside the spec is uploaded
    stack.upload("it-bad/data/bad rows.csv", bad)
    stack.settle()

    # Then it is copied to quarantine/ with a report, recorded and announced, and nothing trains
    report = json.loads(
        stack.artifacts.get_bytes(stack.artifacts.uri("quarantine/it-bad/data/bad rows.csv.report.json"))
    )
    assert report["reason"] == "invalid"
    assert any(p["column"] == "segment" for p in report["report"]["problems"])
    assert stack.artifacts.get_bytes(stack.artifacts.uri("quarantine/it-bad/data/bad rows.csv")) == bad
    raw = stack.client("s3").get_object(Bucket=stack.outputs["RawBucketName"], Key="it-bad/data/bad rows.csv")
    assert raw["Body"].read() == bad  # the upload itself is never deleted
    assert "data_quarantined" in event_types(stack, "it-bad")
    assert stack.registry.list_datasets("it-bad") == []
    assert stack.executions_of("it-bad") == []
    notes = [n for n in stack.notifications() if n["message"].get("model") == "it-bad"]
    assert [n["message"]["event"] for n in notes] == ["data_quarantined"]


def test_file_over_the_size_limit_is_quarantined_with_that_reason(stack: Stack) -> None:
    # Given a registered spec and a file larger than the configured limit
    stack.train("it-large")
    large = csv_bytes(rows=6000, seed=6)
    assert len(large) > MAX_UPLOAD_BYTES

    # When it is uploaded
    stack.upload("it-large/data/large.csv", large)
    stack.settle()

    # Then it is quarantined as too large, without being validated or trained on
    report = json.loads(
        stack.artifacts.get_bytes(stack.artifacts.uri("quarantine/it-large/data/large.csv.report.json"))
    )
    assert report["reason"] == "too_large"
    assert str(MAX_UPLOAD_BYTES) in report["message"]
    assert stack.executions_of("it-large") == []


def test_bad_spec_is_rejected_and_the_previous_spec_stays_in_force(stack: Stack) -> None:
    # Given a registered spec
    stack.train("it-spec")
    before = stack.registry.current_spec("it-spec")

    # When a spec with an unknown task is uploaded over it
    stack.upload("it-spec/spec.yaml", spec_text("it-spec").replace("task: binary", "task: ranking").encode())
    stack.settle()

    # Then the report names the key and the earlier spec is still current
    report = json.loads(
        stack.artifacts.get_bytes(stack.artifacts.uri("quarantine/it-spec/spec.yaml.report.json"))
    )
    assert report["reason"] == "invalid_spec"
    assert "task" in report["message"]
    assert stack.registry.current_spec("it-spec") == before
    assert "spec_rejected" in event_types(stack, "it-spec")


def test_the_same_object_event_delivered_three_times_gives_one_dataset_and_one_execution(
    stack: Stack,
) -> None:
    # Given an uploaded dataset that has been ingested once
    stack.train("it-dup", FIRST)
    key = "it-dup/data/first.csv"
    s3 = stack.client("s3")
    head = s3.head_object(Bucket=stack.outputs["RawBucketName"], Key=key)
    event = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {
            "bucket": {"name": stack.outputs["RawBucketName"]},
            "object": {"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"')},
        },
    }

    # When S3 delivers the same event again, twice, and a copy of the file arrives under another name
    results = [stack.local.invoke("IngestFunction", event) for _ in range(2)]
    stack.upload("it-dup/data/copy-of-first.csv", FIRST[1])
    stack.settle()

    # Then there is still one dataset, one execution and one version
    assert all(not r.failed for r in results)
    assert {r.payload["dataset_sha256"] for r in results} == {
        stack.registry.list_datasets("it-dup")[0].sha256
    }
    assert len(stack.registry.list_datasets("it-dup")) == 1
    assert len(stack.executions_of("it-dup")) == 1
    assert statuses(stack, "it-dup") == {1: "production"}


def test_two_promotions_racing_on_the_alias_cannot_both_win(stack: Stack) -> None:
    # Given two candidate versions that both read "no production version"
    stack.train("it-race")
    registry = stack.registry
    for run_id in ("a", "b"):
        registry.allocate_version(
            "it-race",
            run_id,
            trigger=pipeline.Trigger.MANUAL,
            execution_arn=None,
            dataset_sha256="0" * 64,
            dataset_uri="s3://x/y",
            spec_sha256="1" * 64,
        )
    outcomes: dict[int, str] = {}
    records = {v: registry.get_version("it-race", v) for v in (1, 2)}

    def promote(version: int) -> None:
        event = AuditEvent(model="it-race", type=EventType.PROMOTED, id=f"race{version}", to_version=version)
        try:
            registry.promote(records[version], expected=None, event=event)
            outcomes[version] = "won"
        except PromotionConflict:
            outcomes[version] = "conflict"

    # When both write the alias expecting it to be empty. (One after the other: moto's DynamoDB does
    # not serialise concurrent transactions as DynamoDB does, so threads would test moto, not Sluice.)
    promote(1)
    promote(2)

    # Then exactly one won; the alias, the version items and the audit trail agree on it
    assert sorted(outcomes.values()) == ["conflict", "won"]
    winner = next(v for v, o in outcomes.items() if o == "won")
    assert registry.get_alias("it-race").version == winner  # type: ignore[union-attr]
    assert [v for v, s in statuses(stack, "it-race").items() if s == "production"] == [winner]
    promoted = [e for e in registry.list_events("it-race") if e.type is EventType.PROMOTED]
    assert [e.to_version for e in promoted] == [winner]


def test_two_executions_racing_end_with_one_production_version_and_a_consistent_audit(stack: Stack) -> None:
    # Given a spec and no production version
    stack.train("it-race2")

    # When two datasets arrive together and both runs compete for production
    stack.upload("it-race2/data/one.csv", FIRST[1])
    stack.upload("it-race2/data/two.csv", BETTER[1])
    executions = [e for e in stack.settle() if e["name"].startswith("it-race2-")]

    # Then both runs finished, exactly one version is in production, and the promotion events form a
    # chain (each one starts where the previous ended) that ends at the alias
    assert sorted(e["status"] for e in executions) == ["SUCCEEDED", "SUCCEEDED"]
    alias = stack.registry.get_alias("it-race2")
    assert alias is not None
    found = statuses(stack, "it-race2")
    assert [v for v, s in found.items() if s == "production"] == [alias.version]
    assert set(found.values()) <= {"production", "archived", "rejected", "candidate"}
    promoted = [e for e in stack.registry.list_events("it-race2") if e.type is EventType.PROMOTED]
    chain = [None] + [e.to_version for e in promoted]
    assert [e.from_version for e in promoted] == chain[:-1]
    assert chain[-1] == alias.version


def test_a_task_that_raises_unexpectedly_fails_the_execution_and_leaves_production_alone(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given version 1 in production and an Evaluate step that crashes
    stack.train("it-crash", FIRST)

    def crash(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "evaluate_challenger", crash)

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


def test_rollback_puts_the_previous_version_back_with_an_audit_event(stack: Stack, tmp_path, capsys) -> None:
    # Given versions 1 and 2, with 2 in production, and the stack's outputs in a file
    stack.train("it-rollback", FIRST, BETTER)
    assert stack.registry.get_alias("it-rollback").version == 2  # type: ignore[union-attr]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    capsys.readouterr()  # drop the handlers' logs

    # When `sluice models rollback` runs
    code = main(["models", "--stack-outputs", str(outputs), "rollback", "it-rollback", "--json"])

    # Then version 1 is back in production, 2 is archived, and the audit trail says so
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["type"], printed["from_version"], printed["to_version"]) == ("rolled_back", 2, 1)
    assert statuses(stack, "it-rollback") == {1: "production", 2: "archived"}
    main(["models", "--stack-outputs", str(outputs), "show", "it-rollback", "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"] == "it-rollback"
    assert shown["production"]["version"] == 1
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert {"version", "status", "metrics", "dataset_sha256", "trigger"} <= set(shown["versions"][0])
    assert shown["events"][-1]["type"] == "rolled_back"
    assert all({"type", "time"} <= set(e) for e in shown["events"])

    # And promoting version 2 again goes through the same conditional write
    assert main(["models", "--stack-outputs", str(outputs), "promote", "it-rollback", "2", "--json"]) == 0
    assert statuses(stack, "it-rollback") == {1: "archived", 2: "production"}


def test_rollback_refuses_a_version_whose_model_file_was_tampered_with(
    stack: Stack, tmp_path, capsys
) -> None:
    # Given versions 1 and 2, and version 1's model file overwritten in S3
    stack.train("it-tamper", FIRST, BETTER)
    model_uri = stack.registry.get_version("it-tamper", 1).artifacts["model"].uri
    bucket, key = model_uri.removeprefix("s3://").split("/", 1)
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=b"not the model")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack.outputs))
    capsys.readouterr()

    # When a rollback is asked for
    code = main(["models", "--stack-outputs", str(outputs), "rollback", "it-tamper"])

    # Then it is refused, naming the hash mismatch, and version 2 stays in production
    assert code == 1
    assert "sha256" in capsys.readouterr().err
    assert stack.registry.get_alias("it-tamper").version == 2  # type: ignore[union-attr]


def test_models_list_shows_each_model_with_its_production_version(stack: Stack, tmp_path, capsys) -> None:
    # Given a trained model
    stack.train("it-list", FIRST)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    capsys.readouterr()

    # When the models are listed
    assert main(["models", "--stack-outputs", str(outputs), "list", "--json"]) == 0

    # Then the model appears with version 1 in production, the spec's primary metric first
    listed = {m["model"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed["it-list"]["production_version"] == 1
    assert listed["it-list"]["versions"] == 1
    assert listed["it-list"]["metric"] == "roc_auc"
    assert next(iter(listed["it-list"]["metrics"])) == "roc_auc"
    others = list(listed["it-list"]["metrics"])[1:]
    assert others == sorted(others) and "accuracy" in others
    # and the table a person reads starts its metrics with it too
    assert main(["models", "--stack-outputs", str(outputs), "list"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if row.startswith("it-list ")]
    assert line.split()[3].startswith("roc_auc=")


def test_a_run_that_loses_the_promotion_race_is_evaluated_again_against_the_winner(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given versions 1 and 2 (2 in production), and a rollback to 1 that lands while run 3 is promoting
    stack.train("it-loop", FIRST, BETTER)
    real_promote = pipeline.promote
    calls: list[int | None] = []

    def promote_after_a_rollback(run: pipeline.RunState, execution_arn: str, services: pipeline.Services):
        calls.append(run.champion_version)
        if len(calls) == 1:
            catalog.rollback(services.registry, services.artifacts, "it-loop", reason="operator")
        return real_promote(run, execution_arn, services)

    monkeypatch.setattr(pipeline, "promote", promote_after_a_rollback)

    # When a third dataset arrives
    stack.upload("it-loop/data/third.csv", csv_bytes(rows=1500, seed=10))
    stack.settle()

    # Then its first promotion expected version 2 and lost; it was evaluated again against version 1
    # and promoted over it; the audit trail records every move in order
    assert calls == [2, 1]
    assert statuses(stack, "it-loop") == {1: "archived", 2: "archived", 3: "production"}
    assert stack.registry.get_version("it-loop", 3).champion_version == 1
    moves = [
        (e.type.value, e.from_version, e.to_version)
        for e in stack.registry.list_events("it-loop")
        if e.type in (EventType.PROMOTED, EventType.ROLLED_BACK)
    ]
    assert moves == [("promoted", None, 1), ("promoted", 1, 2), ("rolled_back", 2, 1), ("promoted", 1, 3)]


def test_same_file_uploaded_three_times_and_under_another_key_starts_one_run_with_one_audit_event(
    stack: Stack,
) -> None:
    # Given a registered spec, on a raw bucket versioned as the template declares
    stack.train("it-thrice")
    raw = stack.outputs["RawBucketName"]
    assert stack.client("s3").get_bucket_versioning(Bucket=raw)["Status"] == "Enabled"

    # When the same file is uploaded three times, then once under another key
    for _ in range(3):
        stack.upload("it-thrice/data/first.csv", FIRST[1])
    stack.upload("it-thrice/data/again.csv", FIRST[1])
    stack.settle()

    # Then each upload is its own object version, yet there is one dataset, one execution, one version
    # and exactly one training_started audit event
    versions = stack.client("s3").list_object_versions(Bucket=raw, Prefix="it-thrice/data/first.csv")
    assert len(versions["Versions"]) == 3
    assert len(stack.registry.list_datasets("it-thrice")) == 1
    assert len(stack.executions_of("it-thrice")) == 1
    assert statuses(stack, "it-thrice") == {1: "production"}
    assert event_types(stack, "it-thrice").count("training_started") == 1


def test_spec_with_a_misspelled_or_invalid_estimator_parameter_is_quarantined_with_the_reason(
    stack: Stack,
) -> None:
    # Given a registered spec
    stack.train("it-params")
    before = stack.registry.current_spec("it-params")

    # When a spec with a misspelled parameter and an impossible value is uploaded
    bad = spec_text("it-params").replace(
        "params: {n_estimators: 15, max_depth: 5}", "params: {n_estimators: -1, min_sample_leaf: 3}"
    )
    assert bad != spec_text("it-params")
    stack.upload("it-params/spec.yaml", bad.encode())
    stack.settle()

    # Then it is quarantined naming both keys, and the earlier spec stays current
    report = json.loads(
        stack.artifacts.get_bytes(stack.artifacts.uri("quarantine/it-params/spec.yaml.report.json"))
    )
    assert report["reason"] == "invalid_spec"
    assert "algorithm.params.min_sample_leaf" in report["message"]
    assert "did you mean min_samples_leaf?" in report["message"]
    assert "algorithm.params.n_estimators: -1" in report["message"]
    assert stack.registry.current_spec("it-params") == before


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
        capsys.readouterr()  # drop the handlers' logs of the previous run
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
    stack.upload("it-corrupt/data/weaker.csv", csv_bytes(rows=300, seed=4, label_noise=0.15))
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


def test_uploads_never_run_the_scheduled_drift_check(stack: Stack) -> None:
    # Given a model in production (DriftFunction would report on it if it ran)
    stack.train("it-nodrift", FIRST)

    # When more objects arrive in the raw bucket (data, and a file outside the layout)
    stack.upload("it-nodrift/data/more.csv", BETTER[1])
    stack.upload("it-nodrift/notes.txt", b"not for ingestion")
    stack.settle()

    # Then no drift report exists: schedules fire only when asked
    listed = stack.client("s3").list_objects_v2(
        Bucket=stack.outputs["ArtifactBucketName"], Prefix="drift/it-nodrift/"
    )
    assert listed["KeyCount"] == 0
    assert not [e for e in stack.local.delivery_errors if e["function"] == "DriftFunction"]
