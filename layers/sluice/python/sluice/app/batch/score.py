"""One batch of a BatchScore job (a child of its Distributed Map): its rows checked as /predict checks
instances, the valid ones scored with the job's pinned model, results and bad rows written as CSV
parts, and only counts answered."""

from __future__ import annotations

import logging
from typing import Any

from sluice.app.batch.explain import with_contributions
from sluice.app.batch.job import SUMMARIES
from sluice.app.ports import ArtifactReader, CoreDeps
from sluice.domain.registry.records import Artifact
from sluice.domain.scoring.batch import (
    BatchJob,
    BatchSummary,
    batch_name,
    check_rows,
    errors_csv,
    instance_of,
    results_csv,
)
from sluice.domain.scoring.onnx_model import OnnxModel

logger = logging.getLogger(__name__)

# The pinned models this container has loaded, by (uri, sha256): a warm child reuses its model.
_MODELS: dict[tuple[str, str], OnnxModel] = {}


def pinned_model(job: BatchJob, artifacts: ArtifactReader) -> OnnxModel:
    """The job's model, its bytes verified against the pinned sha256 (ArtifactCorrupt otherwise)."""
    key = (job.model_uri, job.model_sha256)
    if key not in _MODELS:
        _MODELS.clear()  # one job's model at a time: a container serves one job's batches
        _MODELS[key] = OnnxModel(artifacts.get_verified(Artifact(uri=job.model_uri, sha256=job.model_sha256)))
    return _MODELS[key]


def score_batch(event: dict[str, Any], deps: CoreDeps) -> BatchSummary:
    """Score one ItemBatcher batch: `{"BatchInput": {"job": BatchJob}, "Items": [{"index", "row"}]}`
    where `index` is the row's 0-based item index in the file and `row` its cells by header. Writes
    `parts/<rows>.csv` (scored rows) and `errors/<rows>.csv` (row, field, reason of each bad row) under
    the job's prefix, and the batch's summary under `batches/`; answers the summary."""
    job = BatchJob.model_validate(event["BatchInput"]["job"])
    items = event["Items"]
    rows = [int(item["index"]) + 1 for item in items]
    model = pinned_model(job, deps.artifacts)
    instances = [instance_of(model.features, item["row"]) for item in items]
    checked = check_rows(model.features, instances, rows)
    name = batch_name(min(rows), max(rows))
    part = errors = None
    if checked.valid and checked.feed is not None:
        outputs = model.run(checked.feed)
        part = f"{job.results_prefix}parts/{name}.csv"
        scored = results_csv([rows[i] for i in checked.valid], outputs, model.classes)
        if job.background_uri is not None:
            scored = with_contributions(scored, model, checked.feed, job, deps.artifacts)
        deps.artifacts.put_bytes(part, scored, "text/csv")
    if checked.problems:
        errors = f"{job.results_prefix}errors/{name}.csv"
        deps.artifacts.put_bytes(errors, errors_csv(checked.problems), "text/csv")
    summary = BatchSummary(
        first_row=min(rows),
        last_row=max(rows),
        rows=len(rows),
        scored=len(checked.valid),
        rejected=checked.rejected_rows,
        part=part,
        errors=errors,
    )
    deps.artifacts.put_json(f"{job.results_prefix}{SUMMARIES}{name}.json", summary.model_dump(mode="json"))
    logger.info("batch scored", extra={"job": job.job_id, "rows": name, "rejected": summary.rejected})
    return summary
