"""The TrainAndPromote task functions (TrainFunction, ExportFunction, EvaluateFunction,
RegisterFunction) share this handler; the event's `action` names the step, and each function is
deployed with only the layers and permissions its steps need.

A TrainAndPromote task: the event is {"action", "run", "execution_arn"}; the result is the run state
(for `cross_validate`, the SearchCandidates Map's iteration, also "candidate"; the result is its score).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.app.training.steps import CROSS_VALIDATE, run_step, score_candidate
from sluice.domain.registry.records import TaskEvent
from sluice.entrypoints import wiring
from sluice.entrypoints.handler import lambda_handler_of
from sluice.entrypoints.outcomes import count_model_integrity_failure
from sluice.errors import ChampionUnverifiable
from sluice.observability import logger, metrics
from sluice.settings import StepSettings

Settings = StepSettings


@lambda_handler_of(wiring.task_function)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, function: wiring.TaskFunction
) -> dict[str, Any]:
    task = TaskEvent.model_validate(event)
    logger.append_keys(model=task.run.model, version=task.run.version, action=task.action)
    metrics.add_metric(name=f"Step_{task.action}", unit="Count", value=1)
    if task.action == CROSS_VALIDATE:  # a search's Map iteration answers the candidate's score
        return score_candidate(task, function.deps).model_dump(mode="json")
    try:
        return run_step(task, function.deps, function.limits).model_dump(mode="json", exclude_none=True)
    except ChampionUnverifiable:  # the production model failed its integrity check: counted, then raised
        count_model_integrity_failure()
        raise
