"""Labelled traffic on the in-memory ports: captured inputs joined with feedback labels become a dataset
validated like an upload (or a quarantine with a report), and a retraining's dataset is the accepted
upload followed by that traffic, its recent rows counted."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from sluice.app.data.labelled_traffic import (
    ingest_labelled_traffic,
    labelled_table,
    retraining_dataset,
)
from sluice.app.data.stored import dataset_prefix
from sluice.domain.data.table import RawTable, to_csv_bytes
from sluice.domain.registry.records import (
    DatasetKind,
    DatasetRecord,
    EventType,
    SpecRecord,
    TrafficWindow,
    sha256_hex,
    utc_now,
)
from sluice.domain.spec.model_spec import ModelSpec, parse_spec
from tests.unit.app.drift_world import LOANS_SPEC, MODEL, NOW, captured, loan_rows, register_model, serve
from tests.unit.app.fakes import BUCKET, FakePorts

RETRAINING_SPEC = LOANS_SPEC + "retraining: {window_days: 7, recent_weight: 3.0}\n"
SPEC = parse_spec(RETRAINING_SPEC)
WINDOW = TrafficWindow(start=NOW - timedelta(days=7), end=NOW)


def served_with_labels(fakes: FakePorts, rows: list[dict[str, Any]], labelled: int) -> list[dict[str, Any]]:
    """`rows` served and captured an hour before NOW; the first `labelled` of them get their true label
    back through feedback. Returns the capture lines."""
    records = captured(rows, hours_ago=1.0)
    serve(fakes, MODEL, records)
    for record, row in list(zip(records, rows, strict=True))[:labelled]:
        fakes.traffic.put_feedback(MODEL, record["request_id"], record["instance"], row["default"])
    return records


def spec_record(fakes: FakePorts) -> SpecRecord:
    current = fakes.registry.current_spec(MODEL)
    assert current is not None
    return current


def stored_upload(fakes: FakePorts, spec: ModelSpec, rows: list[dict[str, Any]]) -> DatasetRecord:
    """An accepted upload of `rows`, its CSV stored where ingestion keeps it."""
    columns = [*spec.feature_names, spec.target]
    data = to_csv_bytes(
        RawTable(source="up.csv", header=columns, columns={c: [str(r[c]) for r in rows] for c in columns})
    )
    sha = sha256_hex(data)
    uri = fakes.artifacts.put_bytes(dataset_prefix(MODEL, sha) + "data.csv", data).uri
    record = DatasetRecord(
        model=MODEL,
        sha256=sha,
        uri=uri,
        source_key=f"{MODEL}/data/up.csv",
        n_rows=len(rows),
        size_bytes=len(data),
        spec_sha256=spec.sha256,
        validation_uri=uri,
        created_at=utc_now(),
    )
    fakes.registry.put_dataset(record)
    return record


def csv_rows(fakes: FakePorts, uri: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(fakes.artifacts.get_bytes(uri).decode())))


# --------------------------------------------------------------------------------------------- the join
def test_only_captured_rows_with_a_label_join_oldest_first_with_the_label_as_target() -> None:
    # Given three captured instances at two times, two of them labelled (one label for an unknown request)
    spec_rows = loan_rows(3, seed=1)
    newer = captured(spec_rows[:2], hours_ago=1.0)
    older = captured(spec_rows[2:], hours_ago=5.0)
    labels = {(newer[0]["request_id"], 0): 1, (older[0]["request_id"], 0): 0, ("unknown", 0): 1}
    # When they are joined
    table = labelled_table(parse_spec(LOANS_SPEC), newer + older, labels, source="window")
    # Then the labelled ones are rows of the spec's columns, the older first, the label as the target
    assert table.header == ["income", "debt_ratio", "segment", "default"]
    assert table.columns["income"] == [str(spec_rows[2]["income"]), str(spec_rows[0]["income"])]
    assert table.columns["default"] == ["0", "1"]


# ------------------------------------------------------------------------------- labelled traffic ingest
def test_labelled_traffic_becomes_a_validated_dataset_stored_by_content_hash(fakes: FakePorts) -> None:
    # Given a model that served 40 rows, 30 of them labelled
    register_model(fakes, RETRAINING_SPEC, dataset=False)
    served_with_labels(fakes, loan_rows(40, seed=2), labelled=30)
    # When the window's labelled traffic is ingested
    result = ingest_labelled_traffic(spec_record(fakes), SPEC, WINDOW, fakes.deps())
    # Then it is a dataset of 30 rows stored under its content hash, with lineage naming the window
    record = result.record
    assert record is not None and result.rows == 30 and record.n_rows == 30
    assert record.kind is DatasetKind.LABELLED_TRAFFIC
    assert record.lineage == f"captured traffic {WINDOW} + feedback"
    data = fakes.artifacts.get_bytes(record.uri)
    assert record.uri == f"s3://{BUCKET}/{dataset_prefix(MODEL, sha256_hex(data))}data.csv"
    assert fakes.artifacts.json(f"{dataset_prefix(MODEL, record.sha256)}validation.json")["passed"] is True
    # And the registry holds it, announced by a dataset_registered event
    assert fakes.registry.get_dataset(MODEL, record.sha256) == record
    assert fakes.registry.event_types(MODEL)[-1] is EventType.DATASET_REGISTERED


def test_invalid_labelled_traffic_is_quarantined_with_a_report_like_an_upload(fakes: FakePorts) -> None:
    # Given labelled traffic whose labels are not the binary target's 0/1
    register_model(fakes, RETRAINING_SPEC, dataset=False)
    records = captured(loan_rows(10, seed=3), hours_ago=1.0)
    serve(fakes, MODEL, records)
    for record in records:
        fakes.traffic.put_feedback(MODEL, record["request_id"], record["instance"], 7)
    # When it is ingested
    result = ingest_labelled_traffic(spec_record(fakes), SPEC, WINDOW, fakes.deps())
    # Then no dataset is registered; the rows and their report are in quarantine, audited and announced
    assert result.record is None and result.rows == 10 and result.quarantine_uri is not None
    assert fakes.registry.list_datasets(MODEL) == []
    report = fakes.artifacts.json(result.quarantine_uri.removeprefix(f"s3://{BUCKET}/"))
    assert report["reason"] == "invalid" and report["report"]["passed"] is False
    assert fakes.artifacts.exists(result.quarantine_uri.removesuffix(".report.json"))
    assert fakes.registry.event_types(MODEL)[-1] is EventType.DATA_QUARANTINED
    (note,) = fakes.notifier.published
    assert note[0] == f"Sluice: {MODEL} labelled traffic quarantined (invalid)"


def test_traffic_without_labels_is_no_dataset(fakes: FakePorts) -> None:
    # Given served traffic that no label came back for
    register_model(fakes, RETRAINING_SPEC, dataset=False)
    served_with_labels(fakes, loan_rows(20, seed=4), labelled=0)
    # When the window's labelled traffic is ingested
    result = ingest_labelled_traffic(spec_record(fakes), SPEC, WINDOW, fakes.deps())
    # Then nothing is stored or quarantined
    assert (result.rows, result.record, result.quarantine_uri) == (0, None, None)
    assert fakes.registry.list_datasets(MODEL) == [] and fakes.notifier.published == []


# ------------------------------------------------------------------------------ the retraining dataset
def test_a_retraining_dataset_is_the_upload_followed_by_the_labelled_traffic(fakes: FakePorts) -> None:
    # Given an accepted upload of 50 rows and 20 labelled rows of traffic
    spec = register_model(fakes, RETRAINING_SPEC, dataset=False)
    base = stored_upload(fakes, spec, loan_rows(50, seed=5))
    served = loan_rows(20, seed=6, shift=1.0)
    served_with_labels(fakes, served, labelled=20)
    # When the retraining dataset is built
    record = retraining_dataset(spec_record(fakes), spec, base, WINDOW, fakes.deps())
    # Then it is a dataset of its own: the upload's rows, then the labelled ones (counted as recent)
    assert record.kind is DatasetKind.RETRAINING and record.sha256 != base.sha256
    assert (record.n_rows, record.recent_rows) == (70, 20)
    rows = csv_rows(fakes, record.uri)
    assert [r["income"] for r in rows[50:]] == [str(r["income"]) for r in served]
    # And its lineage names both sources
    labelled = next(d for d in fakes.registry.list_datasets(MODEL) if d.kind is DatasetKind.LABELLED_TRAFFIC)
    assert record.sources == [base.sha256, labelled.sha256]
    assert record.lineage == (
        f"dataset {base.sha256[:12]} ({base.source_key}) + captured traffic {WINDOW} + feedback"
    )


@pytest.mark.parametrize("labelled", [0, 5])
def test_without_valid_labelled_traffic_the_retraining_dataset_is_the_upload(
    fakes: FakePorts, labelled: int
) -> None:
    # Given an accepted upload, and no labelled traffic or only invalid labelled traffic
    spec = register_model(fakes, RETRAINING_SPEC, dataset=False)
    base = stored_upload(fakes, spec, loan_rows(50, seed=5))
    records = served_with_labels(fakes, loan_rows(20, seed=6), labelled=0)
    for served in records[:labelled]:
        fakes.traffic.put_feedback(MODEL, served["request_id"], served["instance"], "maybe")
    # When the retraining dataset is built
    record = retraining_dataset(spec_record(fakes), spec, base, WINDOW, fakes.deps())
    # Then it is the upload itself
    assert record == base


def test_labelled_traffic_of_a_single_class_is_data_with_a_warning(fakes: FakePorts) -> None:
    # Given labelled traffic whose labels are all 1 (a window after the world changed may be)
    register_model(fakes, RETRAINING_SPEC, dataset=False)
    records = captured(loan_rows(10, seed=3), hours_ago=1.0)
    serve(fakes, MODEL, records)
    for record in records:
        fakes.traffic.put_feedback(MODEL, record["request_id"], record["instance"], 1)
    # When it is ingested
    result = ingest_labelled_traffic(spec_record(fakes), SPEC, WINDOW, fakes.deps())
    # Then it is a dataset, its validation passed with the single class as a warning
    assert result.record is not None and result.quarantine_uri is None
    validation = fakes.artifacts.json(f"{dataset_prefix(MODEL, result.record.sha256)}validation.json")
    assert validation["passed"] is True
    assert [w["check"] for w in validation["warnings"]] == ["target"]
