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
    409: _json_answer(ErrorResponse, "the version cannot be explained (trained before background samples)"),
    413: _json_answer(ErrorResponse, "too many instances in one request"),
    415: _json_answer(ErrorResponse, "the body is not JSON (Content-Type)"),
    503: _json_answer(ErrorResponse, "the production model cannot be served (failed its integrity check)"),
}


def answers(
    model: type[BaseModel], *statuses: int, error: type[BaseModel] = ErrorResponse
) -> dict[int, OpenAPIResponse]:
    """A route's documented answers: 200 with `model`, and each of `statuses` as described above, with
    `error` as the error body (MLflow's routes answer in MLflow's dialect, see errors.py)."""
    documented = {200: _json_answer(model, "OK")} | {status: _ANSWERS[status] for status in statuses}
    if error is not ErrorResponse:
        for status in statuses:
            if status != 403:
                documented[status] = _json_answer(error, _ANSWERS[status]["description"])
    return documented


# --- Open Inference Protocol (KServe V2): v2.py ------------------------------------------------------
class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Health(BaseModel):
    live: bool | None = None
    ready: bool | None = None


class V2ModelReady(BaseModel):
    name: str
    ready: bool
    versions: list[str]


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str = Field(description="FP32 (numeric features, probabilities, values), BYTES or INT64")
    shape: list[int] = Field(description="-1: any number of instances")


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(description="served now: production, and a live rollout's candidate")
    platform: str
    inputs: list[V2TensorMetadata] = Field(description="one per feature, named as the feature")
    outputs: list[V2TensorMetadata] = Field(description="label and probabilities, or variable")


class V2OutputTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any] | None = Field(default=None, description="absent when sent as binary data")
    parameters: dict[str, Any] | None = Field(
        default=None, description="binary_data_size (binary outputs); classes (probabilities), as JSON text"
    )


class V2InferResponse(BaseModel):
    """JSON, or with binary outputs the JSON header (Inference-Header-Content-Length bytes) followed by
    each binary output's data."""

    model_name: str
    model_version: str
    id: str = Field(description="the request's id, or the request id the API assigned")
    outputs: list[V2OutputTensor]


# --- MLflow scoring format: mlflow.py ------------------------------------------------------------------
class MlflowScoringRequest(BaseModel):
    """Exactly one of the four input formats of `mlflow models serve`."""

    dataframe_split: dict[str, Any] | None = Field(default=None, description="{columns, data[, index]}")
    dataframe_records: list[dict[str, Any]] | None = None
    instances: list[dict[str, Any]] | None = None
    inputs: dict[str, list[Any]] | list[dict[str, Any]] | None = None
    params: dict[str, Any] | None = Field(default=None, description="not supported (a 400 names it)")


class MlflowPredictions(BaseModel):
    """The model version and request id are in the X-Sluice-Model-Version and X-Request-Id headers."""

    predictions: list[Any] = Field(description="classifiers: labels; regressors: values")


class MlflowErrorResponse(BaseModel):
    error_code: str = Field(description="BAD_REQUEST, RESOURCE_DOES_NOT_EXIST or TEMPORARILY_UNAVAILABLE")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list, description="at most 100")
    truncated: int | None = None
