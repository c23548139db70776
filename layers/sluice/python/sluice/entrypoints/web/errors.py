"""The one mapping from exceptions to status codes, and the error body every non-200 answer carries.

Nothing a client sends can produce a 5xx: a request that cannot be served raises InvalidRequest (400, 413
or 415), an unknown model or one with nothing in production ModelNotFound (404), a production model that
fails its integrity check ModelUnavailable (503), an AWS service the request needs failing StackError (503:
send it again; the service's words are logged, not answered) — and so does any botocore error that
reached the API without an adapter naming it (a throttle, a 500, a reset or a read timeout the SDK's
retries did not outlast): a transient AWS failure is never a 500 or a 502. Every 503 carries
Retry-After. create_app registers these handlers.

The body speaks the dialect of the route's protocol, chosen here by its path: Sluice's and the Open
Inference Protocol's (/v2/...) `{"error", "details"}`, MLflow's (/models/{model}/invocations)
`{"error_code", "message", "details"}`.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types
from botocore.exceptions import BotoCoreError, ClientError

from sluice.domain.scoring.echo import MAX_ECHO, MAX_PROBLEMS
from sluice.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

    from sluice.errors import InvalidRequest, ModelNotFound, ModelUnavailable, SignInChallenge, StackError

MAX_ERROR_CHARS = 300  # the longest `error` or detail `message` an answer carries
RETRY_AFTER_SECONDS = 1  # what a 503 asks the client to wait before sending the request again
MLFLOW_ERROR_CODES = {400: "BAD_REQUEST", 404: "RESOURCE_DOES_NOT_EXIST", 503: "TEMPORARILY_UNAVAILABLE"}


def _in_mlflow_dialect(path: str | None) -> bool:
    # a search, not a match: behind a custom domain's base path mapping the path starts with the base
    return path is not None and re.search("/models/[^/]+/invocations$", path) is not None


def cap(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text`, cut to `limit` characters (and marked with an ellipsis) when longer."""
    return text if len(text) <= limit else text[:limit] + "…"


def error_response(
    status: HTTPStatus | int,
    error: str,
    details: list[dict[str, Any]] | None = None,
    truncated: int = 0,
    path: str | None = None,
    *,
    instances: bool = True,
) -> Response[Any]:
    """An error answer, bounded whatever the request: at most MAX_PROBLEMS details (the rest counted
    in `truncated`), each field and message cut to a few hundred characters (well under 64 KB), in the
    dialect of the request's `path`. Each detail is `{"instance", "field", "message"}` for the
    prediction API (which instance of the request), `{"field", "message"}` with `instances=False`
    (the console: its requests have no instances)."""
    listed = (details or [])[:MAX_PROBLEMS]
    body: dict[str, Any] = {
        "error": cap(error),
        "details": [
            ({"instance": d.get("instance")} if instances else {})
            | {
                "field": None if d.get("field") is None else cap(str(d["field"]), MAX_ECHO),
                "message": cap(str(d.get("message", "invalid"))),
            }
            for d in listed
        ],
    }
    truncated += len(details or []) - len(listed)
    if truncated:
        body["truncated"] = truncated
    if _in_mlflow_dialect(path):
        code = MLFLOW_ERROR_CODES.get(int(status), "BAD_REQUEST" if int(status) < 500 else "INTERNAL_ERROR")
        body = {"error_code": code, "message": body.pop("error"), **body}
    # a 503 says when to send the request again
    headers = (
        {"Retry-After": str(RETRY_AFTER_SECONDS)} if int(status) == HTTPStatus.SERVICE_UNAVAILABLE else None
    )
    return Response(
        status_code=int(status), content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def invalid_request(exc: InvalidRequest, path: str | None = None, *, instances: bool = True) -> Response[Any]:
    """400, 413 or 415 (the status the request's problem carries), naming each problem."""
    return error_response(exc.status, str(exc), exc.details, exc.truncated, path, instances=instances)


def model_not_found(exc: ModelNotFound, path: str | None = None) -> Response[Any]:
    """404: no such model, or nothing of it in production."""
    return error_response(HTTPStatus.NOT_FOUND, str(exc), path=path)


def model_unavailable(exc: ModelUnavailable, path: str | None = None) -> Response[Any]:
    """503: the production model cannot be served."""
    return error_response(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), path=path)


def stack_unavailable(exc: StackError, path: str | None = None) -> Response[Any]:
    """503: an AWS service behind the API failed (throttling, an outage); nothing was lost that the
    client cannot send again. Resource names stay in the log."""
    logger.exception("an AWS service failed while answering", extra={"code": exc.code})
    return error_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"a service Sluice depends on failed ({exc.code or 'unavailable'}); send the request again",
        path=path,
    )


def aws_unavailable(exc: ClientError | BotoCoreError, path: str | None = None) -> Response[Any]:
    """503 for a botocore error no adapter turned into StackError: an AWS call that failed
    (ClientError) or got no answer (BotoCoreError: a reset, a timeout)."""
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
    logger.exception("an AWS call failed while answering", extra={"code": code})
    return error_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"a service Sluice depends on failed ({code or 'unavailable'}); send the request again",
        path=path,
    )


def no_route(event: BaseProxyEvent) -> Response[Any]:
    """404 for a method and path this API does not have."""
    return error_response(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}")


def forbidden(exc: Exception) -> Response[Any]:
    """403: the console user's groups do not allow the action (the message names both)."""
    return error_response(HTTPStatus.FORBIDDEN, str(exc), instances=False)


def unauthenticated(exc: Exception) -> Response[Any]:
    """401: the email and password match no account, or the request carries no signed-in user."""
    return error_response(HTTPStatus.UNAUTHORIZED, str(exc), instances=False)


def sign_in_challenge(exc: SignInChallenge) -> Response[Any]:
    """409: the sign-in needs one more step (a new password, an authenticator's code), named in
    `challenge`; the `session` completes it."""
    response = error_response(HTTPStatus.CONFLICT, str(exc), instances=False)
    response.body = dict(response.body or {}) | {"challenge": exc.challenge, "session": exc.session}
    return response


def refused(exc: Exception) -> Response[Any]:
    """409: an action the model's state does not allow now (a version not waiting for approval, no
    earlier version to roll back to, production moved meanwhile); the message says why."""
    return error_response(HTTPStatus.CONFLICT, str(exc), instances=False)
