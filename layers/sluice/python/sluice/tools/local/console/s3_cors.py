"""S3's CORS on the local endpoint, as S3 answers it: what moto's server does not.

moto's server adds `Access-Control-Allow-Origin: *` to every answer of every service (flask_cors), so any
web page could read what the local S3 answers; and its preflight matches a bucket's rules by origin
only. S3 allows a cross-origin request only when one of the bucket's CORS rules matches its origin,
its method (for a preflight, Access-Control-Request-Method) and the headers it asks for, and then
answers with that origin (never `*` unless the rule says so) and `Vary: Origin`. The console's upload
depends on this: the raw bucket allows POST from the console's origin only (template.yaml
`ConsoleOrigin`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from moto.s3.exceptions import AccessForbidden, MissingBucket
from moto.s3.responses import S3Response
from moto.s3.utils import cors_matches_origin

REFUSED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)


def matching_rule(rules: list[Any], origin: str, method: str, requested_headers: list[str]) -> Any | None:
    """The first of a bucket's CORS rules that allows `origin`, `method` and every requested header."""
    for rule in rules:
        if not cors_matches_origin(origin, rule.allowed_origins or []):
            continue
        if method.upper() not in {m.upper() for m in rule.allowed_methods or []}:
            continue
        allowed = {h.lower() for h in rule.allowed_headers or []}
        if "*" not in allowed and any(h.lower() not in allowed for h in requested_headers):
            continue
        return rule
    return None


def cors_headers(rule: Any, origin: str, preflight: bool) -> dict[str, str]:
    """What S3 answers a request its `rule` allows."""
    allow_origin = "*" if "*" in (rule.allowed_origins or []) else origin
    headers = {"Access-Control-Allow-Origin": allow_origin, "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = ", ".join(rule.allowed_methods)
        if rule.allowed_headers:
            headers["Access-Control-Allow-Headers"] = ", ".join(rule.allowed_headers)
        if rule.max_age_seconds is not None:
            headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    if rule.exposed_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.exposed_headers)
    return headers


def _bucket_rules(response: S3Response, request: Any, full_url: str) -> list[Any]:
    name = response.parse_bucket_name_from_url(request, full_url)
    try:
        return list(response.backend.get_bucket(name).cors) if name else []
    except MissingBucket:  # no such bucket: no rule, as S3
        return []


@contextlib.contextmanager
def s3_cors_as_aws() -> Iterator[None]:
    """While inside: moto's server adds no CORS headers of its own, S3 preflights match a rule by origin,
    method and headers, and every S3 answer to a cross-origin request a rule allows carries that rule's
    headers (the POST of a pre-signed upload among them)."""
    from moto.moto_server import werkzeug_app

    saved_global = werkzeug_app.DISABLE_GLOBAL_CORS
    saved_options = S3Response._set_cors_headers_options
    saved_responses = {name: getattr(S3Response, name) for name in ("bucket_response", "key_response")}

    def set_cors_headers_options(self: S3Response, headers: dict[str, str], bucket: Any) -> None:
        requested = [
            h.strip() for h in headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()
        ]
        rule = matching_rule(
            list(bucket.cors),
            headers.get("Origin") or "",
            headers.get("Access-Control-Request-Method") or "",
            requested,
        )
        if rule is None:
            raise AccessForbidden(REFUSED)
        self.response_headers.update(cors_headers(rule, headers.get("Origin") or "", preflight=True))

    def answering_cors(original: Any) -> Any:
        def respond(self: S3Response, request: Any, full_url: str, headers: Any) -> Any:
            status, out_headers, body = original(self, request, full_url, headers)
            origin = request.headers.get("Origin")
            if origin and request.method != "OPTIONS":
                rule = matching_rule(_bucket_rules(self, request, full_url), origin, request.method, [])
                if rule is not None:
                    out_headers.update(cors_headers(rule, origin, preflight=False))
            return status, out_headers, body

        return respond

    werkzeug_app.DISABLE_GLOBAL_CORS = True  # read when the server builds each service's app
    S3Response._set_cors_headers_options = set_cors_headers_options  # type: ignore[method-assign]
    for name, original in saved_responses.items():
        setattr(S3Response, name, answering_cors(original))
    try:
        yield
    finally:
        werkzeug_app.DISABLE_GLOBAL_CORS = saved_global
        S3Response._set_cors_headers_options = saved_options  # type: ignore[method-assign]
        for name, original in saved_responses.items():
            setattr(S3Response, name, original)
