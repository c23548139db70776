"""GET /console: the page (static/index.html with its base path and the uploads' origin filled in,
HTML-escaped) under a strict Content-Security-Policy; GET /console/assets/{asset}: console.js and
console.css only (an allow-list: no other file of the function can be read)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from sluice.entrypoints.web import errors

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    from sluice.entrypoints.wiring import ConsoleFunction

router = APIGatewayRouter()

ASSETS = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
ASSET_CACHE = "public, max-age=300"
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def content_security_policy(upload_origin: str) -> str:
    """The page's CSP: its own scripts and styles only, no inline code, XHR to itself and the raw
    bucket's POST origin, never framed."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {upload_origin}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )


def base_path(event: APIGatewayProxyEvent) -> str:
    """Where /console is as the browser sees it: API Gateway's request path with its stage ("/v1/console"
    on AWS), else the route's ("/console", the local front)."""
    seen = str(event.request_context.path or "").rstrip("/")
    return seen if seen.endswith("/console") and seen.startswith("/") else "/console"


def render_page(template: str, base: str, upload_origin: str) -> str:
    return template.replace("{{base}}", html.escape(base, quote=True)).replace(
        "{{upload_origin}}", html.escape(upload_origin, quote=True)
    )


@router.get("/console")
def console_page() -> Response[str]:
    function: ConsoleFunction = router.context["sluice_console"]
    static: Path = router.context["sluice_static"]
    origin = function.deps.uploads.post_origin()
    body = render_page(
        (static / "index.html").read_text(encoding="utf-8"), base_path(router.current_event), origin
    )
    headers = PAGE_HEADERS | {"Content-Security-Policy": content_security_policy(origin)}
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=body, headers=headers)


@router.get("/console/assets/<asset>")
def console_asset(asset: str) -> Response[Any]:
    static: Path = router.context["sluice_static"]
    if asset not in ASSETS:
        return errors.error_response(404, "no such asset")
    return Response(
        status_code=200,
        content_type=ASSETS[asset],
        body=(static / asset).read_text(encoding="utf-8"),
        headers={"Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"},
    )
