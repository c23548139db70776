"""DriftFunction: the scheduled drift check over every model in production (EventBridge schedule)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.monitoring import MonitorServices, check_production_models
from sluice.observability import logger, metrics, tracer
from sluice.settings import MonitorSettings

Settings = MonitorSettings


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = MonitorSettings()
    checks = check_production_models(MonitorServices.from_settings(settings), settings)
    return {"checked": [c.model_dump(mode="json") for c in checks]}
