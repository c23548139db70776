"""DriftFunction: the scheduled drift check over every model in production (EventBridge schedule)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.app.monitoring.check import check_production_models
from sluice.entrypoints import wiring
from sluice.entrypoints.handler import lambda_handler_of
from sluice.entrypoints.outcomes import report_drift_check
from sluice.settings import DriftCheckSettings

Settings = DriftCheckSettings


@lambda_handler_of(wiring.drift_function)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, function: wiring.DriftFunction
) -> dict[str, Any]:
    checks = check_production_models(function.deps, function.limits, report=report_drift_check)
    return {"checked": [c.model_dump(mode="json") for c in checks]}
