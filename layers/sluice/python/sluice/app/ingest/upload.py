"""Ingestion: an upload to the raw bucket becomes a registered spec, a validated dataset version that
starts training, or a quarantined object with a report naming file, row and column."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel

from sluice.app.data.quarantine import record_quarantine
from sluice.app.data.stored import dataset_prefix, load_spec
from sluice.app.ingest.spec_from_data import (
    NO_SPEC,
    find_init,
    infer_and_register,
    newest_waiting_upload,
    parse_init,
    register_spec,
)
from sluice.app.ports import Artifacts, CoreDeps, StackDeps, TrainingDeps
from sluice.app.training.start import start_training
from sluice.domain.registry.records import (
    AuditEvent,
    DatasetRecord,
    EventType,
    HashingReader,
    RunState,
    Trigger,
    new_event_id,
    s3_uri,
    split_uri,
    utc_now,
)
from sluice.errors import (
    ArtifactNotFound,
    DataUnreadable,
    ModelNotFound,
    SpecError,
)

logger = logging.getLogger(__name__)

SPEC_KEY = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]{0,62})/spec\.ya?ml$")
INIT_KEY = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]{0,62})/init\.ya?ml$")
DATA_KEY = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]{0,62})/data/(?P<file>[^/].*\.csv)$", re.IGNORECASE)
MAX_SPEC_BYTES = 1024 * 1024


class Upload(BaseModel):
    """An object created in the raw bucket, from an EventBridge "Object Created" event (or the classic
    S3 notification shape). `keys` are the candidates to read: URL-decoded first, then as delivered."""

    bucket: str
    key: str
    keys: list[str]
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Upload:
        if "detail" in event:
            detail = event["detail"]
            bucket, obj = detail["bucket"]["name"], detail["object"]
        elif event.get("Records"):
            record = event["Records"][0]["s3"]
            bucket, obj = record["bucket"]["name"], record["object"]
        else:
            raise ValueError("not an S3 Object Created event (no 'detail' or 'Records')")
        delivered = str(obj["key"])
        decoded = unquote_plus(delivered)
        keys = [decoded] if decoded == delivered else [decoded, delivered]
        return cls(
            bucket=bucket,
            key=decoded,
            keys=keys,
            size=obj.get("size"),
            etag=obj.get("eTag") or obj.get("etag"),
            # "null" is the version id of objects written while versioning was off.
            version_id=version
            if (version := obj.get("version-id") or obj.get("versionId")) != "null"
            else None,
        )


class IngestResult(BaseModel):
    # spec_registered | spec_unchanged | spec_rejected | init_received | dataset | quarantined | ignored
    # | batch_started | batch_rejected
    status: str
    model: str | None = None
    key: str
    reason: str | None = None
    spec_sha256: str | None = None
    dataset_sha256: str | None = None
    dataset_created: bool | None = None
    execution_arn: str | None = None
    execution_started: bool | None = None
    report_uri: str | None = None
    rows: int | None = None
    spec_inferred_from: str | None = None  # the data key whose CSV the model's spec was inferred from
    batch_job: str | None = None  # batch/<model>/*.csv: the BatchScore job started (app/batch/job.py)
    results_uri: str | None = None  # where that job writes (batch-results/<model>/<job>/)


@dataclass(frozen=True)
class IngestLimits:
    """The ingest's limits, as plain values (the entry point reads them from its settings): the largest
    upload read, in bytes (a larger one is quarantined unread)."""

    max_upload_bytes: int = 200 * 1024 * 1024


def ingest_upload(upload: Upload, limits: IngestLimits, deps: StackDeps) -> IngestResult:
    """Route an upload: `<model>/spec.yaml` registers a spec, `<model>/data/*.csv` becomes a dataset
    version and starts training (or is quarantined), `<model>/init.yaml` asks for a spec inferred from
    the model's first data (app/ingest/spec_from_data.py). Anything else is ignored."""
    key = _existing_key(upload, deps.artifacts)
    if match := SPEC_KEY.match(key):
        return _ingest_spec(upload, key, match["model"], deps)
    if match := DATA_KEY.match(key):
        return _ingest_data(upload, key, match["model"], limits, deps)
    if match := INIT_KEY.match(key):
        return _ingest_init(upload, key, match["model"], limits, deps)
    if key.startswith("batch/"):
        return _ingest_batch(upload, key, deps)
    logger.info("ignoring upload outside <model>/spec.yaml, init.yaml and data/*.csv", extra={"key": key})
    return IngestResult(
        status="ignored", key=key, reason="not <model>/spec.yaml, <model>/init.yaml or <model>/data/*.csv"
    )


def _ingest_batch(upload: Upload, key: str, deps: StackDeps) -> IngestResult:
    """`batch/<model>/<name>.csv`: start a BatchScore job. A file for an unknown model or one with no
    production version is quarantined with the reason (the upload itself stays in the raw bucket, to be
    scored later with `sluice batch`)."""
    from sluice.app.batch.job import batch_source, start_batch_job

    found = batch_source(upload.bucket, key)
    if found is None:
        return IngestResult(status="ignored", key=key, reason="not batch/<model>/<name>.csv")
    model, source = found
    # the same object version makes the same job (S3 delivers at least once): its execution name
    # is taken, so a duplicate starts nothing
    identity = f"{source}#{upload.version_id or upload.etag or ''}".encode()
    job_id = "upload-" + hashlib.sha256(identity).hexdigest()[:16]
    try:
        job = start_batch_job(model, source, deps, job_id=job_id)
    except (ModelNotFound, ArtifactNotFound) as exc:
        report = {"source": source, "reason": "batch_rejected", "message": str(exc)}
        report_uri = _quarantine(upload, key, model, report, deps, EventType.DATA_QUARANTINED)
        return IngestResult(
            status="batch_rejected", model=model, key=key, reason=str(exc), report_uri=report_uri
        )
    return IngestResult(
        status="batch_started",
        model=model,
        key=key,
        batch_job=job.job_id,
        execution_arn=job.execution_arn,
        execution_started=job.started,
        results_uri=job.results,
    )


def _existing_key(upload: Upload, artifacts: Artifacts) -> str:
    for candidate in upload.keys[:-1]:
        if artifacts.exists(s3_uri(upload.bucket, candidate)):
            return candidate
    return upload.keys[-1]


def _ingest_spec(upload: Upload, key: str, model: str, deps: CoreDeps) -> IngestResult:
    from sluice.domain.spec.model_spec import parse_spec

    source = s3_uri(upload.bucket, key)
    size = deps.artifacts.size(source, version_id=upload.version_id)
    try:
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{key}: a spec larger than {MAX_SPEC_BYTES} bytes is not a spec")
        raw = deps.artifacts.get_bytes(source, version_id=upload.version_id)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"{key}: not UTF-8 text") from exc
        spec = parse_spec(text, source=key)
        if spec.name != model:
            raise SpecError(f"name: the spec is named {spec.name!r} but was uploaded under {model}/")
    except SpecError as exc:
        report = {"source": source, "reason": "invalid_spec", "message": str(exc)}
        report_uri = _quarantine(upload, key, model, report, deps, EventType.SPEC_REJECTED)
        return IngestResult(
            status="spec_rejected", model=model, key=key, reason=str(exc), report_uri=report_uri
        )

    if register_spec(deps, spec, raw, key) is None:
        return IngestResult(status="spec_unchanged", model=model, key=key, spec_sha256=spec.sha256)
    return IngestResult(status="spec_registered", model=model, key=key, spec_sha256=spec.sha256)


def _ingest_init(
    upload: Upload, key: str, model: str, limits: IngestLimits, deps: TrainingDeps
) -> IngestResult:
    """init.yaml: checked now; the spec is inferred from the model's data. When CSVs were quarantined
    for lack of a spec, the newest is taken up again from the raw bucket (where it stays); otherwise
    the next CSV uploaded infers the spec. A model that already has a spec keeps it."""
    source = s3_uri(upload.bucket, key)
    try:
        parse_init(deps.artifacts.get_bytes(source, version_id=upload.version_id), key)
    except SpecError as exc:
        report = {"source": source, "reason": "invalid_init", "message": str(exc)}
        report_uri = _quarantine(upload, key, model, report, deps, EventType.SPEC_REJECTED)
        return IngestResult(
            status="spec_rejected", model=model, key=key, reason=str(exc), report_uri=report_uri
        )
    if deps.registry.current_spec(model) is not None:
        return IngestResult(
            status="ignored",
            model=model,
            key=key,
            reason=f"{model} already has a spec; init.yaml applies to a model without one (upload "
            f"{model}/spec.yaml to change it)",
        )
    waiting = newest_waiting_upload(model, deps.artifacts)
    if waiting is not None and deps.artifacts.exists(waiting):
        bucket, data_key = split_uri(waiting)
        retried = Upload(bucket=bucket, key=data_key, keys=[data_key])
        result = _ingest_data(retried, data_key, model, limits, deps)
        took_up = f"took up {data_key}, quarantined earlier for want of a spec"
        reason = f"{took_up}: {result.reason}" if result.reason else took_up
        return result.model_copy(update={"key": key, "reason": reason})
    return IngestResult(
        status="init_received",
        model=model,
        key=key,
        reason=f"the spec will be inferred from the next CSV uploaded under {model}/data/",
    )


def _ingest_data(
    upload: Upload, key: str, model: str, limits: IngestLimits, deps: TrainingDeps
) -> IngestResult:
    from sluice.domain.data.table import read_csv
    from sluice.domain.data.validation import validate_table

    source = s3_uri(upload.bucket, key)
    size = deps.artifacts.size(source, version_id=upload.version_id)

    def quarantine(reason: str, message: str, report: dict[str, Any] | None = None) -> IngestResult:
        body = {"source": source, "reason": reason, "message": message, "size_bytes": size, "report": report}
        report_uri = _quarantine(upload, key, model, body, deps, EventType.DATA_QUARANTINED)
        return IngestResult(status="quarantined", model=model, key=key, reason=message, report_uri=report_uri)

    if size > limits.max_upload_bytes:
        return quarantine("too_large", f"{size} bytes is over the limit of {limits.max_upload_bytes} bytes")
    spec_record = deps.registry.current_spec(model)
    init_key = find_init(upload.bucket, model, deps.artifacts) if spec_record is None else None
    if spec_record is None and init_key is None:
        return quarantine(
            NO_SPEC,
            f"model {model!r} has no spec; upload {model}/spec.yaml first (or {model}/init.yaml "
            "naming the target column, to infer one from this file)",
        )

    reader = HashingReader(deps.artifacts.open(source, version_id=upload.version_id))
    try:
        table = read_csv(reader, name=key)  # type: ignore[arg-type]
    except DataUnreadable as exc:
        return quarantine("unreadable", str(exc))
    reader.drain()
    sha = reader.hexdigest
    inferred_from = None
    if spec_record is None:
        assert init_key is not None
        try:
            spec_record = infer_and_register(deps, upload.bucket, model, init_key, table, key)
        except SpecError as exc:
            return quarantine("init_failed", str(exc))
        inferred_from = key
    spec = load_spec(spec_record.uri, deps.artifacts)
    report = validate_table(spec, table)
    if not report.passed:
        return quarantine(
            "invalid",
            f"{len(report.problems)} problem(s): {report.to_text()[:500]}",
            report.model_dump(mode="json"),
        )

    prefix = dataset_prefix(model, sha)
    dataset_uri = deps.artifacts.copy_in(source, prefix + "data.csv", version_id=upload.version_id)
    validation = deps.artifacts.put_json(prefix + "validation.json", report.model_dump(mode="json"))
    record = DatasetRecord(
        model=model,
        sha256=sha,
        uri=dataset_uri,
        source_key=key,
        source_version_id=upload.version_id,
        n_rows=table.n_rows,
        size_bytes=size,
        spec_sha256=spec_record.sha256,
        validation_uri=validation.uri,
        created_at=utc_now(),
    )
    # the dataset and its event in one write: an ingestion stopped between them, then run again, would
    # find the dataset registered and leave it without its event
    registered = AuditEvent(
        model=model,
        type=EventType.DATASET_REGISTERED,
        id=new_event_id(),
        details={"dataset_sha256": sha, "rows": table.n_rows, "source_key": key},
    )
    created = deps.registry.put_dataset(record, registered)
    run = RunState(
        model=model,
        dataset_sha256=sha,
        dataset_uri=dataset_uri,
        spec_sha256=spec_record.sha256,
        spec_uri=spec_record.uri,
        trigger=Trigger.UPLOAD,
    )
    started = start_training(run, deps)
    return IngestResult(
        status="dataset",
        model=model,
        key=key,
        spec_sha256=spec_record.sha256,
        dataset_sha256=sha,
        dataset_created=created,
        execution_arn=started.arn,
        execution_started=started.started,
        rows=table.n_rows,
        spec_inferred_from=inferred_from,
    )


def _quarantine(
    upload: Upload,
    key: str,
    model: str,
    report: dict[str, Any],
    deps: CoreDeps,
    event_type: EventType,
) -> str:
    """Copy the raw object to quarantine/ in the artifact bucket with its report beside it; record and
    announce it once per object version (an ingestion run again after a fault does not do it twice). The
    raw object stays where it is."""
    source = s3_uri(upload.bucket, key)
    target = f"quarantine/{key}"
    try:
        deps.artifacts.copy_in(source, target, version_id=upload.version_id)
    except ArtifactNotFound:
        logger.warning("upload vanished before quarantine", extra={"key": key})
    once = f"{source}#{upload.version_id or upload.etag or ''}"
    return record_quarantine(deps, model, source, target, report, event_type, once=once)
