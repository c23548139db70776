"""GET /dashboard: the registry dashboard page (regenerated after each decision and drift check), and
GET /dashboard/{key+}: the pages it links (model cards, drift reports), and no other key of the bucket.
Same authentication as every other route."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Request, Response  # Request: injected by annotation
from aws_lambda_powertools.event_handler.api_gateway import Router

from sluice.app.registry.dashboard import index_page, linked_page
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.web.errors import error_response
from sluice.errors import ArtifactNotFound

router = Router()
HTML = "text/html; charset=utf-8"
PAGE_PREFIX = "/dashboard/"


@router.get("/dashboard", summary="Registry dashboard", responses={200: {"description": "HTML page"}})
def dashboard(http: Request) -> Response[Any]:
    """The registry dashboard: every model's production version, rollout, drift, trainings and audit
    log, as one HTML page (404 until the first decision or drift check has written it)."""
    try:
        page = index_page(container_of(http).deps.artifacts)
    except ArtifactNotFound:
        return error_response(
            HTTPStatus.NOT_FOUND, "no dashboard yet: it is written after the first decision"
        )
    return Response(status_code=200, content_type=HTML, body=page.decode("utf-8"))


# Powertools' <param> stops at "/": a plain regex takes the greedy rest of the path ({key+} in the API).
@router.get("/dashboard/.+", include_in_schema=False)
def dashboard_page(http: Request) -> Response[Any]:
    """A page the dashboard links (a card, a drift report); 404 for any other key."""
    key = http.path_parameters.get("key") or http.resolved_event.path.split(PAGE_PREFIX, 1)[-1]
    try:
        page = linked_page(container_of(http).deps.artifacts, key)
    except ArtifactNotFound:
        return error_response(HTTPStatus.NOT_FOUND, "not a page the dashboard links")
    return Response(status_code=200, content_type=HTML, body=page.decode("utf-8"))
