"""The console's JSON API under /console/api: sign-in (open), then, behind the Cognito authorizer, who
the user is, their two-step sign-in (/mfa: the user's Cognito access token travels in the body, as
API Gateway's authorizer checks only the ID token), the models, a model's page, column inference,
uploads, and the actions. Each route reads
the verified claims (`user_of`), parses its body into a bounded request model (a 4xx naming the field)
and calls one use case of sluice.app.console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.app.console import access, actions, columns, models, uploads
from sluice.domain.registry.identity import ConsoleUser
from sluice.entrypoints.web.bodies import json_body
from sluice.errors import InvalidRequest, Unauthenticated

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    from sluice.entrypoints.wiring import ConsoleFunction

router = APIGatewayRouter()

MAX_BODY_BYTES = 300 * 1024  # a column sample is at most 256 KB of text
MAX_SAMPLE_CHARS = 256 * 1024
SHORT = 200  # names, emails, columns
LONG = 1000  # reasons
TOKEN = 8192  # a Cognito access token is 1-2 KB


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SignIn(_Body):
    email: str = Field(min_length=3, max_length=SHORT)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    new_password: str | None = Field(default=None, min_length=1, max_length=256)
    session: str | None = Field(default=None, min_length=20, max_length=4096)  # Cognito's bounds
    code: str | None = Field(default=None, min_length=1, max_length=SHORT)


class AccessToken(_Body):
    access_token: str = Field(min_length=1, max_length=TOKEN)


class AccessTokenAndCode(AccessToken):
    code: str = Field(min_length=1, max_length=SHORT)


class ColumnsRequest(_Body):
    file_name: str = Field(min_length=1, max_length=SHORT)
    sample: str = Field(min_length=1, max_length=MAX_SAMPLE_CHARS)


class UploadRequest(_Body):
    model: str = Field(min_length=1, max_length=63)
    file_name: str = Field(min_length=1, max_length=SHORT)
    size: int = Field(ge=1)
    target: str | None = Field(default=None, min_length=1, max_length=SHORT)
    sensitive: str | None = Field(default=None, min_length=1, max_length=SHORT)


class Reason(_Body):
    reason: str | None = Field(default=None, max_length=LONG)


class RequiredReason(_Body):
    reason: str = Field(min_length=1, max_length=LONG)


class Nothing(_Body):
    pass


def _function() -> ConsoleFunction:
    function: ConsoleFunction = router.context["sluice_console"]
    return function


def user_of(event: APIGatewayProxyEvent) -> ConsoleUser:
    """The signed-in user of the request: the claims API Gateway's Cognito authorizer verified. Raises
    Unauthenticated when there are none (a request that did not come through the authorizer)."""
    authorizer = (event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    if not isinstance(claims, dict):
        raise Unauthenticated("Sign in to use the console.")
    try:
        return ConsoleUser.of_claims(claims)
    except ValueError:
        raise Unauthenticated("Sign in to use the console.") from None


def _user() -> ConsoleUser:
    return user_of(router.current_event)


def body_of[B: BaseModel](kind: type[B], *, optional: bool = False) -> B:
    """The request's JSON body as `kind`: 413 past MAX_BODY_BYTES, 400 naming each field otherwise."""
    event = router.current_event
    raw = event.body or ""
    if len(raw) > MAX_BODY_BYTES * (4 / 3 if event.is_base64_encoded else 1):
        raise InvalidRequest(f"the body is over {MAX_BODY_BYTES} bytes", status=413)
    parsed = {} if optional and not raw.strip() else json_body(event)
    try:
        return kind.model_validate(parsed)
    except ValidationError as exc:
        details: list[dict[str, object]] = []
        for error in exc.errors(include_url=False, include_input=False):
            field = ".".join(str(p) for p in error["loc"]) or None
            details.append(
                {
                    "field": field,
                    "message": "unknown field" if error["type"] == "extra_forbidden" else error["msg"],
                }
            )
        raise InvalidRequest("the request does not match the console's API", details) from None


def _version(text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise InvalidRequest(
            "the version is not a number", [{"field": "version", "message": "a whole number"}]
        )
    return int(text)


@router.post("/console/api/sign-in")
def sign_in() -> dict[str, Any]:
    request = body_of(SignIn)
    answers_challenge = request.session is not None and (request.new_password or request.code) is not None
    if request.password is None and not answers_challenge:
        raise InvalidRequest(
            "the request does not match the console's API",
            [{"field": "password", "message": "required (or new_password or code, with session)"}],
        )
    return access.sign_in(
        _function().deps.accounts,
        request.email,
        request.password,
        request.new_password,
        request.session,
        request.code,
    )


@router.get("/console/api/me")
def me() -> dict[str, object]:
    return access.me(_user(), _function().deps.accounts.mfa)


@router.post("/console/api/mfa")
def two_step() -> dict[str, bool]:
    _user()
    request = body_of(AccessToken)
    return access.two_step(_function().deps.accounts, request.access_token)


@router.post("/console/api/mfa/setup")
def start_two_step() -> dict[str, str]:
    user = _user()
    request = body_of(AccessToken)
    return access.start_two_step(_function().deps.accounts, user, request.access_token)


@router.post("/console/api/mfa/verify")
def finish_two_step() -> dict[str, bool]:
    _user()
    request = body_of(AccessTokenAndCode)
    return access.finish_two_step(_function().deps.accounts, request.access_token, request.code)


@router.get("/console/api/models")
def list_models() -> dict[str, Any]:
    return models.list_models(_function().deps, _user())


@router.get("/console/api/models/<model>")
def model_page(model: str) -> dict[str, Any]:
    return models.model_page(_function().deps, _user(), model)


@router.post("/console/api/columns")
def infer_columns() -> dict[str, Any]:
    user = _user()
    request = body_of(ColumnsRequest)
    return columns.columns_of_sample(user, request.file_name, request.sample)


@router.post("/console/api/uploads")
def start_upload() -> dict[str, Any]:
    user = _user()
    request = body_of(UploadRequest)
    function = _function()
    return uploads.start_upload(
        function.deps,
        function.limits,
        user,
        model=request.model,
        file_name=request.file_name,
        size=request.size,
        target=request.target,
        sensitive=request.sensitive,
    )


@router.get("/console/api/uploads")
def upload_status() -> dict[str, Any]:
    user = _user()
    key = router.current_event.get_query_string_value("key")
    if not key:
        raise InvalidRequest("the key is missing", [{"field": "key", "message": "required"}])
    return uploads.upload_status(_function().deps, user, key[:300])


@router.post("/console/api/models/<model>/versions/<version>/approve")
def approve(model: str, version: str) -> dict[str, Any]:
    user = _user()
    request = body_of(Reason, optional=True)
    return actions.approve(_function().deps, user, model, _version(version), request.reason or None)


@router.post("/console/api/models/<model>/versions/<version>/reject")
def reject(model: str, version: str) -> dict[str, Any]:
    user = _user()
    request = body_of(RequiredReason)
    return actions.reject(_function().deps, user, model, _version(version), request.reason)


@router.post("/console/api/models/<model>/rollback")
def rollback(model: str) -> dict[str, Any]:
    user = _user()
    request = body_of(Reason, optional=True)
    return actions.rollback(_function().deps, user, model, request.reason or None)


@router.post("/console/api/models/<model>/retrain")
def retrain(model: str) -> dict[str, Any]:
    user = _user()
    body_of(Nothing, optional=True)
    return actions.retrain(_function().deps, user, model)
