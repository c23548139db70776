"""What the prediction API reads and answers, as pydantic models, and the statuses each route
documents in the OpenAPI document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"  # ids API Gateway gives (a UUID) and more


class PredictRequest(BaseModel):
    instances: list[Any] = Field(
        description="rows to score, one JSON object per row: {feature: value}; at most MAX_INSTANCES "
        "(1,000 by default) and strings of at most 256 characters"
    )


class PredictResponse(BaseModel):
    model: str
    version: int
    request_id: str
    predictions: list[Any]
    classes: list[Any] | None = Field(default=None, description="classifiers: the order of probabilities")
    probabilities: list[list[float]] | None = Field(
        default=None, description="classifiers: one list per instance"
    )


class FeedbackRequest(BaseModel):
    request_id: str = Field(
        pattern=REQUEST_ID, description="the request_id of the prediction (letters, digits, . _ : -)"
    )
    instance: int = Field(
        default=0, ge=0, le=1_000_000, description="which instance of the request the label is for"
    )
    label: Annotated[str, Field(max_length=256)] | int | float | bool = Field(
        description="binary and multiclass models: one of the model's classes, as predicted (e.g. 0 or 1) "
        'or as text ("1"); regression: a finite number'
    )


class FeedbackResponse(BaseModel):
    """The label was accepted. It reaches the bucket within the feedback stream's buffer interval
    and is joined with its prediction when the drift check reads the window; a label whose request
    was not captured (capture is sampled) is counted there as unmatched."""

    model: str
    request_id: str
    instance: int


class ErrorDetail(BaseModel):
    instance: int | None
    field: str | None
    message: str


class ErrorResponse(BaseModel):
    error: str
    details: list[ErrorDetail] = Field(default_factory=list, description="at most 100")
    truncated: int | None = Field(default=None, description="problems found but not listed in details")


class ModelSummary(BaseModel):
    model: str
    production_version: int | None
    latest_version: int | None
    versions: int


class ModelList(BaseModel):
    models: list[ModelSummary]


class ProductionVersion(BaseModel):
    """What API callers see of the production version (operators see the full record with `sluice
    models show`)."""

    version: int
    status: str
    trigger: str
    trained_at: str
    promoted_at: str | None = None
    metrics: dict[str, float | None]
    dataset_sha256: str | None
    spec_sha256: str | None
    model_sha256: str | None


class InputFeature(BaseModel):
    name: str
    type: str
    nullable: bool
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


class ModelView(BaseModel):
    model: str
    version: int
    production: ProductionVersion
    input_schema: list[InputFeature]
    classes: list[Any] | None
    outputs: list[str]


def _json_answer(model: type[BaseModel], description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


_ANSWERS: dict[int, OpenAPIResponse] = {
    400: _json_answer(ErrorResponse, "the request is not valid (details name each instance and field)"),
    403: {
        "description": "not authenticated (answered by API Gateway: SigV4 or an API key is required)",
        "content": {  # API Gateway's own answer, before the function runs
            "application/json": {"schema": {"type": "object", "properties": {"message": {"type": "string"}}}}
        },
    },
    404: _json_answer(ErrorResponse, "no such model, or no version of it in production"),
    413: _json_answer(ErrorResponse, "too many instances in one request"),
    415: _json_answer(ErrorResponse, "the body is not JSON (Content-Type)"),
    503: _json_answer(ErrorResponse, "the production model cannot be served (failed its integrity check)"),
}


def answers(model: type[BaseModel], *statuses: int) -> dict[int, OpenAPIResponse]:
    """A route's documented answers: 200 with `model`, and each of `statuses` as described above."""
    return {200: _json_answer(model, "OK")} | {status: _ANSWERS[status] for status in statuses}
