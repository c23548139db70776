"""The prediction API (PredictFunction behind API Gateway), with Powertools' event handler.

Routes: POST /models/{model}/predict, POST /models/{model}/feedback, GET /models, GET /models/{model},
GET /openapi.json. Every exception maps to a status code here and only here; nothing a client sends
can produce a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
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
from sluice.catalog import list_models
from sluice.errors import InvalidRequest, ModelNotFound, ModelUnavailable
from sluice.observability import logger, metrics
from sluice.settings import PredictSettings

MODEL_NAME = r"[a-z0-9-]+"


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


class FeedbackResponse(BaseModel):
    model: str
    request_id: str
    instance: int
    stored: str


class ErrorDetail(BaseModel):
    instance: int | None
    field: str | None
    message: str


class ErrorResponse(BaseModel):
    error: str
    details: list[ErrorDetail] = Field(default_factory=list)


class Services:
    """What the routes need, built on first use from the function's settings and kept for the life of
    the container (a warm Lambda reuses its clients and loaded models)."""

    def __init__(self, settings: PredictSettings) -> None:
        self.settings = settings

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.settings.registry_table)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.settings.artifact_bucket)

    @cached_property
    def traffic(self) -> TrafficStore:
        return TrafficStore(self.settings.artifact_bucket)

    @cached_property
    def models(self) -> predictions.ProductionModels:
        return predictions.ProductionModels(self.registry, self.artifacts, self.settings.alias_ttl_seconds)


def _error(
    status: HTTPStatus | int, error: str, details: list[dict[str, Any]] | None = None
) -> Response[Any]:
    body = ErrorResponse.model_validate({"error": error, "details": details or []})
    return Response(
        status_code=int(status), content_type=content_types.APPLICATION_JSON, body=body.model_dump()
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        in_instances = len(location) > 1 and location[0] == "instances" and location[1].isdigit()
        details.append(
            {
                "instance": int(location[1]) if in_instances else None,
                "field": ".".join(location) or None,
                "message": str(error.get("msg", "invalid")),
            }
        )
    return details


def _require_json(app: APIGatewayRestResolver) -> None:
    content_type = app.current_event.headers.get("content-type")  # case-insensitive in Powertools
    if content_type and content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidRequest(
            f"the body must be JSON, not {content_type}", status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE
        )


def create_app(settings: Callable[[], PredictSettings] = PredictSettings) -> APIGatewayRestResolver:
    """The API with its routes and its one mapping from exceptions to status codes. Each Lambda
    container (each handler module) creates one; services are built on the first request."""
    app = APIGatewayRestResolver(enable_validation=True)
    live: list[Services] = []

    def services() -> Services:
        if not live:
            live.append(Services(settings()))
        return live[0]

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
        return _error(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the body must be JSON (Content-Type: application/json)"
        )

    @app.exception_handler(UnicodeDecodeError)
    def _not_text(exc: UnicodeDecodeError) -> Response[Any]:
        # Powertools decodes the body before validating it; bytes that are not UTF-8 cannot be JSON.
        return _error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON (not UTF-8 text)")

    @app.exception_handler(RequestValidationError)
    def _request_validation(exc: RequestValidationError) -> Response[Any]:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return _error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON")
        return _error(HTTPStatus.BAD_REQUEST, "the request does not match the API", _validation_details(exc))

    @app.not_found
    def _no_route(exc: Exception) -> Response[Any]:
        event = app.current_event
        return _error(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}")

    @app.post("/models/<model>/predict")
    def predict(model: str, request: PredictRequest) -> PredictResponse:
        """Score instances with the model's production version."""
        _require_json(app)
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
        # Powertools validates the returned model against the route's response type; construct it once.
        return PredictResponse.model_construct(**body)

    @app.post("/models/<model>/feedback")
    def feedback(model: str, request: FeedbackRequest) -> FeedbackResponse:
        """Store the true label of an earlier prediction, for live accuracy in the drift check."""
        _require_json(app)
        live = services()
        if live.registry.model_meta(model) is None:  # no need to load the model to store a label
            raise ModelNotFound(f"no model named {model!r}")
        uri = live.traffic.put_feedback(model, request.request_id, request.instance, request.label)
        logger.info("feedback stored", extra={"model": model, "request_id": request.request_id})
        return FeedbackResponse(
            model=model, request_id=request.request_id, instance=request.instance, stored=uri
        )

    @app.get("/models")
    def models() -> dict[str, Any]:
        """Every model with its production version."""
        return {"models": [m.model_dump(mode="json") for m in list_models(services().registry)]}

    @app.get("/models/<model>")
    def model_detail(model: str) -> dict[str, Any]:
        """The production version of a model, its input schema, metrics and lineage."""
        live = services()
        served = live.models.get(model)
        production = live.registry.get_version(model, served.version)
        return {
            "model": model,
            "version": served.version,
            "production": production.model_dump(mode="json"),
            "input_schema": [f.model_dump(mode="json", exclude_none=True) for f in served.onnx.features],
            "classes": served.onnx.classes,
            "outputs": served.onnx.output_names,
        }

    @app.get("/openapi.json")
    def openapi() -> Response[str]:
        """This API's OpenAPI document."""
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document(app)
        )

    return app


def openapi_document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document Powertools generates from the routes and their pydantic models."""
    return app.get_openapi_json_schema(title="Sluice prediction API", version="1.0.0")
