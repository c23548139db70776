"""ConsoleFunction: the console's page and JSON API behind API Gateway (routes in
sluice.entrypoints.console). Its deps (registry, artifacts, the state machine, the raw bucket, the user
pool's sign-in) are built on the first request of the container and kept."""

import functools
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.entrypoints.console import create_console_app
from sluice.entrypoints.handler import lambda_handler_of
from sluice.entrypoints.wiring import console_function
from sluice.settings import ConsoleSettings

Settings = ConsoleSettings  # what the template must declare for this function (tests/unit/test_template.py)

STATIC = Path(__file__).parent / "static"


def the_app() -> APIGatewayRestResolver:
    """The console app, its deps built on first use and kept for the container."""
    return create_console_app(_function, STATIC)


_function = functools.cache(console_function)  # the container's deps, built on first use


@lambda_handler_of(the_app, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, api: APIGatewayRestResolver
) -> dict[str, Any]:
    return api.resolve(event, context)
