"""Two-step sign-in to the console on the local stack (its pool created with ConsoleMfa=OPTIONAL): a user
sets up an authenticator app through the console's API (AssociateSoftwareToken, VerifySoftwareToken,
SetUserMFAPreference with the user's access token), and from then on the password alone does not sign
them in: the console answers the SOFTWARE_TOKEN_MFA challenge and the app's code completes it. moto
checks the codes (the local stack turns its TOTP check on), so wrong codes are refused here too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sluice.adapters.cognito import SIGN_IN_EXPIRED, WRONG_CODE
from sluice.tools.local.api.gateway import LocalApi
from sluice.tools.local.console.cognito import create_user, strong_password
from tests.integration.authenticator import current_code, wrong_code
from tests.integration.conftest import Stack
from tests.integration.test_console_api import call


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    served = stack.local.serve_api(0)
    yield served
    served.stop()


def new_user(stack: Stack, email: str) -> str:
    """A viewer with a permanent password, as an administrator creates one; its password."""
    password = strong_password()
    pool = stack.local.physical["ConsoleUserPool"]
    create_user(stack.local.client("cognito-idp"), pool, email, "viewers", password)
    return password


def sign_in(api: LocalApi, body: dict[str, str]) -> tuple[int, Any]:
    status, _, answer = call(api, "POST", "/console/api/sign-in", body=body)
    return status, answer


def test_a_user_sets_up_an_authenticator_app_and_then_signs_in_with_its_code(
    stack: Stack, api: LocalApi
) -> None:
    # Given a viewer signed in with their password, on a pool that offers two-step sign-in
    email = "two-step@example.com"
    password = new_user(stack, email)
    status, tokens = sign_in(api, {"email": email, "password": password})
    assert status == 200, tokens
    id_token, access = tokens["id_token"], {"access_token": tokens["access_token"]}
    assert call(api, "GET", "/console/api/me", id_token)[2]["mfa"] == "OPTIONAL"
    assert call(api, "POST", "/console/api/mfa", id_token, access)[2] == {"available": True, "enabled": False}

    # When they set up an app: the secret comes as text and as the otpauth:// URI apps read
    status, _, setup = call(api, "POST", "/console/api/mfa/setup", id_token, access)
    assert status == 200, setup
    uri = urlsplit(setup["uri"])
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", f"/Sluice%20console:{email}")
    assert parse_qs(uri.query) == {"secret": [setup["secret"]], "issuer": ["Sluice console"]}

    # Then a wrong code is refused naming the field, and two-step sign-in stays off
    status, _, refused = call(
        api, "POST", "/console/api/mfa/verify", id_token, access | {"code": wrong_code(setup["secret"])}
    )
    assert (status, refused["details"][0]["field"]) == (400, "code")
    assert call(api, "POST", "/console/api/mfa", id_token, access)[2]["enabled"] is False
    # and the app's current code turns it on
    code = current_code(setup["secret"])
    status, _, done = call(api, "POST", "/console/api/mfa/verify", id_token, access | {"code": code})
    assert (status, done) == (200, {"available": True, "enabled": True})
    assert call(api, "POST", "/console/api/mfa", id_token, access)[2]["enabled"] is True

    # When they sign in again with their password: a 409 asks for the app's code, with a session
    status, challenge = sign_in(api, {"email": email, "password": password})
    assert (status, challenge["challenge"]) == (409, "SOFTWARE_TOKEN_MFA"), challenge
    assert "id_token" not in challenge
    answer = {"email": email, "session": challenge["session"]}
    # Then a wrong code is a 401 saying so, a code that is not 6 digits a 400, a lost session a 401
    assert sign_in(api, answer | {"code": wrong_code(setup["secret"])}) == (
        401,
        {"error": WRONG_CODE, "details": []},
    )
    assert sign_in(api, answer | {"code": "12ab"})[0] == 400
    assert sign_in(api, answer | {"code": "123456", "session": "x" * 40}) == (
        401,
        {"error": SIGN_IN_EXPIRED, "details": []},
    )
    # and the current code signs them in (the same session, after the wrong code)
    status, signed_in = sign_in(api, answer | {"code": current_code(setup["secret"])})
    assert status == 200, signed_in
    assert signed_in["user"]["email"] == email
    assert call(api, "GET", "/console/api/me", signed_in["id_token"])[2]["email"] == email


def test_the_authenticator_calls_need_the_users_access_token(stack: Stack, api: LocalApi) -> None:
    # Given a signed-in user (their ID token passes API Gateway's authorizer)
    email = "no-access-token@example.com"
    _, tokens = sign_in(api, {"email": email, "password": new_user(stack, email)})
    # When the access token sent is not one Cognito issued, or the ID token is sent in its place
    for bad in ("not-a-token", tokens["id_token"]):
        status, _, answer = call(
            api, "POST", "/console/api/mfa/setup", tokens["id_token"], {"access_token": bad}
        )
        # Then Cognito refuses it: a 401 (the page signs the user out), nothing is set up
        assert status == 401, answer
    # and without the ID token the front refuses the call before the function runs
    status, _, _ = call(api, "POST", "/console/api/mfa/setup", None, {"access_token": tokens["access_token"]})
    assert status == 401
