"""Reading a request's body: JSON only, parsed once, checked against the API's request models. What
a client sends becomes a 4xx here (InvalidRequest), never a 5xx."""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from sluice.domain.scoring.onnx_model import echo
from sluice.entrypoints.api.errors import cap
from sluice.entrypoints.api.schemas import REQUEST_ID, FeedbackRequest, PredictRequest
from sluice.errors import InvalidRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Request
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent


def _invalid(error: str, field: str | None, message: str) -> InvalidRequest:
    return InvalidRequest(error, [{"instance": None, "field": field, "message": message}])


def require_json(event: BaseProxyEvent) -> None:
    """Raise a 415 unless the request says its body is JSON (or says nothing)."""
    content_type = event.headers.get("content-type")  # case-insensitive in Powertools
    if content_type and content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidRequest(
            f"the body must be JSON, not {echo(content_type)}", status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE
        )


def json_body(event: BaseProxyEvent) -> Any:
    """The request's JSON body, parsed once (Powertools' validation is off: Sluice checks instances
    against the model's own schema). Anything json cannot turn into Python is a 400, never a 5xx."""
    require_json(event)
    try:
        text = event.decoded_body
    except UnicodeDecodeError:
        raise _invalid("the body is not valid JSON", None, "not UTF-8 text") from None
    return parse_json(text)


def parse_json(text: str | bytes | None) -> Any:
    """`text` as JSON; anything json cannot turn into Python is a 400 naming why, never a 5xx."""
    try:
        if not text:
            raise _invalid("the body is not valid JSON", None, "the body is empty")
        return json.loads(text)
    except RecursionError:
        raise _invalid("the body is not valid JSON", None, "nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _invalid("the body is not valid JSON", None, f"{exc.msg} at character {exc.pos}") from None
    except UnicodeDecodeError:
        raise _invalid("the body is not valid JSON", None, "not UTF-8 text") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (Python's int-string limit)
        raise _invalid("the body is not valid JSON", None, cap(str(exc), 120)) from None


def request_id(http: Request) -> str:
    """The prediction's request id: the client's `X-Request-Id` header when it sends one (so a retried
    request keeps its id, and its canary or production version), else API Gateway's. A 400 names the
    header when it is not an id (letters, digits, . _ : -, at most 128)."""
    event = cast("APIGatewayProxyEvent", http.resolved_event)  # the resolver serves REST proxy events
    sent = event.headers.get("x-request-id")  # case-insensitive in Powertools
    if sent is None:
        return event.request_context.request_id
    if not re.fullmatch(REQUEST_ID, sent):
        raise _invalid(
            "the X-Request-Id header is not a request id",
            "X-Request-Id",
            f"got {echo(sent)}: use 1 to 128 letters, digits, . _ : - starting with a letter or digit",
        )
    return sent


def predict_request(body: Any) -> PredictRequest:
    """The body as a PredictRequest, checked by hand (fast); the instances are checked by the model."""
    if not isinstance(body, dict):
        raise _invalid(
            "the request does not match the API", None, 'must be a JSON object: {"instances": […]}'
        )
    instances = body.get("instances")
    if not isinstance(instances, list):
        message = "is required" if "instances" not in body else "must be a list of JSON objects"
        raise _invalid("the request does not match the API", "instances", message)
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
