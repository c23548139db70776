"""BatchScoreFunction: the BatchScore state machine's tasks. The event's `step` names the task:

- `pin`: {"step", "model", "source", "job_id"} → the job (BatchJob), its version pinned;
- `finish`: {"step", "model", "source", "job_id", "job"?, "error"?} → the manifest (JobManifest);
- no `step`: one ItemBatcher batch of the Distributed Map, {"BatchInput": {"job"}, "Items"} → its
  counts (BatchSummary).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.app.batch.job import finish_job, pin_job
from sluice.app.batch.score import score_batch
from sluice.entrypoints import wiring
from sluice.entrypoints.handler import lambda_handler_of
from sluice.observability import metrics
from sluice.settings import BatchScoreSettings

Settings = BatchScoreSettings


@lambda_handler_of(wiring.batch_score_function)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, function: wiring.BatchScoreFunction
) -> dict[str, Any]:
    step = event.get("step", "score")
    metrics.add_metric(name=f"Batch_{step}", unit="Count", value=1)
    if step == "pin":
        return pin_job(event, function.limits, function.deps).model_dump(mode="json")
    if step == "finish":
        return finish_job(event, function.deps).model_dump(mode="json")
    summary = score_batch(event, function.deps)
    metrics.add_metric(name="BatchRowsScored", unit="Count", value=summary.scored)
    metrics.add_metric(name="BatchRowsRejected", unit="Count", value=summary.rejected)
    return summary.model_dump(mode="json")
