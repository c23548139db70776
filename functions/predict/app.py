"""PredictFunction: the prediction API behind API Gateway (routes in sluice.api)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.api import create_app
from sluice.observability import logger, metrics, tracer
from sluice.settings import PredictSettings

Settings = PredictSettings
app = create_app(Settings)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
