"""The prediction API's requests: the request id, the bodies checked against the API's request models
(the JSON read by sluice.entrypoints.web.bodies). What a client sends becomes a 4xx here, never a 5xx."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from sluice.domain.scoring.echo import echo
from sluice.entrypoints.api.schemas import REQUEST_ID, FeedbackRequest, PredictRequest
from sluice.entrypoints.web.bodies import invalid, json_body
from sluice.errors import InvalidRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Request
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent


def request_id(http: Request) -> str:
    """The prediction's request id: the client's `X-Request-Id` header when it sends one (so a retried
    request keeps its id, and its canary or production version), else API Gateway's. A 400 names the
    header when it is not an id (letters, digits, . _ : -, at most 128)."""
    event = cast("APIGatewayProxyEvent", http.resolved_event)  # the resolver serves REST proxy events
    sent = event.headers.get("x-request-id")  # case-insensitive in Powertools
    if sent is None:
        return event.request_context.request_id
    if not re.fullmatch(REQUEST_ID, sent):
        raise invalid(
            "the X-Request-Id header is not a request id",
            "X-Request-Id",
            f"got {echo(sent)}: use 1 to 128 letters, digits, . _ : - starting with a letter or digit",
        )
    return sent


def predict_request(body: Any) -> PredictRequest:
    """The body as a PredictRequest, checked by hand (fast); the instances are checked by the model."""
    if not isinstance(body, dict):
        raise invalid("the request does not match the API", None, 'must be a JSON object: {"instances": […]}')
    instances = body.get("instances")
    if not isinstance(instances, list):
        message = "is required" if "instances" not in body else "must be a list of JSON objects"
        raise invalid("the request does not match the API", "instances", message)
    return PredictRequest.model_construct(instances=instances)


def feedback_request(body: Any) -> FeedbackRequest:
    """The body as a FeedbackRequest; a 400 names the first problem of each top-level field."""
    try:
        return FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        # one detail per top-level field (a union such as `label` reports each member it tried)
        firsts: dict[str | None, str] = {}
        for error in exc.errors(include_url=False, include_input=False):
            firsts.setdefault(str(error["loc"][0]) if error["loc"] else None, error["msg"])
        details: list[dict[str, object]] = [
            {"instance": None, "field": field, "message": message} for field, message in firsts.items()
        ]
        raise InvalidRequest("the request does not match the API", details) from None


Rejected = Callable[[str, "Request", InvalidRequest, BaseModel | None], None]


def with_body(
    parse: Callable[[Any], BaseModel], rejected: Rejected | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Call a route `(model, request, http)` with its JSON body parsed by `parse` into `request`. The
    wrapper shows the route's signature (names resolved in the route's module), so the OpenAPI document
    still shows the request model and Powertools still injects the route's `http: Request`. A 4xx the
    body or the route raises is shown to `rejected` (with the request, once parsed) before it goes out."""

    def decorate(route: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(route)
        def handler(model: str, http: Request) -> Any:
            request = None
            try:
                request = parse(json_body(http.resolved_event))
                return route(model, request, http)
            except InvalidRequest as exc:
                if rejected is not None:
                    rejected(model, http, exc, request)
                raise

        handler.__signature__ = inspect.signature(route, eval_str=True)  # type: ignore[attr-defined]
        return handler

    return decorate
