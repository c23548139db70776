"""DriftFunction: the scheduled drift check over every model in production (EventBridge schedule)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.app.monitoring.check import check_production_models
from sluice.entrypoints.outcomes import report_drift_check
from sluice.entrypoints.wiring import drift_limits, drift_services
from sluice.observability import logger, metrics, tracer
from sluice.settings import DriftCheckSettings

Settings = DriftCheckSettings


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = DriftCheckSettings()
    checks = check_production_models(
        drift_services(settings), drift_limits(settings), report=report_drift_check
    )
    return {"checked": [c.model_dump(mode="json") for c in checks]}
