"""Batch scoring jobs on the BatchScore state machine: start one (an upload of `batch/<model>/*.csv` or
`sluice batch`), pin it (its first task), and finish it (its last task: the manifest and the audit).
The scoring of each batch is app/batch/score.py."""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from sluice.app.batch.explain import pinned_background
from sluice.app.ports import CoreDeps, StackDeps
from sluice.app.serving.production import MODEL_ARTIFACT, ProductionModels
from sluice.domain.registry.records import AuditEvent, EventType, new_event_id, s3_uri, split_uri, utc_now
from sluice.domain.scoring.batch import BatchJob, BatchSummary, JobManifest, failed_ranges, results_prefix
from sluice.errors import ArtifactNotFound, DataUnreadable, ModelNotFound, NoProductionVersion, SluiceError

logger = logging.getLogger(__name__)

BATCH_KEY = re.compile(r"^batch/(?P<model>[a-z0-9][a-z0-9-]{0,62})/(?P<file>[^/]+\.csv)$", re.IGNORECASE)
SUMMARIES = "batches/"  # under the job's prefix: one summary per batch (BatchSummary)


class BatchLimits(BaseModel):
    """How a job's Map runs: rows per child, children at once, failed rows tolerated (percent)."""

    max_items_per_batch: int
    max_concurrency: int
    tolerated_failure_percentage: float


class StartedJob(BaseModel):
    model: str
    job_id: str
    source: str
    execution_arn: str
    started: bool
    results: str  # s3:// prefix the job writes under


def new_job_id(now: datetime | None = None) -> str:
    """A job id that sorts by start time: `20260102T030405Z-<6 hex>`."""
    moment = now or datetime.now(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def start_batch_job(
    model: str, source: str, deps: StackDeps, job_id: str | None = None, *, explain: bool = False
) -> StartedJob:
    """Start scoring the CSV at `source` with `model`'s production version. Refuses at once (the file
    stays where it is) when the model is unknown or has no production version (ModelNotFound /
    NoProductionVersion) or the file does not exist (ArtifactNotFound); the version is pinned by the
    job's first task, when it runs. With `explain`, each scored row also gets its contributions
    (app/batch/explain.py)."""
    if deps.registry.get_alias(model) is None:
        if deps.registry.model_meta(model) is None:
            raise ModelNotFound(f"no model named {model!r}")
        raise NoProductionVersion(f"model {model!r} has no version in production to score with")
    if not deps.artifacts.exists(source):
        raise ArtifactNotFound(f"{source}: no such object")
    job = job_id or new_job_id()
    bucket, key = split_uri(source)
    started = deps.batch.start(
        f"batch-{model}-{job}"[:80],
        {"model": model, "source": source, "bucket": bucket, "key": key, "job_id": job, "explain": explain},
    )
    return StartedJob(
        model=model,
        job_id=job,
        source=source,
        execution_arn=started.arn,
        started=started.started,
        results=deps.artifacts.uri(results_prefix(model, job)),
    )


def _header(deps: CoreDeps, source: str) -> list[str]:
    """The header's names exactly as the ItemReader keys each row with them (no stripping: a padded
    name would be a column the model does not have)."""
    body = deps.artifacts.open(source)
    try:
        reader = csv.reader(codecs.getreader("utf-8")(body, "strict"))
        return next(reader, [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataUnreadable(f"{source}: not a UTF-8 CSV ({exc})") from exc
    finally:
        body.close()


def pin_job(event: dict[str, Any], limits: BatchLimits, deps: CoreDeps) -> BatchJob:
    """The job's first task: pin the production version now (its model verified against its
    sha256), check the file's header names the model's inputs (DataUnreadable otherwise), record
    `batch_started`."""
    model, source, job_id = str(event["model"]), str(event["source"]), str(event["job_id"])
    served = ProductionModels(deps.registry, deps.artifacts, ttl_seconds=0, outcomes=deps.outcomes).get(model)
    header = set(_header(deps, source))
    missing = [f.name for f in served.onnx.features if f.name not in header and not f.nullable]
    if missing:
        raise DataUnreadable(f"{source}: the header lacks the model's input column(s) {', '.join(missing)}")
    artifact = deps.registry.get_version(model, served.version).artifacts[MODEL_ARTIFACT]
    job = BatchJob(
        model=model,
        job_id=job_id,
        source=source,
        version=served.version,
        model_uri=artifact.uri,
        model_sha256=artifact.sha256,
        results_prefix=results_prefix(model, job_id),
        started_at=utc_now(),
        **limits.model_dump(),
    )
    if event.get("explain"):
        background = pinned_background(deps.registry.get_version(model, served.version))
        job = job.model_copy(
            update={"background_uri": background.uri, "background_sha256": background.sha256}
        )
    deps.registry.append_event(
        AuditEvent(
            model=model,
            type=EventType.BATCH_STARTED,
            id=new_event_id(),
            version=served.version,
            details={"job_id": job_id, "source": source, "model_sha256": artifact.sha256},
        )
    )
    logger.info("batch job pinned", extra={"model": model, "job": job_id, "version": served.version})
    return job


def count_rows(deps: CoreDeps, source: str) -> int:
    """Data rows of the CSV (records after the header, as the ItemReader reads them), streamed."""
    body = deps.artifacts.open(source)
    try:
        reader = csv.reader(codecs.getreader("utf-8-sig")(body, "strict"))
        return max(sum(1 for _ in reader) - 1, 0)
    finally:
        body.close()


def finish_job(event: dict[str, Any], deps: CoreDeps) -> JobManifest:
    """The job's last task: count what the batches did (their summaries), write the manifest, record
    `batch_finished` and notify. With `error` in the event (a failed pin or Map), the manifest says
    the job failed and why; rows in = scored + rejected + failed (rows of failed batches) always."""
    event = event.get("state", event)  # the state machine passes its whole state
    model, source, job_id = str(event["model"]), str(event["source"]), str(event["job_id"])
    job = BatchJob.model_validate(event["job"]) if event.get("job") else None
    prefix = results_prefix(model, job_id)
    summaries = [
        BatchSummary.model_validate_json(deps.artifacts.get_bytes(deps.artifacts.uri(key)))
        for key in deps.artifacts.list_keys(prefix + SUMMARIES)
    ]
    try:
        rows_in = count_rows(deps, source)
    except (ArtifactNotFound, UnicodeDecodeError, csv.Error):
        rows_in = sum(s.rows for s in summaries)
    scored = sum(s.scored for s in summaries)
    rejected = sum(s.rejected for s in summaries)
    error = _error_text(event.get("error"))
    ordered = sorted(summaries, key=lambda s: s.first_row)
    manifest = JobManifest(
        model=model,
        job_id=job_id,
        status="failed" if error else "succeeded",
        version=job.version if job else None,
        model_sha256=job.model_sha256 if job else None,
        source=source,
        started_at=job.started_at if job else None,
        finished_at=utc_now(),
        rows_in=rows_in,
        rows_scored=scored,
        rows_rejected=rejected,
        rows_failed=rows_in - scored - rejected,
        failed_ranges=failed_ranges(rows_in, summaries) if rows_in > scored + rejected else [],
        parts=[deps.artifacts.uri(s.part) for s in ordered if s.part],
        errors=[deps.artifacts.uri(s.errors) for s in ordered if s.errors],
        error=error,
    )
    written = deps.artifacts.put_json(prefix + "manifest.json", manifest.model_dump(mode="json"))
    counts = {"rows_in": rows_in, "scored": scored, "rejected": rejected, "failed": manifest.rows_failed}
    try:
        deps.registry.append_event(
            AuditEvent(
                model=model,
                type=EventType.BATCH_FINISHED,
                id=new_event_id(),
                version=manifest.version,
                reason=error,
                details={"job_id": job_id, "status": manifest.status, "manifest": written.uri, **counts},
            )
        )
    except SluiceError:
        logger.exception("could not record batch_finished", extra={"model": model, "job": job_id})
    deps.notifier.publish(
        f"Sluice: {model} batch job {job_id} {manifest.status}",
        {"event": EventType.BATCH_FINISHED.value, "model": model, "job_id": job_id, "manifest": written.uri}
        | counts
        | ({"error": error} if error else {}),
    )
    return manifest


def _error_text(error: Any) -> str | None:
    """A Catch's {"Error", "Cause"} as one line (the cause of a Lambda error is its JSON)."""
    if not error:
        return None
    if isinstance(error, dict):
        cause = str(error.get("Cause") or "")
        with contextlib.suppress(ValueError, AttributeError):
            cause = str(json.loads(cause).get("errorMessage", cause))
        return f"{error.get('Error', 'Error')}: {cause}".strip(": ")
    return str(error)


def batch_source(bucket: str, key: str) -> tuple[str, str] | None:
    """(model, s3 URI) when `key` is a batch upload `batch/<model>/<name>.csv`, else None."""
    match = BATCH_KEY.match(key)
    return (match["model"], s3_uri(bucket, key)) if match else None
