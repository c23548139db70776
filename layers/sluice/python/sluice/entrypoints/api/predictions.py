"""POST /models/{model}/predict and POST /models/{model}/feedback: scoring instances with the
production version, and the true labels that come back later."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Request  # at run time: Powertools injects it by annotation
from aws_lambda_powertools.event_handler.api_gateway import Router

from sluice.app.serving import live as live_serving
from sluice.app.serving import production as serving
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.api.rejections import capture_rejected
from sluice.entrypoints.api.requests import feedback_request, predict_request, request_id, with_body
from sluice.entrypoints.api.schemas import (
    FeedbackRequest,
    FeedbackResponse,
    PredictRequest,
    PredictResponse,
    answers,
)
from sluice.entrypoints.outcomes import count_capture
from sluice.observability import logger, metrics

router = Router()


@router.post(
    "/models/<model>/predict",
    summary="Predict",
    responses=answers(PredictResponse, 400, 403, 404, 413, 415, 503),
)
@with_body(predict_request, rejected=capture_rejected)
def predict(model: str, request: PredictRequest, http: Request) -> dict[str, Any]:
    """Score instances with the model's production version, or during a canary rollout with the version
    a stable hash of the request id gives them (the response's `version` names it). A client may name
    the request with an `X-Request-Id` header; a retry with the same id reaches the same version."""
    live = container_of(http)
    answer = live_serving.serve(
        live.models.deployment(model),
        request.instances,
        request_id=request_id(http),
        max_instances=live.settings.max_instances,
        tally=live.tally,
    )
    count_capture(
        serving.capture(
            live.sink, live.settings.capture_fraction, request.instances, answer.body, answer.shadow
        )
    )
    metrics.add_metric(name="Predictions", unit="Count", value=len(request.instances))
    return answer.body


@router.post(
    "/models/<model>/feedback",
    summary="Feedback",
    responses=answers(FeedbackResponse, 400, 403, 404, 415, 503),
)
@with_body(feedback_request)
def feedback(model: str, request: FeedbackRequest, http: Request) -> dict[str, Any]:
    """Store the true label of an earlier prediction, for live accuracy in the drift check. The
    label is checked against the model's task and classes and the instance against the largest
    request; it is sent to the feedback stream and joined with its captured prediction when the drift
    check reads the window (capture is sampled: a label whose request was not captured is counted
    there as unmatched)."""
    live = container_of(http)
    serving.record_feedback(
        live.models,
        live.sink,
        model,
        request_id=request.request_id,
        instance=request.instance,
        label=request.label,
        max_instances=live.settings.max_instances,
    )
    logger.info("feedback sent", extra={"model": model, "request_id": request.request_id})
    return {"model": model, "request_id": request.request_id, "instance": request.instance}
