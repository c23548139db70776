"""Ingestion on the in-memory ports: an upload to the raw bucket registers a spec, becomes a dataset that
starts exactly one training, or is quarantined with a report naming file, row and column; anything
else is ignored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sluice.app.data.stored import dataset_prefix, spec_key
from sluice.app.ingest.upload import IngestLimits, IngestResult, Upload, ingest_upload
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import EventType, s3_uri
from sluice.domain.spec.model_spec import parse_spec
from sluice.tools.example_data import credit_risk
from tests.unit.app.fakes import FakePorts

ROOT = Path(__file__).resolve().parents[3]
RAW = "raw"
MODEL = "credit-risk"
SPEC_TEXT = (ROOT / "examples" / MODEL / "spec.yaml").read_text(encoding="utf-8")
SPEC = parse_spec(SPEC_TEXT)
DATA = to_csv_bytes(credit_risk(60, seed=1))
SETTINGS = IngestLimits(max_upload_bytes=1_000_000)


def put_upload(fakes: FakePorts, key: str, body: bytes) -> Upload:
    """An object put in the raw bucket, and the upload its event announces."""
    fakes.artifacts.add(s3_uri(RAW, key), body)
    return Upload(bucket=RAW, key=key, keys=[key], size=len(body))


def event_upload(name: str) -> Upload:
    """The upload one of the repository's events/ files announces, in the raw bucket."""
    text = (ROOT / "events" / name).read_text(encoding="utf-8").replace("${RawBucketName}", RAW)
    return Upload.from_event(json.loads(text))


def ingest(fakes: FakePorts, upload: Upload, settings: IngestLimits = SETTINGS) -> IngestResult:
    return ingest_upload(upload, settings, fakes.deps())


def register_spec(fakes: FakePorts) -> None:
    assert (
        ingest(fakes, put_upload(fakes, f"{MODEL}/spec.yaml", SPEC_TEXT.encode())).status == "spec_registered"
    )


def quarantine_report(fakes: FakePorts, key: str, body: bytes, event: EventType) -> dict[str, Any]:
    """Check what every quarantine does — the raw object copied to quarantine/, a report beside it,
    an audit event and one notification, and no training — and return the report."""
    report: dict[str, Any] = fakes.artifacts.json(f"quarantine/{key}.report.json")
    assert report["source"] == s3_uri(RAW, key)
    assert fakes.artifacts.get_bytes(fakes.artifacts.uri(f"quarantine/{key}")) == body
    assert fakes.artifacts.get_bytes(s3_uri(RAW, key)) == body  # the upload itself stays
    assert fakes.registry.event_types(MODEL)[-1] is event
    ((subject, message),) = fakes.notifier.published
    assert MODEL in subject and report["reason"] in subject
    assert message["event"] == event.value
    assert message["report_uri"] == fakes.artifacts.uri(f"quarantine/{key}.report.json")
    assert fakes.executions.executions == {}
    return report


# ----------------------------------------------------------------------------------------------- specs
def test_a_spec_registers_and_the_same_spec_again_is_unchanged(fakes: FakePorts) -> None:
    # Given the spec upload of the repository's event
    upload = event_upload("ingest-spec-uploaded.json")
    fakes.artifacts.add(s3_uri(RAW, upload.key), SPEC_TEXT.encode())
    # When it is ingested
    result = ingest(fakes, upload)
    # Then the spec is stored by its hash and is the model's current spec, with an audit event
    assert (result.status, result.model, result.spec_sha256) == ("spec_registered", MODEL, SPEC.sha256)
    current = fakes.registry.current_spec(MODEL)
    assert current is not None and current.uri == fakes.artifacts.uri(spec_key(MODEL, SPEC.sha256))
    assert fakes.artifacts.get_bytes(current.uri) == SPEC_TEXT.encode()
    assert fakes.registry.event_types(MODEL) == [EventType.SPEC_REGISTERED]
    # When the identical spec is uploaded again
    again = ingest(fakes, upload)
    # Then nothing changes
    assert again.status == "spec_unchanged"
    assert fakes.registry.event_types(MODEL) == [EventType.SPEC_REGISTERED]


def test_an_invalid_spec_is_quarantined_and_the_current_spec_stays(fakes: FakePorts) -> None:
    # Given a registered spec
    register_spec(fakes)
    invalid = SPEC_TEXT.replace("task: binary", "task: ranking").encode()
    # When a spec with an unknown task is uploaded over it
    result = ingest(fakes, put_upload(fakes, f"{MODEL}/spec.yaml", invalid))
    # Then it is rejected with its reason, quarantined and announced, and the first spec stays current
    assert result.status == "spec_rejected" and result.reason is not None and "task" in result.reason
    report = quarantine_report(fakes, f"{MODEL}/spec.yaml", invalid, EventType.SPEC_REJECTED)
    assert report["reason"] == "invalid_spec" and report["message"] == result.reason
    assert result.report_uri == fakes.artifacts.uri(f"quarantine/{MODEL}/spec.yaml.report.json")
    current = fakes.registry.current_spec(MODEL)
    assert current is not None and current.sha256 == SPEC.sha256


def test_a_spec_uploaded_under_another_models_folder_is_rejected(fakes: FakePorts) -> None:
    # When the credit-risk spec is uploaded as other-model/spec.yaml
    result = ingest(fakes, put_upload(fakes, "other-model/spec.yaml", SPEC_TEXT.encode()))
    # Then it is rejected naming both names, and no spec is registered for either model
    assert result.status == "spec_rejected" and result.model == "other-model"
    assert result.reason is not None and "'credit-risk'" in result.reason and "other-model/" in result.reason
    assert fakes.registry.current_spec("other-model") is None
    assert fakes.registry.current_spec(MODEL) is None
    assert fakes.registry.event_types("other-model") == [EventType.SPEC_REJECTED]


# -------------------------------------------------------------------------------------------- datasets
def test_a_valid_csv_becomes_a_dataset_and_starts_exactly_one_training(fakes: FakePorts) -> None:
    # Given a registered spec
    register_spec(fakes)
    key = f"{MODEL}/data/first.csv"
    # When a valid CSV is uploaded
    result = ingest(fakes, put_upload(fakes, key, DATA))
    # Then it is a dataset named by its content hash, copied beside its validation report
    sha = hashlib.sha256(DATA).hexdigest()
    assert (result.status, result.dataset_sha256, result.rows, result.dataset_created) == (
        "dataset",
        sha,
        60,
        True,
    )
    dataset = fakes.registry.get_dataset(MODEL, sha)
    assert dataset is not None and dataset.source_key == key and dataset.n_rows == 60
    assert dataset.uri == fakes.artifacts.uri(dataset_prefix(MODEL, sha) + "data.csv")
    assert fakes.artifacts.get_bytes(dataset.uri) == DATA
    assert fakes.artifacts.json(dataset_prefix(MODEL, sha) + "validation.json")["passed"] is True
    # And exactly one training started, for this dataset and the current spec
    assert fakes.executions.inputs() == [
        {
            "model": MODEL,
            "dataset_sha256": sha,
            "dataset_uri": dataset.uri,
            "spec_sha256": SPEC.sha256,
            "spec_uri": fakes.artifacts.uri(spec_key(MODEL, SPEC.sha256)),
            "trigger": "upload",
        }
    ]
    assert result.execution_started is True
    assert result.execution_arn == fakes.executions.list()[0]["executionArn"]
    assert fakes.registry.event_types(MODEL)[1:] == [EventType.DATASET_REGISTERED, EventType.TRAINING_STARTED]


def test_a_duplicate_upload_starts_nothing_new(fakes: FakePorts) -> None:
    # Given a dataset that was ingested and started training
    register_spec(fakes)
    first = ingest(fakes, put_upload(fakes, f"{MODEL}/data/first.csv", DATA))
    events = fakes.registry.event_types(MODEL)
    # When the same bytes arrive again, under the same name and under another
    same = ingest(fakes, put_upload(fakes, f"{MODEL}/data/first.csv", DATA))
    renamed = ingest(fakes, put_upload(fakes, f"{MODEL}/data/copy.csv", DATA))
    # Then both name the first execution, no dataset is created, nothing starts, nothing is recorded
    for duplicate in (same, renamed):
        assert duplicate.status == "dataset" and duplicate.dataset_sha256 == first.dataset_sha256
        assert duplicate.dataset_created is False and duplicate.execution_started is False
        assert duplicate.execution_arn == first.execution_arn
    assert len(fakes.executions.executions) == 1
    assert fakes.registry.event_types(MODEL) == events


def test_data_without_a_spec_is_quarantined(fakes: FakePorts) -> None:
    # When data arrives for a model that has no spec
    key = f"{MODEL}/data/first.csv"
    result = ingest(fakes, put_upload(fakes, key, DATA))
    # Then it is quarantined, saying which spec to upload
    assert result.status == "quarantined"
    report = quarantine_report(fakes, key, DATA, EventType.DATA_QUARANTINED)
    assert report["reason"] == "no_spec" and f"upload {MODEL}/spec.yaml first" in report["message"]
    assert fakes.registry.list_datasets(MODEL) == []


def test_invalid_rows_are_quarantined_with_a_report_naming_file_row_and_column(fakes: FakePorts) -> None:
    # Given a registered spec and a CSV whose fifth data row has a segment the spec does not list
    register_spec(fakes)
    table = credit_risk(60, seed=1)
    table.columns["segment"][4] = "wholesale"
    body = to_csv_bytes(table)
    key = f"{MODEL}/data/bad rows.csv"
    # When it is uploaded
    result = ingest(fakes, put_upload(fakes, key, body))
    # Then it is quarantined with the validation report: the file, the column and the row
    assert result.status == "quarantined" and result.reason is not None and "segment" in result.reason
    report = quarantine_report(fakes, key, body, EventType.DATA_QUARANTINED)
    assert report["reason"] == "invalid" and report["size_bytes"] == len(body)
    assert report["report"]["source"] == key
    (problem,) = [p for p in report["report"]["problems"] if p["column"] == "segment"]
    assert problem["rows"] == [5] and problem["example"] == "wholesale"
    assert fakes.registry.list_datasets(MODEL) == []


def test_an_upload_ingested_again_is_quarantined_and_announced_once_per_object_version(
    fakes: FakePorts,
) -> None:
    # Given a registered spec and an invalid upload, quarantined once
    register_spec(fakes)
    key = f"{MODEL}/data/bad.csv"
    upload = put_upload(fakes, key, b"income,age\nnot a number,41\n").model_copy(update={"etag": "e1"})
    assert ingest(fakes, upload).status == "quarantined"
    # When the same object version is ingested again (an invocation run again after a timeout)
    again = ingest(fakes, upload)
    # Then it is still quarantined, but recorded and announced once
    assert again.status == "quarantined" and again.report_uri is not None
    assert fakes.registry.event_types(MODEL).count(EventType.DATA_QUARANTINED) == 1
    assert len(fakes.notifier.published) == 1
    # And a new version of the object is a new upload, quarantined in its own right
    assert ingest(fakes, upload.model_copy(update={"etag": "e2"})).status == "quarantined"
    assert fakes.registry.event_types(MODEL).count(EventType.DATA_QUARANTINED) == 2


def test_an_unreadable_file_is_quarantined_naming_the_row(fakes: FakePorts) -> None:
    # Given a registered spec and a CSV whose first data row has a field too many
    register_spec(fakes)
    header, first, rest = DATA.split(b"\n", 2)
    body = b"\n".join([header, first + b",extra", rest])
    key = f"{MODEL}/data/ragged.csv"
    # When it is uploaded
    result = ingest(fakes, put_upload(fakes, key, body))
    # Then it is quarantined as unreadable, naming the file and the row
    assert result.status == "quarantined"
    report = quarantine_report(fakes, key, body, EventType.DATA_QUARANTINED)
    assert report["reason"] == "unreadable"
    assert (
        report["message"].startswith(key) and "row 1 has 10 fields but the header has 9" in report["message"]
    )


def test_a_file_over_the_size_limit_is_quarantined_unread(fakes: FakePorts) -> None:
    # Given a registered spec and a size limit below the upload's size
    register_spec(fakes)
    key = f"{MODEL}/data/large.csv"
    small_limit = IngestLimits(max_upload_bytes=1000)
    # When it is uploaded
    result = ingest(fakes, put_upload(fakes, key, DATA), small_limit)
    # Then it is quarantined as too large, naming the limit
    assert result.status == "quarantined"
    report = quarantine_report(fakes, key, DATA, EventType.DATA_QUARANTINED)
    assert report["reason"] == "too_large" and report["report"] is None
    assert f"{len(DATA)} bytes is over the limit of 1000 bytes" == report["message"]


# ----------------------------------------------------------------------------------------------- keys
def test_a_key_outside_spec_and_data_is_ignored(fakes: FakePorts) -> None:
    # Given the upload of the repository's event for a file that is neither a spec nor data
    upload = event_upload("ingest-ignored.json")
    fakes.artifacts.add(s3_uri(RAW, upload.key), b"just notes\n")
    # When it is ingested
    result = ingest(fakes, upload)
    # Then it is ignored: nothing is stored, recorded, announced or started
    assert (result.status, result.key, result.model) == ("ignored", "notes/readme.txt", None)
    assert list(fakes.artifacts.list_keys("")) == []
    assert fakes.registry.events == [] and fakes.notifier.published == []
    assert fakes.executions.executions == {}


def test_a_url_encoded_key_is_read_under_its_decoded_name(fakes: FakePorts) -> None:
    # Given the repository's event for "first+upload.csv", an object whose real name has a space
    register_spec(fakes)
    upload = event_upload("ingest-data-uploaded.json")
    assert upload.keys == ["credit-risk/data/first upload.csv", "credit-risk/data/first+upload.csv"]
    fakes.artifacts.add(s3_uri(RAW, "credit-risk/data/first upload.csv"), DATA)
    # When it is ingested
    result = ingest(fakes, upload)
    # Then the decoded key is read and becomes the dataset's source
    assert (result.status, result.key) == ("dataset", "credit-risk/data/first upload.csv")
    dataset = fakes.registry.get_dataset(MODEL, hashlib.sha256(DATA).hexdigest())
    assert dataset is not None and dataset.source_key == "credit-risk/data/first upload.csv"


def test_a_key_with_a_literal_plus_is_read_as_delivered(fakes: FakePorts) -> None:
    # Given the same event, for an object whose name really has a "+"
    register_spec(fakes)
    upload = event_upload("ingest-data-uploaded.json")
    fakes.artifacts.add(s3_uri(RAW, "credit-risk/data/first+upload.csv"), DATA)
    # When it is ingested
    result = ingest(fakes, upload)
    # Then the key as delivered is the one read
    assert (result.status, result.key) == ("dataset", "credit-risk/data/first+upload.csv")
