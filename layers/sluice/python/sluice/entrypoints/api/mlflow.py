"""POST /models/{model}/invocations: MLflow's scoring format (as `mlflow models serve` answers it) over
the prediction API. The rows become /predict's instances (entrypoints/api/protocols/mlflow_scoring.py) and are served exactly
as /predict serves them: the same validation, live rollout, capture and request id. Errors are in MLflow's
`{"error_code", "message"}` shape (errors.py chooses it by the path)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import (  # at run time: Powertools injects Request by annotation
    Request,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.api_gateway import Router

from sluice.app.serving import live as live_serving
from sluice.app.serving import production as serving
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.api.protocols.mlflow_scoring import scoring_instances
from sluice.entrypoints.api.rejections import capture_rejected
from sluice.entrypoints.api.requests import request_id, with_body
from sluice.entrypoints.api.schemas import (
    MlflowErrorResponse,
    MlflowPredictions,
    MlflowScoringRequest,
    answers,
)
from sluice.entrypoints.api.v2 import VERSION_HEADER
from sluice.entrypoints.outcomes import count_capture
from sluice.observability import metrics

router = Router()


def scoring_request(body: Any) -> MlflowScoringRequest:
    """The body's rows, whichever of MLflow's formats carries them, as the request's `instances`."""
    return MlflowScoringRequest.model_construct(instances=scoring_instances(body))


@router.post(
    "/models/<model>/invocations",
    summary="MLflow invocations",
    responses=answers(MlflowPredictions, 400, 403, 404, 413, 415, 503, error=MlflowErrorResponse),
)
@with_body(scoring_request, rejected=capture_rejected)
def invocations(model: str, request: MlflowScoringRequest, http: Request) -> Response[Any]:
    """Score rows sent as `dataframe_split` ({columns, data[, index]}), `dataframe_records` ([{column:
    value}]), `instances` or `inputs` with the version /predict would use. Answers `{"predictions": [...]}`
    (a classifier's labels, a regressor's values); the version and request id that trace each prediction
    are in the X-Sluice-Model-Version and X-Request-Id headers."""
    live = container_of(http)
    instances: list[Any] = request.instances or []
    answer = live_serving.serve(
        live.models.deployment(model),
        instances,
        request_id=request_id(http),
        max_instances=live.settings.max_instances,
        tally=live.tally,
    )
    count_capture(
        serving.capture(live.sink, live.settings.capture_fraction, instances, answer.body, answer.shadow)
    )
    metrics.add_metric(name="Predictions", unit="Count", value=len(instances))
    headers = {"X-Request-Id": answer.body["request_id"], VERSION_HEADER: str(answer.body["version"])}
    return Response(200, content_types.APPLICATION_JSON, {"predictions": answer.body["predictions"]}, headers)
