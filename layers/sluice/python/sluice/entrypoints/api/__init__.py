"""The prediction API (PredictFunction behind API Gateway), with Powertools' event handler.

Routes: POST /models/{model}/predict, POST /models/{model}/feedback (predictions.py), the Open Inference
Protocol (KServe V2) under /v2 (v2.py), MLflow's POST /models/{model}/invocations (mlflow.py),
GET /openapi.json (here); and, included on first use (LAZY_ROUTERS, routing.py), GET /models,
GET /models/{model} (models.py), POST /models/{model}/explain (explanations.py), GET /dashboard and the pages it links (dashboard.py). Every exception
maps to a status code in errors.py and only there; nothing a client sends can produce a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from botocore.exceptions import BotoCoreError, ClientError

from sluice.entrypoints.api import mlflow, predictions, v2
from sluice.entrypoints.api.container import CONTEXT_KEY, Container
from sluice.entrypoints.api.routing import LazyRoutesResolver
from sluice.entrypoints.web import errors
from sluice.entrypoints.wiring import predict_deps
from sluice.errors import InvalidRequest, ModelNotFound, ModelUnavailable, StackError
from sluice.settings import PredictSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

    from sluice.app.ports import PredictDeps

# Routers a prediction never uses, by module, with the path their routes are under: each is imported on
# the first request that needs it, not at a cold start (docs/benchmarks.md, cold start). Add one here.
LAZY_ROUTERS = {
    "sluice.entrypoints.api.models": "/models",  # GET /models, GET /models/{model}
    "sluice.entrypoints.api.dashboard": "/dashboard",  # GET /dashboard and the pages it links
    "sluice.entrypoints.api.explanations": "/models",  # POST /models/{model}/explain
}


class PredictionApi(LazyRoutesResolver):
    """The API app (Powertools' REST resolver, routers included on first use) and its Container."""

    def __init__(self, container: Container) -> None:
        super().__init__(enable_validation=False)
        self.container = container


def create_app(
    settings: Callable[[], PredictSettings] = PredictSettings.from_env,
    deps: Callable[[PredictSettings], PredictDeps] = predict_deps,
) -> PredictionApi:
    """The API with its routes and its one mapping from exceptions to status codes. Each Lambda
    container (each handler module) creates one; its Container (settings, ports, loaded models) is
    built on the first request that needs it, or by `app.container.warm()`, and reached by the routes
    through the app's context.
    `deps` builds the ports from the settings: wiring's AWS adapters, or a test's in-memory fakes.

    Powertools' per-request OpenAPI validation is off: bodies are parsed once (requests.py) and
    instances are checked against the model's own schema; the OpenAPI document is still generated
    from the routes. The routers of LAZY_ROUTERS are included on first use."""
    container = Container(settings, deps)
    app = PredictionApi(container)

    def with_container(resolver: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        # Powertools clears the context after each request
        resolver.append_context(**{CONTEXT_KEY: container})
        return next_middleware(resolver)

    app.use(middlewares=[with_container])
    app.include_router(predictions.router)
    app.include_router(v2.router)
    app.include_router(mlflow.router)
    for module, prefix in LAZY_ROUTERS.items():
        app.include_router_lazily(module, prefix)

    # each answer in the dialect of the route's protocol (errors.py chooses it by the path)
    app.exception_handler(InvalidRequest)(lambda e: errors.invalid_request(e, app.current_event.path))
    app.exception_handler(ModelNotFound)(lambda e: errors.model_not_found(e, app.current_event.path))
    app.exception_handler(ModelUnavailable)(lambda e: errors.model_unavailable(e, app.current_event.path))
    app.exception_handler(StackError)(lambda e: errors.stack_unavailable(e, app.current_event.path))
    # botocore's errors that no adapter turned into StackError: a transient AWS failure is a 503 too
    app.exception_handler(ClientError)(lambda e: errors.aws_unavailable(e, app.current_event.path))
    app.exception_handler(BotoCoreError)(lambda e: errors.aws_unavailable(e, app.current_event.path))

    @app.not_found
    def no_route(exc: NotFoundError) -> Response[Any]:
        return errors.no_route(app.current_event)

    @app.get("/openapi.json", summary="OpenAPI document")
    def openapi() -> Response[str]:
        """This API's OpenAPI document."""
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document(app)
        )

    return app


def openapi_document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document Powertools generates from the routes (every router included first), their
    pydantic models and the statuses each route answers, without the schemas of Powertools' own
    validation errors (off here: this API answers 400 with ErrorResponse, never 422). Paths are sorted,
    so the document does not depend on which routers a container has included so far."""
    if isinstance(app, LazyRoutesResolver):
        app.include_lazy_routers()
    document = json.loads(app.get_openapi_json_schema(title="Sluice prediction API", version="1.0.0"))
    document["paths"] = dict(sorted(document["paths"].items()))
    schemas = document.get("components", {}).get("schemas", {})
    for _ in range(len(schemas)):  # keep the schemas reachable from the paths
        text = json.dumps({"paths": document["paths"], "kept": schemas})
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            break
        for name in unused:
            del schemas[name]
    return json.dumps(document, indent=2)
