"""The prediction API (PredictFunction behind API Gateway), with Powertools' event handler.

Routes: POST /models/{model}/predict, POST /models/{model}/feedback, GET /models, GET /models/{model},
GET /openapi.json. Every exception maps to a status code here and only here; nothing a client sends
can produce a 5xx.
"""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel, Field

from sluice import predictions
from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.registry import Registry
from sluice.adapters.traffic import TrafficStore
from sluice.catalog import list_models, show_model
from sluice.errors import InvalidRequest, ModelNotFound, ModelUnavailable
from sluice.observability import logger, metrics
from sluice.settings import PredictSettings

MODEL_NAME = r"[a-z0-9-]+"

app = APIGatewayRestResolver(enable_validation=True)


class PredictRequest(BaseModel):
    instances: list[Any] = Field(description="rows to score, one JSON object per row: {feature: value}")


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
    request_id: str = Field(min_length=1, max_length=128)
    instance: int = Field(default=0, ge=0, description="which instance of the request the label is for")
    label: str | int | float | bool


class ErrorDetail(BaseModel):
    instance: int | None
    field: str | None
    message: str


class ErrorResponse(BaseModel):
    error: str
    details: list[ErrorDetail] = Field(default_factory=list)


class Services:
    """What the routes need, built once per container from the environment."""

    def __init__(self, settings: PredictSettings) -> None:
        self.settings = settings
        self.registry = Registry(settings.registry_table)
        self.artifacts = ArtifactStore(settings.artifact_bucket)
        self.traffic = TrafficStore(settings.artifact_bucket)
        self.models = predictions.ProductionModels(self.registry, self.artifacts, settings.alias_ttl_seconds)


@lru_cache(maxsize=1)
def services() -> Services:
    return Services(PredictSettings())


def _error(
    status: HTTPStatus | int, error: str, details: list[dict[str, Any]] | None = None
) -> Response[Any]:
    body = ErrorResponse.model_validate({"error": error, "details": details or []})
    return Response(
        status_code=int(status), content_type=content_types.APPLICATION_JSON, body=body.model_dump()
    )


@app.exception_handler(InvalidRequest)
def _invalid_request(exc: InvalidRequest) -> Response[Any]:
    return _error(exc.status, str(exc), exc.details)


@app.exception_handler(ModelNotFound)
def _not_found(exc: ModelNotFound) -> Response[Any]:
    return _error(HTTPStatus.NOT_FOUND, str(exc))


@app.exception_handler(ModelUnavailable)
def _unavailable(exc: ModelUnavailable) -> Response[Any]:
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))


@app.exception_handler(RequestUnsupportedContentType)
def _content_type(exc: RequestUnsupportedContentType) -> Response[Any]:
    return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the body must be JSON (Content-Type: application/json)")


@app.exception_handler(RequestValidationError)
def _request_validation(exc: RequestValidationError) -> Response[Any]:
    details = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        if error.get("type") == "json_invalid":
            return _error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON")
        instance = (
            int(location[1])
            if len(location) > 1 and location[0] == "instances" and location[1].isdigit()
            else None
        )
        details.append(
            {
                "instance": instance,
                "field": ".".join(location) or None,
                "message": str(error.get("msg", "invalid")),
            }
        )
    return _error(HTTPStatus.BAD_REQUEST, "the request does not match the API", details)


@app.not_found
def _no_route(exc: Exception) -> Response[Any]:
    return _error(HTTPStatus.NOT_FOUND, f"no route {app.current_event.http_method} {app.current_event.path}")


@app.post("/models/<model>/predict")
def predict(model: str, request: PredictRequest) -> PredictResponse:
    """Score instances with the model's production version."""
    live = services()
    served = live.models.get(model)
    body = predictions.predict(
        served,
        request.instances,
        max_instances=live.settings.max_instances,
        request_id=app.current_event.request_context.request_id,
    )
    predictions.capture(live.traffic, live.settings.capture_fraction, request.instances, body)
    metrics.add_metric(name="Predictions", unit="Count", value=len(request.instances))
    return PredictResponse.model_validate(body)


@app.post("/models/<model>/feedback")
def feedback(model: str, request: FeedbackRequest) -> dict[str, Any]:
    """Store the true label of an earlier prediction, for live accuracy in the drift check."""
    live = services()
    live.models.get(model)  # 404 for unknown models
    uri = live.traffic.put_feedback(model, request.request_id, request.instance, request.label)
    logger.info("feedback stored", extra={"model": model, "request_id": request.request_id})
    return {"model": model, "request_id": request.request_id, "instance": request.instance, "stored": uri}


@app.get("/models")
def models() -> dict[str, Any]:
    """Every model with its production version."""
    return {"models": [m.model_dump(mode="json") for m in list_models(services().registry)]}


@app.get("/models/<model>")
def model_detail(model: str) -> dict[str, Any]:
    """The production version of a model, its input schema, metrics and lineage."""
    live = services()
    served = live.models.get(model)
    detail = show_model(live.registry, model).model_dump(mode="json")
    return {
        "model": model,
        "production": detail.get("production"),
        "version": served.version,
        "input_schema": [f.model_dump(mode="json", exclude_none=True) for f in served.onnx.features],
        "classes": served.onnx.classes,
        "outputs": served.onnx.output_names,
    }


@app.get("/openapi.json")
def openapi() -> Response[str]:
    """This API's OpenAPI document."""
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title="Sluice prediction API", version="1.0.0"),
    )
