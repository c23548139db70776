"""DriftFunction: the drift check of the models in production, one task of the MonitoringStateMachine
(statemachines/monitoring.asl.json) an invocation, as the event's `action` names it; without one (the
scheduled event sent to the function itself, `sluice invoke`), every model in this invocation. The tasks
and their answers: sluice.entrypoints.monitoring."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.entrypoints import wiring
from sluice.entrypoints.handler import lambda_handler_of
from sluice.entrypoints.monitoring import run_monitoring_task
from sluice.settings import DriftCheckSettings

Settings = DriftCheckSettings


@lambda_handler_of(wiring.drift_function)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, function: wiring.DriftFunction
) -> dict[str, Any]:
    return run_monitoring_task(event, function)
