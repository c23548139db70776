"""BatchScoreFunction: the BatchScore state machine's tasks. The event's `step` names the task:

- `pin`: {"step", "model", "source", "job_id"} → the job (BatchJob), its version pinned;
- `finish`: {"step", "model", "source", "job_id", "job"?, "error"?} → the manifest (JobManifest);
- no `step`: one ItemBatcher batch of the Distributed Map, {"BatchInput": {"job"}, "Items"} → its
  counts (BatchSummary).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.app.batch.job import BatchLimits, finish_job, pin_job
from sluice.app.batch.score import score_batch
from sluice.entrypoints.wiring import batch_services
from sluice.observability import logger, metrics, tracer
from sluice.settings import BatchScoreSettings

Settings = BatchScoreSettings


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = BatchScoreSettings()
    services = batch_services(settings)
    step = event.get("step", "score")
    metrics.add_metric(name=f"Batch_{step}", unit="Count", value=1)
    if step == "pin":
        limits = BatchLimits(
            max_items_per_batch=settings.batch_max_items_per_batch,
            max_concurrency=settings.batch_max_concurrency,
            tolerated_failure_percentage=settings.batch_tolerated_failure_percentage,
        )
        return pin_job(event, limits, services).model_dump(mode="json")
    if step == "finish":
        return finish_job(event, services).model_dump(mode="json")
    summary = score_batch(event, services)
    metrics.add_metric(name="BatchRowsScored", unit="Count", value=summary.scored)
    metrics.add_metric(name="BatchRowsRejected", unit="Count", value=summary.rejected)
    return summary.model_dump(mode="json")
