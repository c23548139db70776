"""The Open Inference Protocol (KServe V2) over the prediction API: GET /v2, /v2/health/{live,ready},
GET /v2/models/{model}[/versions/{version}][/ready], POST /v2/models/{model}[/versions/{version}]/infer.

An infer request is translated into /predict's instances (entrypoints/api/protocols/open_inference.py) and served exactly as
/predict serves them: the same validation, live rollout, capture and request id; only the wire format
differs. Inputs may use the binary tensor extension; outputs are answered in binary when asked (as
tritonclient does by default), else in JSON."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import (  # at run time: Powertools injects Request by annotation
    Request,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.api_gateway import Router

import sluice
from sluice.app.serving import live as live_serving
from sluice.app.serving import production as serving
from sluice.app.serving.production import Deployment
from sluice.domain.scoring.echo import echo
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.api.protocols import open_inference
from sluice.entrypoints.api.rejections import capture_rejected
from sluice.entrypoints.api.requests import request_id
from sluice.entrypoints.api.schemas import (
    REQUEST_ID,
    V2Health,
    V2InferResponse,
    V2ModelMetadata,
    V2ModelReady,
    V2ServerMetadata,
    answers,
)
from sluice.entrypoints.outcomes import count_capture
from sluice.entrypoints.web.bodies import parse_json
from sluice.errors import InvalidRequest, ModelNotFound
from sluice.observability import metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    from sluice.entrypoints.api.container import Container

router = Router()
VERSION_HEADER = "X-Sluice-Model-Version"


@router.get("/v2", summary="V2 server metadata", responses=answers(V2ServerMetadata, 403))
def server_metadata() -> dict[str, Any]:
    """The server's name, version and the protocol extensions it supports."""
    return {"name": "sluice", "version": sluice.__version__, "extensions": ["binary_tensor_data"]}


@router.get("/v2/health/live", summary="V2 server live", responses=answers(V2Health, 403))
def live() -> dict[str, Any]:
    """200 while the function answers."""
    return {"live": True}


@router.get("/v2/health/ready", summary="V2 server ready", responses=answers(V2Health, 403))
def ready() -> dict[str, Any]:
    """200 when the function can serve: models load on their first request (GET
    /v2/models/{model}/ready says whether one of them can)."""
    return {"ready": True}


def _deployment(live: Container, model: str, version: str | None) -> Deployment:
    """What answers `model` (at `version`, when the path names one: the production version or a live
    rollout's candidate; that version alone then answers). A 404 names a version that is not served."""
    deployment = live.models.deployment(model)
    if version is None:
        return deployment
    served = {deployment.production.version: deployment.production}
    if deployment.candidate is not None:
        served[deployment.candidate.version] = deployment.candidate
    chosen = served.get(int(version)) if re.fullmatch("[0-9]{1,9}", version) else None
    if chosen is None:
        listed = ", ".join(str(v) for v in sorted(served))
        raise ModelNotFound(f"model {model!r} version {echo(version)} is not served (served: {listed})")
    return Deployment(chosen)


def _versions(deployment: Deployment) -> list[int]:
    versions = [deployment.production.version]
    if deployment.candidate is not None and deployment.rollout is not None:
        versions.append(deployment.candidate.version)
    return versions


def _metadata(model: str, http: Request, version: str | None) -> dict[str, Any]:
    deployment = _deployment(container_of(http), model, version)
    return open_inference.model_metadata(model, _versions(deployment), deployment.production.onnx)


def _ready(model: str, http: Request, version: str | None) -> dict[str, Any]:
    deployment = _deployment(container_of(http), model, version)
    return {"name": model, "ready": True, "versions": [str(v) for v in _versions(deployment)]}


@router.get(
    "/v2/models/<model>", summary="V2 model metadata", responses=answers(V2ModelMetadata, 403, 404, 503)
)
def model_metadata(model: str, http: Request) -> dict[str, Any]:
    """The model's inputs (one per feature, FP32 or BYTES, shape [-1, 1]) and outputs (`label` and
    `probabilities`, or `variable`), and the versions served now."""
    return _metadata(model, http, None)


@router.get(
    "/v2/models/<model>/versions/<version>",
    summary="V2 model version metadata",
    responses=answers(V2ModelMetadata, 403, 404, 503),
)
def version_metadata(model: str, version: str, http: Request) -> dict[str, Any]:
    """As GET /v2/models/{model}, for a version served now (404 otherwise)."""
    return _metadata(model, http, version)


@router.get(
    "/v2/models/<model>/ready", summary="V2 model ready", responses=answers(V2ModelReady, 403, 404, 503)
)
def model_ready(model: str, http: Request) -> dict[str, Any]:
    """200 when the model has a production version that loads and passes its integrity check."""
    return _ready(model, http, None)


@router.get(
    "/v2/models/<model>/versions/<version>/ready",
    summary="V2 model version ready",
    responses=answers(V2ModelReady, 403, 404, 503),
)
def version_ready(model: str, version: str, http: Request) -> dict[str, Any]:
    """200 when the version is served now (404 otherwise)."""
    return _ready(model, http, version)


@router.post(
    "/v2/models/<model>/infer",
    summary="V2 infer",
    responses=answers(V2InferResponse, 400, 403, 404, 413, 503),
)
def infer(model: str, http: Request) -> Response[Any]:
    """Score input tensors (one per feature, named as the feature: FP32 or another numeric datatype for
    numeric features, BYTES for categorical ones; shape [n] or [n, 1]; JSON or binary data) with the
    version /predict would use, during a canary the one the request id gives. The response carries
    `model_name`, `model_version`, `id` (the request's, or the one the API assigns) and the output
    tensors named as the ONNX outputs."""
    return _infer(model, None, http)


@router.post(
    "/v2/models/<model>/versions/<version>/infer",
    summary="V2 infer with a version",
    responses=answers(V2InferResponse, 400, 403, 404, 413, 503),
)
def infer_version(model: str, version: str, http: Request) -> Response[Any]:
    """As POST /v2/models/{model}/infer, answered by the version named (the production version or a live
    rollout's candidate; 404 otherwise)."""
    return _infer(model, version, http)


def _body(event: APIGatewayProxyEvent) -> bytes:
    """The request's bytes: API Gateway base64-encodes bodies of the API's binary media types."""
    body = event.body or ""
    try:
        return base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    except ValueError:
        raise InvalidRequest("the body is not valid base64") from None


def _request_id(http: Request, sent: str | None) -> str:
    """The X-Request-Id header if sent, else the infer request's `id`, else API Gateway's."""
    if sent is None or "x-request-id" in http.resolved_event.headers:
        return request_id(http)
    if not re.fullmatch(REQUEST_ID, sent):
        raise InvalidRequest(
            "the request's id is not a request id",
            [
                {
                    "instance": None,
                    "field": "id",
                    "message": f"got {echo(sent)}: use 1 to 128 letters, digits, . _ : - starting with a "
                    "letter or digit",
                }
            ],
        )
    return sent


def _infer(model: str, version: str | None, http: Request) -> Response[Any]:
    live = container_of(http)
    event = cast("APIGatewayProxyEvent", http.resolved_event)
    deployment = _deployment(live, model, version)
    try:
        header, binary = open_inference.split_body(
            _body(event), event.headers.get("inference-header-content-length")
        )
        onnx = deployment.production.onnx
        request = open_inference.infer_request(
            parse_json(header), binary, onnx.features, onnx.output_names, live.settings.max_instances
        )
        answer = live_serving.serve(
            deployment,
            request.instances,
            request_id=_request_id(http, request.id),
            max_instances=live.settings.max_instances,
            tally=live.tally,
        )
    except InvalidRequest as rejection:  # counted like /predict's, the tensors left out
        capture_rejected(model, http, rejection, None)
        raise
    count_capture(
        serving.capture(
            live.sink, live.settings.capture_fraction, request.instances, answer.body, answer.shadow
        )
    )
    metrics.add_metric(name="Predictions", unit="Count", value=len(request.instances))
    document, raw = open_inference.infer_response(answer.body, request)
    headers = {"X-Request-Id": answer.body["request_id"], VERSION_HEADER: str(answer.body["version"])}
    if not raw:
        return Response(200, content_types.APPLICATION_JSON, document, headers)
    text = json.dumps(document, separators=(",", ":")).encode()
    headers[open_inference.HEADER_LENGTH] = str(len(text))
    return Response(200, open_inference.BINARY_CONTENT_TYPE, text + raw, headers)
