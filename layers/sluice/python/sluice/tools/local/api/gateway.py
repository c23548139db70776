"""The local API Gateway: serves the routes template.yaml declares (`Api` events of functions) over
HTTP on 127.0.0.1, turning each request into an API Gateway REST proxy event for the in-process
handler, like `sam local start-api`. Like API Gateway it refuses, before any handler runs, requests that
are not authenticated (SigV4 or an API key, see `sluice.tools.local.api.signing`; a Cognito user's ID token
on the routes a `cognito_user_pools` scheme secures, see `sluice.tools.local.api.cognito`) on every route
but the open ones, and answers a JSON 403 "Missing Authentication Token" for paths and methods it has no route for."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sluice.tools.local.api.cognito import CognitoAuth, cognito_operations
from sluice.tools.local.api.signing import MISSING_TOKEN, ApiAuth
from sluice.tools.local.lambda_runtime.extensions import SHUTDOWN_POLL_SECONDS

Invoke = Callable[[str, dict[str, Any]], tuple[dict[str, Any] | None, dict[str, Any] | None]]
STAGE = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # e.g. /models/{model}/predict
    logical_id: str
    open: bool = False  # served without authentication (`Auth: {Authorizer: NONE}`, /openapi.json)
    binary_media_types: tuple[str, ...] = ()  # its Api's BinaryMediaTypes, e.g. ("*/*",)
    user_pools: tuple[str, ...] = ()  # a Cognito authorizer's user pools (logical ids), else SigV4/API key

    @property
    def pattern(self) -> re.Pattern[str]:
        # {name} is one path segment; {name+} (a greedy parameter) is one or more, as in API Gateway.
        escaped = re.escape(self.resource)
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", escaped)
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


OPEN_PATHS = frozenset({"/openapi.json"})


def _is_open(properties: dict[str, Any], open_operations: set[tuple[str, str]]) -> bool:
    auth = properties.get("Auth") or {}
    authorizer = auth.get("Authorizer") if isinstance(auth, dict) else None
    path, method = str(properties["Path"]), str(properties["Method"]).lower()
    return path in OPEN_PATHS or authorizer == "NONE" or (path, method) in open_operations


def _open_operations(sam: dict[str, Any]) -> set[tuple[str, str]]:
    """(path, method) of operations an Api's OpenAPI DefinitionBody declares with `security: []`."""
    found = set()
    for resource in (sam.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Serverless::Api":
            continue
        paths = ((resource.get("Properties") or {}).get("DefinitionBody") or {}).get("paths") or {}
        for path, operations in paths.items() if isinstance(paths, dict) else ():
            for method, operation in operations.items() if isinstance(operations, dict) else ():
                if isinstance(operation, dict) and operation.get("security") == []:
                    found.add((str(path), str(method).lower()))
    return found


def _binary_media_types(sam: dict[str, Any], properties: dict[str, Any]) -> tuple[str, ...]:
    """The BinaryMediaTypes of the Api an event's RestApiId names ("~1" is an escaped "/")."""
    reference = properties.get("RestApiId")
    name = reference.get("Ref") if isinstance(reference, dict) else None
    api = (sam.get("Resources") or {}).get(name) if isinstance(name, str) else None
    types = ((api or {}).get("Properties") or {}).get("BinaryMediaTypes") or []
    return tuple(str(t).replace("~1", "/") for t in types)


def _is_binary(content_type: str, binary_media_types: tuple[str, ...]) -> bool:
    """Whether API Gateway hands a body of this Content-Type to the function base64-encoded."""
    media = content_type.split(";")[0].strip().lower()
    return any(t == "*/*" or fnmatch(media, t.lower()) for t in binary_media_types)


def api_routes(sam: dict[str, Any]) -> list[Route]:
    """Every `Api` event of every function in a SAM template, as routes. A route whose event says
    `Auth: {Authorizer: NONE}` (and /openapi.json) is open; every other one needs authentication."""
    routes = []
    open_operations = _open_operations(sam)
    cognito = cognito_operations(sam)
    for logical_id, resource in (sam.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") == "Api":
                properties = event.get("Properties") or {}
                method, path = str(properties["Method"]).upper(), str(properties["Path"])
                binary = _binary_media_types(sam, properties)
                is_open = _is_open(properties, open_operations)
                pools = cognito.get((path, method.lower()), ())
                routes.append(Route(method, path, logical_id, is_open, binary, pools))
    # Literal paths before parameterised ones, as API Gateway matches them.
    return sorted(routes, key=lambda r: (r.resource.count("{"), r.resource))


def proxy_event(
    route: Route, method: str, raw_path: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event for one request."""
    url = urlsplit(raw_path)
    match = route.pattern.match(url.path)
    query = parse_qs(url.query, keep_blank_values=True)
    request_id = str(uuid.uuid4())
    # As API Gateway: a body of one of the Api's binary media types arrives base64-encoded (a body that
    # is not UTF-8 too: API Gateway would mangle it, and the handler should see what was sent).
    encoded = _is_binary(headers.get("content-type", ""), route.binary_media_types)
    if not encoded:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded = True
    if encoded:
        text = base64.b64encode(body).decode()
    now = datetime.now(UTC)
    return {
        "resource": route.resource,
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": match.groupdict() if match else None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": method,
            # the path as the client requested it (API Gateway's includes the stage: this front has none)
            "path": url.path,
            "stage": STAGE,
            "requestId": request_id,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def _json(status: int, document: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def dispatch(
    routes: list[Route],
    invoke: Invoke,
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    auth: ApiAuth | None = None,
    cognito: CognitoAuth | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Route one HTTP request to its function and turn the proxy response into status, headers, body.
    As API Gateway (REST): a path or method without a route is a 403 "Missing Authentication Token",
    a route that needs authentication refuses a request `auth` does not accept with a 403, and a
    handler that raises is a 502. A route of a Cognito authorizer refuses a request without a valid ID
    token (checked by `cognito`) with a 401, and passes the token's claims. `headers` have lower-case
    names."""
    path = urlsplit(raw_path).path
    route = next((r for r in routes if r.method in (method, "ANY") and r.pattern.match(path)), None)
    if route is None:
        return _json(403, {"message": MISSING_TOKEN})
    claims = None
    if route.user_pools and not route.open:
        if cognito is None:
            return _json(401, {"message": "Unauthorized"})
        claims, refused = cognito.check(route.user_pools, headers)
        if refused is not None:
            return _json(401, {"message": refused})
    elif auth is not None and not route.open:
        refusal = auth.refusal(method, raw_path, headers, body)
        if refusal is not None:
            return _json(403, {"message": refusal})
    event = proxy_event(route, method, raw_path, headers, body)
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": claims}
    response, error = invoke(route.logical_id, event)
    if error is not None or not isinstance(response, dict):
        return _json(502, {"message": "Internal server error", "error": (error or {}).get("errorType")})
    out_headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        out_headers[str(key)] = ", ".join(str(v) for v in values)
    payload = response.get("body") or ""
    data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
    return int(response.get("statusCode", 200)), out_headers, data


class LocalApi:
    """A threaded HTTP server on 127.0.0.1 in front of the in-process handlers; `auth` (None: no
    checks) is enforced on every route that is not open, `cognito` on those of a Cognito authorizer
    (None: every request refused)."""

    def __init__(
        self,
        routes: list[Route],
        invoke: Invoke,
        host: str = "127.0.0.1",
        port: int = 3000,
        auth: ApiAuth | None = None,
        cognito: CognitoAuth | None = None,
    ) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are written separately; with Nagle on, a keep-alive client waits for
            # its delayed ACK (~40 ms) on every response.
            disable_nagle_algorithm = True

            def _read_body(self) -> bytes | tuple[int, dict[str, str], bytes]:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    self.close_connection = True
                    return _json(411, {"message": "Length Required"})
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    self.close_connection = True
                    return _json(400, {"message": "invalid Content-Length"})
                if length > MAX_BODY_BYTES:
                    self.close_connection = True
                    return _json(413, {"message": "request body too large"})
                return self.rfile.read(length) if length else b""

            def _serve(self) -> None:
                body = self._read_body()
                if isinstance(body, tuple):
                    status, headers, data = body
                else:
                    incoming = {k.lower(): v for k, v in self.headers.items()}
                    status, headers, data = dispatch(
                        api.routes, api.invoke, self.command, self.path, incoming, body, api.auth, api.cognito
                    )
                self._respond(status, headers, data)

            def _respond(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in {"content-length", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def __getattr__(self, name: str) -> Any:
                # Every method reaches dispatch (API Gateway answers any verb; the standard library
                # would answer 501 with an HTML page for one it has no do_<VERB> for).
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                # Malformed requests the standard library refuses itself: JSON, not its HTML page.
                self.close_connection = True
                self._respond(code, *_json(code, {"message": message or "Bad Request"})[1:])

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.routes = routes
        self.invoke = invoke
        self.auth = auth
        self.cognito = cognito
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},  # stop() waits up to one interval
            name="sluice-local-api",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (once; later calls do nothing)."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
