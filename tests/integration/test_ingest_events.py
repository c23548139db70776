"""Uploads to RawBucket on the local stack: what ingestion accepts once, quarantines with a report, or
refuses, and what it never starts."""

from __future__ import annotations

import json

from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import MAX_UPLOAD_BYTES, Stack, spec_text
from tests.integration.scenario import BETTER, FIRST, event_types, statuses


def test_bad_csv_is_quarantined_reported_and_starts_no_execution(stack: Stack) -> None:
    # Given a registered spec
    stack.train("it-bad")
    stack.notifications()
    bad = to_csv_bytes(credit_risk(rows=50, seed=5)).replace(b"retail", b"wholesale", 3)

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
    large = to_csv_bytes(credit_risk(rows=6000, seed=6))
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


def test_uploads_never_run_the_scheduled_drift_check(stack: Stack) -> None:
    # Given a model in production (DriftFunction would report on it if it ran)
    stack.train("it-nodrift", FIRST)
    drift_failures = _drift_failures(stack)

    # When more objects arrive in the raw bucket (data, and a file outside the layout)
    stack.upload("it-nodrift/data/more.csv", BETTER[1])
    stack.upload("it-nodrift/notes.txt", b"not for ingestion")
    stack.settle()

    # Then no drift report exists: schedules fire only when asked
    listed = stack.client("s3").list_objects_v2(
        Bucket=stack.outputs["ArtifactBucketName"], Prefix="drift/it-nodrift/"
    )
    assert listed["KeyCount"] == 0
    assert _drift_failures(stack) == drift_failures


def _drift_failures(stack: Stack) -> int:
    """DriftFunction's failed deliveries so far (other tests share the stack and may add some)."""
    return sum(1 for e in stack.local.delivery_errors if e["function"] == "DriftFunction")
