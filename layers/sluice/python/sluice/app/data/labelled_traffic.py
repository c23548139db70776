"""Labelled traffic as data: the inputs PredictFunction captured, joined with the labels that came back
through feedback on (request_id, instance), become a dataset like an upload — validated against the
spec, stored by content hash under datasets/<model>/<sha>/, quarantined with a report when invalid —
and a retraining's dataset is the latest accepted upload followed by that labelled traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sluice.app.data.quarantine import record_quarantine
from sluice.app.data.stored import dataset_prefix, load_table
from sluice.app.ports import CoreDeps
from sluice.domain.data.table import RawTable, table_from_records, to_csv_bytes
from sluice.domain.data.validation import ValidationReport, validate_table
from sluice.domain.registry.records import (
    AuditEvent,
    DatasetKind,
    DatasetRecord,
    EventType,
    SpecRecord,
    TrafficWindow,
    new_event_id,
    sha256_hex,
    utc_now,
)
from sluice.domain.spec.model_spec import ModelSpec


@dataclass(frozen=True)
class LabelledTraffic:
    """What a window's labelled traffic became: a dataset (`record`, with its `table`), a quarantine
    (`quarantine_uri`, the report's URI) or nothing (no captured row had a label)."""

    rows: int
    record: DatasetRecord | None = None
    table: RawTable | None = None
    quarantine_uri: str | None = None


def labelled_table(
    spec: ModelSpec, captured: list[dict[str, Any]], labels: dict[tuple[str, int], Any], source: str
) -> RawTable:
    """The captured records that have a label, oldest capture first, as a table of the spec's columns
    (features, target, and the sensitive column when the spec has one): each feature from the record's
    inputs, the target from the label. Cells are text, as a CSV would hold them."""
    columns = [*spec.feature_names, spec.target] + ([spec.sensitive] if spec.sensitive else [])
    joined = [r for r in captured if (str(r.get("request_id")), int(r.get("instance", 0))) in labels]
    joined.sort(key=lambda r: (str(r.get("time")), str(r.get("request_id")), int(r.get("instance", 0))))
    rows = []
    for record in joined:
        found = record.get("inputs")
        inputs: dict[str, Any] = found if isinstance(found, dict) else {}
        row: dict[str, object] = {name: inputs.get(name) for name in columns}
        row[spec.target] = labels[(str(record["request_id"]), int(record.get("instance", 0)))]
        rows.append(row)
    if not rows:
        return RawTable(source=source, header=columns, columns={name: [] for name in columns})
    table = table_from_records(rows, source)
    return RawTable(source=source, header=columns, columns={name: table.columns[name] for name in columns})


# A window's labelled rows may hold one class only; the retraining dataset they join is what must hold two.
SINGLE_CLASS = "the target has a single class"


def validate_labelled(spec: ModelSpec, table: RawTable) -> ValidationReport:
    """`validate_table`, as for an upload, except that a single class in the target is a warning, not
    a problem: the rows are checked as data, and the retraining dataset they join is checked whole."""
    report = validate_table(spec, table)
    single = [p for p in report.problems if p.check == "target" and p.message.startswith(SINGLE_CLASS)]
    if not single:
        return report
    problems = [p for p in report.problems if p not in single]
    return report.model_copy(
        update={"passed": not problems, "problems": problems, "warnings": [*report.warnings, *single]}
    )


def store_dataset(
    deps: CoreDeps,
    record: DatasetRecord,
    data: bytes,
    report: ValidationReport,
) -> DatasetRecord:
    """Store a validated table's CSV bytes and its validation report under datasets/<model>/<sha>/ and
    register `record` (its URIs filled in here); a new dataset gets a `dataset_registered` event."""
    prefix = dataset_prefix(record.model, record.sha256)
    stored = deps.artifacts.put_bytes(prefix + "data.csv", data, "text/csv")
    validation = deps.artifacts.put_json(prefix + "validation.json", report.model_dump(mode="json"))
    final = record.model_copy(update={"uri": stored.uri, "validation_uri": validation.uri})
    registered = AuditEvent(
        model=record.model,
        type=EventType.DATASET_REGISTERED,
        id=new_event_id(),
        details={
            "dataset_sha256": record.sha256,
            "rows": record.n_rows,
            "kind": record.kind.value,
            "lineage": record.lineage,
        },
    )
    deps.registry.put_dataset(final, registered)  # with its event, in one write
    return final


def ingest_labelled_traffic(
    spec_record: SpecRecord, spec: ModelSpec, window: TrafficWindow, deps: CoreDeps
) -> LabelledTraffic:
    """The window's labelled traffic of `spec`'s model as a dataset (kind `labelled_traffic`, lineage
    "captured traffic <start>..<end> + feedback"), validated exactly like an upload. Invalid rows are
    quarantined under quarantine/<model>/labelled-traffic/<sha>.csv with the validation report, like an
    invalid upload; no labelled row gives rows=0 and nothing stored."""
    model = spec.name
    lineage = f"captured traffic {window} + feedback"
    # No sample is needed: every labelled record comes back whatever the window's size.
    read = deps.traffic.window(model, window.start, window.end, max_rows=0)
    table = labelled_table(spec, read.labelled, read.labels, source=lineage)
    if table.n_rows == 0:
        return LabelledTraffic(rows=0)
    data = to_csv_bytes(table)
    sha = sha256_hex(data)
    report = validate_labelled(spec, table)
    if not report.passed:
        target = f"quarantine/{model}/labelled-traffic/{sha}.csv"
        deps.artifacts.put_bytes(target, data, "text/csv")
        body = {
            "source": lineage,
            "reason": "invalid",
            "message": f"{len(report.problems)} problem(s): {report.to_text()[:500]}",
            "size_bytes": len(data),
            "report": report.model_dump(mode="json"),
        }
        uri = record_quarantine(
            deps,
            model,
            lineage,
            target,
            body,
            EventType.DATA_QUARANTINED,
            what="labelled traffic",
            once=target,
        )
        return LabelledTraffic(rows=table.n_rows, quarantine_uri=uri)
    record = _record(spec_record, sha, table.n_rows, len(data), DatasetKind.LABELLED_TRAFFIC, lineage)
    return LabelledTraffic(rows=table.n_rows, record=store_dataset(deps, record, data, report), table=table)


def retraining_dataset(
    spec_record: SpecRecord, spec: ModelSpec, base: DatasetRecord, window: TrafficWindow, deps: CoreDeps
) -> DatasetRecord:
    """The data a retraining trains on: the accepted dataset `base` followed by the window's labelled
    traffic, stored as its own dataset (kind `retraining`, `recent_rows` = the labelled rows at its end,
    lineage naming both sources). `base` itself when the window has no valid labelled traffic."""
    labelled = ingest_labelled_traffic(spec_record, spec, window, deps)
    if labelled.record is None or labelled.table is None:
        return base
    base_table = load_table(base.uri, deps.artifacts)
    recent = labelled.table
    if not set(recent.header) <= set(base_table.header):
        return base  # the base predates the spec's columns: training it reports that, as before
    combined = RawTable(
        source=f"{base.sha256[:12]}+{labelled.record.sha256[:12]}",
        header=list(base_table.header),
        columns={name: base_table.columns[name] + recent.columns[name] for name in base_table.header},
    )
    data = to_csv_bytes(combined)
    lineage = f"dataset {base.sha256[:12]} ({base.source_key}) + {labelled.record.lineage}"
    record = _record(
        spec_record, sha256_hex(data), combined.n_rows, len(data), DatasetKind.RETRAINING, lineage
    ).model_copy(update={"sources": [base.sha256, labelled.record.sha256], "recent_rows": recent.n_rows})
    return store_dataset(deps, record, data, validate_table(spec, combined))


def _record(
    spec_record: SpecRecord, sha: str, n_rows: int, size: int, kind: DatasetKind, lineage: str
) -> DatasetRecord:
    return DatasetRecord(
        model=spec_record.model,
        sha256=sha,
        uri="",
        source_key=lineage,
        n_rows=n_rows,
        size_bytes=size,
        spec_sha256=spec_record.sha256,
        validation_uri="",
        created_at=utc_now(),
        kind=kind,
        lineage=lineage,
    )
