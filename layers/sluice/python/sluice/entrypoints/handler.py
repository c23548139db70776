"""The one shape of every Lambda handler: the shared Powertools decorator stack (structured logs with
the invocation's context, X-Ray, EMF metrics flushed at the end), and the function's dependency
object built on the first invocation and kept for the container, as Powertools recommends.

    @lambda_handler_of(wiring.drift_function)
    def lambda_handler(event: dict[str, Any], context: LambdaContext, function: DriftFunction) -> ...:
        ...  # parse the event, call one use case, return a model's dump
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.observability import logger, metrics, tracer

Event = Any  # the body decides what it accepts (a dict, an API Gateway proxy event)


def lambda_handler_of[F, R](
    build: Callable[[], F], *, correlation_id_path: str | None = None
) -> Callable[[Callable[[Event, LambdaContext, F], R]], Callable[[Event, LambdaContext], R]]:
    """Make `body(event, context, function)` a Lambda handler `(event, context)`: `function` is what
    `build()` returned on this container's first invocation (the handler module's own cache, so that
    each module import starts afresh: a new execution environment, or another local stack), under
    Powertools' logger (`correlation_id_path` names the event's correlation id), tracer and metrics."""
    built = functools.cache(build)

    def decorate(body: Callable[[Event, LambdaContext, F], R]) -> Callable[[Event, LambdaContext], R]:
        @functools.wraps(body)
        def handler(event: Event, context: LambdaContext) -> R:
            return body(event, context, built())

        with_metrics = metrics.log_metrics(handler)
        traced = tracer.capture_lambda_handler(with_metrics)
        logged: Callable[[Event, LambdaContext], R] = logger.inject_lambda_context(
            traced, correlation_id_path=correlation_id_path, clear_state=True
        )
        return logged

    return decorate
