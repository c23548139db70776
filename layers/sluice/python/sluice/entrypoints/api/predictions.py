"""POST /models/{model}/predict and POST /models/{model}/feedback: scoring instances with the
production version, and the true labels that come back later."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import Request  # at run time: Powertools injects it by annotation
from aws_lambda_powertools.event_handler.api_gateway import Router

from sluice.app import serving
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.api.requests import feedback_request, predict_request, with_body
from sluice.entrypoints.api.schemas import (
    FeedbackRequest,
    FeedbackResponse,
    PredictRequest,
    PredictResponse,
    answers,
)
from sluice.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

router = Router()


@router.post(
    "/models/<model>/predict",
    summary="Predict",
    responses=answers(PredictResponse, 400, 403, 404, 413, 415, 503),
)
@with_body(predict_request)
def predict(model: str, request: PredictRequest, http: Request) -> dict[str, Any]:
    """Score instances with the model's production version."""
    live = container_of(http)
    served = live.models.get(model)
    body = serving.predict(
        served,
        request.instances,
        max_instances=live.settings.max_instances,
        # an APIGatewayRestResolver resolves API Gateway REST proxy events
        request_id=cast("APIGatewayProxyEvent", http.resolved_event).request_context.request_id,
    )
    serving.capture(live.traffic, live.settings.capture_fraction, request.instances, body)
    metrics.add_metric(name="Predictions", unit="Count", value=len(request.instances))
    return body


@router.post(
    "/models/<model>/feedback",
    summary="Feedback",
    responses=answers(FeedbackResponse, 400, 403, 404, 415, 503),
)
@with_body(feedback_request)
def feedback(model: str, request: FeedbackRequest, http: Request) -> dict[str, Any]:
    """Store the true label of an earlier prediction, for live accuracy in the drift check. The
    label is checked against the model's task and classes; a request found in captured traffic
    must have the instance (`matched: true`), one not found (capture is sampled) is stored as
    unmatched."""
    live = container_of(http)
    matched = serving.record_feedback(
        live.models,
        live.traffic,
        model,
        request_id=request.request_id,
        instance=request.instance,
        label=request.label,
        max_instances=live.settings.max_instances,
    )
    logger.info("feedback stored", extra={"model": model, "request_id": request.request_id})
    return {
        "model": model,
        "request_id": request.request_id,
        "instance": request.instance,
        "matched": matched,
    }
