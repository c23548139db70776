"""The console's sign-in on the local stack: the Cognito user pool of template.yaml (created through the
cognito-idp API: moto's CloudFormation has none), and the local API front checking a user's ID token on
/console/api/ as API Gateway's Cognito authorizer does (signature against the pool's keys, expiry,
audience, issuer, token use) before any handler runs; the console's page, assets and sign-in are open,
and the IAM routes are unchanged."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import Stack

UNAUTHORIZED = {"message": "Unauthorized"}


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    """The stack's API front, recording the event each function invocation gets (`api.received`)."""
    served = stack.local.serve_api(0)
    invoke = served.invoke
    received: list[dict[str, Any]] = []

    def recording(logical_id: str, event: dict[str, Any]) -> Any:
        received.append(event)
        return invoke(logical_id, event)

    served.invoke = recording
    served.received = received  # type: ignore[attr-defined]
    yield served
    served.stop()


@pytest.fixture(scope="module")
def operator_token(stack: Stack) -> str:
    return stack.local.console_id_token("operators")


def request(
    api: LocalApi, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, str, bytes]:
    """One request exactly as given; the answer's status, Content-Type and body."""
    url = urlsplit(api.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def me(api: LocalApi, authorization: str | None) -> tuple[int, Any]:
    """GET /console/api/me: the status, and the claims the function received (or the refusal's body)."""
    received: list[dict[str, Any]] = api.received  # type: ignore[attr-defined]
    before = len(received)
    status, _, data = request(
        api, "GET", "/console/api/me", {"Authorization": authorization} if authorization else {}
    )
    if len(received) == before:
        return status, json.loads(data)
    return status, received[-1]["requestContext"]["authorizer"]["claims"]


def invocations(stack: Stack) -> int:
    return stack.local.function_log("ConsoleFunction").count("START RequestId")


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def forged(claims: dict[str, Any], key: jwk.RSAKey | None = None) -> str:
    """A token with these claims, signed with `key` (by default the key moto signs the pool's tokens with)."""
    key = key or jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    return jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, key)


# ------------------------------------------------------------------------------------------ accepted
def test_an_operators_id_token_reaches_the_function_with_its_claims_as_strings(
    stack: Stack, api: LocalApi, operator_token: str
) -> None:
    # Given an operator's ID token from the stack's user pool (signed in with USER_PASSWORD_AUTH)
    token_claims = claims_of(operator_token)
    # When the console's API is called with it in Authorization
    status, claims = me(api, operator_token)
    # Then the function ran with the token's claims, each a string as API Gateway passes them
    assert status == 200, claims
    assert claims["email"] == "operator@example.com"
    assert claims["cognito:groups"] == "operators"
    assert claims["token_use"] == "id"
    assert claims["aud"] == stack.local.physical["ConsoleUserPoolClient"]
    assert claims["sub"] == token_claims["sub"]
    assert all(isinstance(v, str) for v in claims.values())
    assert claims["exp"] == time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(token_claims["exp"]))
    assert claims["auth_time"] == str(token_claims["auth_time"])


def test_a_bearer_prefix_is_accepted(api: LocalApi, operator_token: str) -> None:
    status, claims = me(api, f"Bearer {operator_token}")
    assert status == 200 and claims["email"] == "operator@example.com"


def test_a_viewers_token_says_viewers(stack: Stack, api: LocalApi) -> None:
    status, claims = me(api, stack.local.console_id_token("viewers"))
    assert status == 200
    assert (claims["email"], claims["cognito:groups"]) == ("viewer@example.com", "viewers")


# ------------------------------------------------------------------------------------------ refused
def refused_cases(stack: Stack, operator_token: str) -> dict[str, tuple[str | None, str]]:
    good = claims_of(operator_token)
    other_key = jwk.RSAKey.generate_key(2048, parameters={"kid": "dummy"})
    header, payload, signature = operator_token.split(".")
    access = stack.local.client("cognito-idp").initiate_auth(
        ClientId=stack.local.physical["ConsoleUserPoolClient"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={
            "USERNAME": "operator@example.com",
            "PASSWORD": next(u for u in stack.local.console_users() if u["group"] == "operators")["password"],
        },
    )["AuthenticationResult"]["AccessToken"]
    return {
        "missing": (None, "Unauthorized"),
        "empty bearer": ("Bearer ", "Unauthorized"),
        "malformed": ("not-a-jwt", "Unauthorized"),
        "tampered payload": (
            f"{header}.{base64.urlsafe_b64encode(json.dumps(good | {'email': 'x@example.com'}).encode()).decode().rstrip('=')}.{signature}",
            "Unauthorized",
        ),
        "signed by another key": (forged(good, other_key), "Unauthorized"),
        "unsigned (alg none)": (
            base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=") + "." + payload + ".",
            "Unauthorized",
        ),
        "expired": (forged(good | {"exp": int(time.time()) - 5}), "The incoming token has expired"),
        "another audience": (forged(good | {"aud": "someone-else"}), "Unauthorized"),
        "another issuer": (
            forged(good | {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}),
            "Unauthorized",
        ),
        "an access token": (access, "Unauthorized"),
    }


def test_bad_tokens_are_refused_with_401_before_the_function_runs(
    stack: Stack, api: LocalApi, operator_token: str
) -> None:
    # Given tokens API Gateway's Cognito authorizer refuses, and the function's invocations so far
    cases = refused_cases(stack, operator_token)
    before = invocations(stack)
    # When each is sent to the console's API
    answers = {name: me(api, value) for name, (value, _) in cases.items()}
    # Then each is a 401 with API Gateway's message, and the function never ran
    assert answers == {name: (401, {"message": message}) for name, (_, message) in cases.items()}
    assert invocations(stack) == before


def test_every_method_of_the_console_api_is_guarded(api: LocalApi) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        status, _, data = request(api, method, "/console/api/models/m/versions/1/approve")
        assert (status, json.loads(data)) == (401, UNAUTHORIZED), method


# ------------------------------------------------------------------------------------------ open / IAM
def test_the_page_and_the_sign_in_need_no_token(stack: Stack, api: LocalApi) -> None:
    before = invocations(stack)
    status, content_type, _ = request(api, "GET", "/console")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    status, _, _ = request(
        api, "POST", "/console/api/sign-in", {"Content-Type": "application/json"}, b'{"email": "a@b.c"}'
    )
    assert status not in (401, 403)
    assert invocations(stack) == before + 2


def test_the_iam_routes_do_not_take_a_cognito_token(api: LocalApi, operator_token: str) -> None:
    status, _, data = request(api, "GET", "/models", {"Authorization": operator_token})
    assert status == 403 and "Credential" in json.loads(data)["message"]
    status, _, data = request(api, "GET", "/models")
    assert (status, json.loads(data)) == (403, {"message": "Missing Authentication Token"})


# ------------------------------------------------------------------------------------------ uploads
def test_the_raw_bucket_takes_browser_posts_only(stack: Stack) -> None:
    # Given the raw bucket as the local stack created it (the template's CORS rule, applied through S3)
    bucket = stack.local.outputs["RawBucketName"]
    (rule,) = stack.local.client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    # Then only POST is allowed, from the console's origin (by default the region's API Gateway hosts)
    assert rule["AllowedMethods"] == ["POST"]
    assert rule["AllowedOrigins"] == ["https://*.execute-api.us-east-1.amazonaws.com"]
