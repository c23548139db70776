"""EvaluateFunction: challenger vs production on the same holdout, then the gates.

A TrainAndPromote task: the event is {"action", "run", "execution_arn"}; the result is the run state.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice import pipeline
from sluice.observability import logger, metrics, tracer
from sluice.records import TaskEvent
from sluice.settings import PipelineSettings

Settings = PipelineSettings


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = TaskEvent.model_validate(event)
    logger.append_keys(model=task.run.model, version=task.run.version, action=task.action)
    result = pipeline.run_step(task, PipelineSettings())
    metrics.add_metric(name=f"Step_{task.action}", unit="Count", value=1)
    return result.model_dump(mode="json", exclude_none=True)
