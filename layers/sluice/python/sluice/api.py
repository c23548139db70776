"""The prediction API (PredictFunction behind API Gateway), with Powertools' event handler.

Routes: POST /models/{model}/predict, POST /models/{model}/feedback, GET /models, GET /models/{model},
GET /openapi.json. Every exception maps to a status code here and only here; nothing a client sends
can produce a 5xx.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from pydantic import BaseModel, Field, ValidationError

from sluice import predictions
from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.registry import Registry
from sluice.adapters.traffic import TrafficStore
from sluice.catalog import list_models
from sluice.errors import InvalidRequest, ModelNotFound, ModelUnavailable
from sluice.observability import logger, metrics
from sluice.records import ModelVersion
from sluice.serving import MAX_ECHO, MAX_PROBLEMS, echo
from sluice.settings import PredictSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

MODEL_NAME = r"[a-z0-9-]+"


REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"  # ids API Gateway gives (a UUID) and more
MAX_ERROR_CHARS = 300  # the longest `error` or detail `message` an answer carries


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
    model: str
    request_id: str
    instance: int
    matched: bool = Field(
        description="the request was found in captured traffic (capture is sampled: unmatched labels "
        "are stored and counted but not joined with a prediction)"
    )


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


def _answers(model: type[BaseModel], *statuses: int) -> dict[int, OpenAPIResponse]:
    return {200: _json_answer(model, "OK")} | {status: _ANSWERS[status] for status in statuses}


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


def _cap(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _error(
    status: HTTPStatus | int, error: str, details: list[dict[str, Any]] | None = None, truncated: int = 0
) -> Response[Any]:
    """An error answer, bounded whatever the request: at most MAX_PROBLEMS details (the rest counted
    in `truncated`), each field and message cut to a few hundred characters (well under 64 KB)."""
    listed = (details or [])[:MAX_PROBLEMS]
    body: dict[str, Any] = {
        "error": _cap(error),
        "details": [
            {
                "instance": d.get("instance"),
                "field": None if d.get("field") is None else _cap(str(d["field"]), MAX_ECHO),
                "message": _cap(str(d.get("message", "invalid"))),
            }
            for d in listed
        ],
    }
    truncated += len(details or []) - len(listed)
    if truncated:
        body["truncated"] = truncated
    return Response(status_code=int(status), content_type=content_types.APPLICATION_JSON, body=body)


def _invalid(error: str, field: str | None, message: str) -> InvalidRequest:
    return InvalidRequest(error, [{"instance": None, "field": field, "message": message}])


def _require_json(app: APIGatewayRestResolver) -> None:
    content_type = app.current_event.headers.get("content-type")  # case-insensitive in Powertools
    if content_type and content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidRequest(
            f"the body must be JSON, not {echo(content_type)}", status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE
        )


def _json_body(app: APIGatewayRestResolver) -> Any:
    """The request's JSON body, parsed once (Powertools' validation is off: Sluice checks instances
    against the model's own schema). Anything json cannot turn into Python is a 400, never a 5xx."""
    _require_json(app)
    try:
        text = app.current_event.decoded_body
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
        raise _invalid("the body is not valid JSON", None, _cap(str(exc), 120)) from None


def _predict_request(body: Any) -> PredictRequest:
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


def _feedback_request(body: Any) -> FeedbackRequest:
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


def _with_body(
    app: APIGatewayRestResolver, parse: Callable[[Any], BaseModel]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Call a route `(model, request)` with its body parsed by `parse`. The wrapper keeps the route's
    signature (functools.wraps), so the OpenAPI document still shows the request model."""

    def decorate(route: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(route)
        def handler(model: str) -> Any:
            return route(model, parse(_json_body(app)))

        return handler

    return decorate


def _public_version(record: ModelVersion, promoted_at: str | None) -> ProductionVersion:
    model = record.artifacts.get(predictions.MODEL_ARTIFACT)
    return ProductionVersion(
        version=record.version,
        status=record.status.value,
        trigger=record.trigger.value,
        trained_at=record.created_at,
        promoted_at=promoted_at,
        metrics=record.metrics,
        dataset_sha256=record.dataset_sha256,
        spec_sha256=record.spec_sha256,
        model_sha256=model.sha256 if model else None,
    )


def create_app(settings: Callable[[], PredictSettings] = PredictSettings) -> APIGatewayRestResolver:
    """The API with its routes and its one mapping from exceptions to status codes. Each Lambda
    container (each handler module) creates one; services are built on the first request.

    Powertools' per-request OpenAPI validation is off: bodies are parsed once here and instances are
    checked against the model's own schema; the OpenAPI document is still generated from the routes."""
    app = APIGatewayRestResolver(enable_validation=False)
    live: list[Services] = []

    def services() -> Services:
        if not live:
            live.append(Services(settings()))
        return live[0]

    @app.exception_handler(InvalidRequest)
    def _invalid_request(exc: InvalidRequest) -> Response[Any]:
        return _error(exc.status, str(exc), exc.details, exc.truncated)

    @app.exception_handler(ModelNotFound)
    def _not_found(exc: ModelNotFound) -> Response[Any]:
        return _error(HTTPStatus.NOT_FOUND, str(exc))

    @app.exception_handler(ModelUnavailable)
    def _unavailable(exc: ModelUnavailable) -> Response[Any]:
        return _error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))

    @app.not_found
    def _no_route(exc: Exception) -> Response[Any]:
        event = app.current_event
        return _error(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}")

    @app.post(
        "/models/<model>/predict",
        summary="Predict",
        responses=_answers(PredictResponse, 400, 403, 404, 413, 415, 503),
    )
    @_with_body(app, _predict_request)
    def predict(model: str, request: PredictRequest) -> dict[str, Any]:
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
        return body

    @app.post(
        "/models/<model>/feedback",
        summary="Feedback",
        responses=_answers(FeedbackResponse, 400, 403, 404, 415, 503),
    )
    @_with_body(app, _feedback_request)
    def feedback(model: str, request: FeedbackRequest) -> dict[str, Any]:
        """Store the true label of an earlier prediction, for live accuracy in the drift check. The
        label is checked against the model's task and classes; a request found in captured traffic
        must have the instance (`matched: true`), one not found (capture is sampled) is stored as
        unmatched."""
        live = services()
        matched = predictions.record_feedback(
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

    @app.get("/models", summary="Models", responses=_answers(ModelList, 403))
    def models() -> dict[str, Any]:
        """Every model with its production version."""
        listed = list_models(services().registry)
        return {"models": [ModelSummary.model_validate(m, from_attributes=True).model_dump() for m in listed]}

    @app.get("/models/<model>", summary="Model", responses=_answers(ModelView, 403, 404, 503))
    def model_detail(model: str) -> dict[str, Any]:
        """The production version of a model: its metrics, lineage hashes, input schema and classes.
        No internals (S3 locations, execution ARNs): operators read those with `sluice models show`."""
        live = services()
        served = live.models.get(model)
        production = live.registry.get_version(model, served.version)
        alias = live.registry.get_alias(model)
        view = ModelView(
            model=model,
            version=served.version,
            production=_public_version(production, alias.updated_at if alias else None),
            input_schema=[InputFeature.model_validate(f.model_dump()) for f in served.onnx.features],
            classes=served.onnx.classes,
            outputs=served.onnx.output_names,
        )
        return view.model_dump(mode="json", exclude_none=True)

    @app.get("/openapi.json", summary="OpenAPI document")
    def openapi() -> Response[str]:
        """This API's OpenAPI document."""
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document(app)
        )

    return app


def openapi_document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document Powertools generates from the routes, their pydantic models and the
    statuses each route answers, without the schemas of Powertools' own validation errors (off here:
    this API answers 400 with ErrorResponse, never 422)."""
    document = json.loads(app.get_openapi_json_schema(title="Sluice prediction API", version="1.0.0"))
    schemas = document.get("components", {}).get("schemas", {})
    for _ in range(len(schemas)):  # keep the schemas reachable from the paths
        text = json.dumps({"paths": document["paths"], "kept": schemas})
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            break
        for name in unused:
            del schemas[name]
    return json.dumps(document, indent=2)
