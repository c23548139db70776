"""The scoring routes' rejected requests (/predict, MLflow's /invocations, V2's /infer), handed to capture
(`sluice.app.serving.rejections`) before their 4xx goes out unchanged."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from sluice.app.serving.rejections import capture_rejection
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.api.schemas import REQUEST_ID
from sluice.entrypoints.outcomes import count_capture
from sluice.errors import InvalidRequest
from sluice.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Request
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent


def _request_id(http: Request) -> str:
    """The client's X-Request-Id when it is one, else API Gateway's: a rejection is named like the
    prediction it would have been (an invalid header is itself a rejection, named by Gateway's id)."""
    event = cast("APIGatewayProxyEvent", http.resolved_event)
    sent = event.headers.get("x-request-id")
    if sent is not None and re.fullmatch(REQUEST_ID, sent):
        return sent
    return event.request_context.request_id or "unknown"


def capture_rejected(model: str, http: Request, rejection: InvalidRequest, request: Any) -> None:
    """Capture a rejected scoring request (counted in CaptureFailures when that fails), with its
    instances when it was parsed into some (a V2 request's tensors are not kept). Never raises: the
    client's answer is the rejection's, whatever happens here."""
    try:
        live = container_of(http)
        instances = getattr(request, "instances", None)
        outcome = capture_rejection(
            live.sink,
            live.models,
            live.settings.capture_fraction,
            model,
            rejection,
            request_id=_request_id(http),
            instances=instances if isinstance(instances, list) else None,
        )
        count_capture(outcome)
    except Exception:
        logger.exception("a rejected request could not be captured")
