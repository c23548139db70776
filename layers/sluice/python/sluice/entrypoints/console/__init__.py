"""The console (ConsoleFunction behind API Gateway): the page and its assets (page.py), the sign-in
proxy and the JSON API under /console/api (routes.py), on Powertools' REST resolver. Every route of
/console/api but sign-in sits behind API Gateway's Cognito authorizer, which verifies the ID token and
passes its claims; the groups are enforced by the use cases (sluice.app.console.access). Exceptions map
to status codes here, through entrypoints/web/errors.py; nothing a client sends produces a 5xx."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import BotoCoreError, ClientError

from sluice.entrypoints.console import page, routes
from sluice.entrypoints.web import errors
from sluice.errors import (
    Forbidden,
    InvalidRequest,
    ModelNotFound,
    SignInChallenge,
    SignInFailed,
    SluiceError,
    StackError,
    Unauthenticated,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

    from sluice.entrypoints.wiring import ConsoleFunction

FUNCTION_KEY = "sluice_console"  # where the app puts the function's deps in its context, per request
STATIC_KEY = "sluice_static"


class ConsoleApi(APIGatewayRestResolver):
    """The console's app; `function()` builds its deps on first use (or in Lambda's init)."""

    def __init__(self, function: Callable[[], ConsoleFunction], static: Path) -> None:
        super().__init__(enable_validation=False)
        self.function = function
        self.static = static


def create_console_app(function: Callable[[], ConsoleFunction], static: Path) -> ConsoleApi:
    """The console with its routes and its mapping from exceptions to status codes; `function` gives
    the deps (wiring.console_function, cached by the caller), `static` the folder of index.html,
    console.js and console.css."""
    app = ConsoleApi(function, static)

    def with_function(resolver: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        resolver.append_context(**{FUNCTION_KEY: function(), STATIC_KEY: static})
        return next_middleware(resolver)

    app.use(middlewares=[with_function])
    app.include_router(page.router)
    app.include_router(routes.router)
    app.exception_handler(InvalidRequest)(lambda e: errors.invalid_request(e, instances=False))
    app.exception_handler(ModelNotFound)(lambda e: errors.model_not_found(e))
    app.exception_handler(Forbidden)(errors.forbidden)
    app.exception_handler(SignInFailed)(errors.unauthenticated)
    app.exception_handler(Unauthenticated)(errors.unauthenticated)
    app.exception_handler(SignInChallenge)(errors.sign_in_challenge)
    app.exception_handler(StackError)(lambda e: errors.stack_unavailable(e))
    app.exception_handler(ClientError)(lambda e: errors.aws_unavailable(e))
    app.exception_handler(BotoCoreError)(lambda e: errors.aws_unavailable(e))
    app.exception_handler(SluiceError)(errors.refused)  # any other: the model's state refuses it

    @app.not_found
    def no_route(exc: NotFoundError) -> Response[Any]:
        return errors.no_route(app.current_event)

    return app
