"""POST /models/{model}/explain: a prediction with each instance's Shapley values (app/serving/explain.py).
Included on first use (LAZY_ROUTERS): a prediction never imports it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Request  # at run time: Powertools injects it by annotation
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, Field

from sluice.app.serving import explain as explaining
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.api.requests import predict_request, request_id, with_body
from sluice.entrypoints.api.schemas import PredictRequest, answers
from sluice.observability import metrics

router = Router()


class InstanceExplanation(BaseModel):
    prediction: Any = Field(description="the predicted class (classifiers) or value (regressors)")
    explained: str = Field(description="what the numbers explain, e.g. 'the probability of default'")
    output: float = Field(description="the explained number: the predicted class's probability, or the value")
    base_value: float = Field(description="the model's mean output on the version's background sample")
    contributions: dict[str, float] = Field(
        description="every input feature → its Shapley value; base_value + their sum = output (±1e-6)"
    )
    sentences: list[str] = Field(description="the three largest contributions in words")
    method: str = Field(description="exact (every coalition, up to 12 features) or permutation (above)")
    error_bound: float | None = Field(
        default=None, description="permutation: 1.96 standard errors of the least certain contribution"
    )


class ExplainResponse(BaseModel):
    model: str
    version: int
    request_id: str
    predictions: list[Any]
    classes: list[Any] | None = None
    probabilities: list[list[float]] | None = None
    explanations: list[InstanceExplanation] = Field(description="one per instance, in order")


@router.post(
    "/models/<model>/explain",
    summary="Explain",
    responses=answers(ExplainResponse, 400, 403, 404, 409, 413, 415, 503),
)
@with_body(predict_request)
def explain(model: str, request: PredictRequest, http: Request) -> dict[str, Any]:
    """Predict with the model's production version (same body, checks and limits as /predict) and
    explain each instance: Shapley values of the predicted class's probability (classifiers) or the
    value (regressors) against the background sample stored with the version. A version trained before
    backgrounds were stored answers 409. Explanations are not captured."""
    live = container_of(http)
    answer = explaining.explain(
        live.models.get(model),
        live.backgrounds,
        request.instances,
        max_instances=live.settings.max_instances,
        request_id=request_id(http),
    )
    metrics.add_metric(name="Explanations", unit="Count", value=len(request.instances))
    return answer
