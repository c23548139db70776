"""Two-step sign-in through the console's handler app on the project's in-memory ports: the sign-in's
SOFTWARE_TOKEN_MFA challenge and its code, and setting up an authenticator app with the user's access
token (in the body), on a pool that offers it (ConsoleMfa OPTIONAL) and on one that does not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluice.app.console.access import otpauth_uri
from sluice.errors import CodeRequired, InvalidRequest, SignInFailed
from tests.unit.app.test_console import OPERATOR_SUB, FakeAccounts, as_group
from tests.unit.app.test_console import console as console  # the fixture, with `accounts` below


class FakeTwoStepAccounts(FakeAccounts):
    """A pool with two-step sign-in (`mfa`), whose user has an authenticator once `confirm_authenticator`
    took the code "123456"; the password "two-step" then asks for the code."""

    def __init__(self, mfa: str = "OPTIONAL") -> None:
        self.mfa = mfa
        self.enabled = False

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        if password == "two-step":
            raise CodeRequired(
                "Enter the 6-digit code your authenticator app shows.", "the-code-session-of-cognito"
            )
        return super().sign_in(email, password)

    def answer_code(self, email: str, code: str, session: str) -> dict[str, Any]:
        if (code, session) != ("123456", "the-code-session-of-cognito"):
            raise SignInFailed("That code is not right.")
        return super().sign_in(email, "right")

    def authenticator_enabled(self, access_token: str) -> bool:
        return self.enabled

    def start_authenticator(self, access_token: str) -> str:
        return "JBSWY3DPEHPK3PXP"

    def confirm_authenticator(self, access_token: str, code: str, device: str) -> None:
        if code != "123456":
            raise InvalidRequest("that code is not right", [{"field": "code", "message": "wrong"}])
        self.enabled = True


@pytest.fixture
def accounts() -> FakeTwoStepAccounts:
    return FakeTwoStepAccounts()


def post(console: Any, path: str, body: dict[str, Any], **changes: Any) -> tuple[int, Any]:
    status, _, answer = console("console-me", httpMethod="POST", path=path, body=json.dumps(body), **changes)
    return status, answer


def test_sign_in_asks_for_the_authenticator_code_and_the_code_completes_it(console: Any) -> None:
    # Given an account with an authenticator app: its password answers 409 with the challenge
    status, challenge = post(
        console, "/console/api/sign-in", {"email": "op@example.com", "password": "two-step"}
    )
    assert (status, challenge["challenge"], challenge["session"]) == (
        409,
        "SOFTWARE_TOKEN_MFA",
        "the-code-session-of-cognito",
    )
    answer = {"email": "op@example.com", "session": "the-code-session-of-cognito"}
    # When the code is wrong, not 6 digits, or sent without a session
    assert post(console, "/console/api/sign-in", answer | {"code": "654321"})[0] == 401
    status, body = post(console, "/console/api/sign-in", answer | {"code": "12 34"})
    assert (status, body["details"][0]["field"]) == (400, "code")
    assert post(console, "/console/api/sign-in", {"email": "op@example.com", "code": "123456"})[0] == 400
    status, body = post(console, "/console/api/sign-in", answer | {"code": "123456", "session": "short"})
    assert (status, body["details"][0]["field"]) == (400, "session")  # Cognito's are 20 to 4096 long
    # Then the right code signs in (spaces as apps show them are fine)
    status, signed_in = post(console, "/console/api/sign-in", answer | {"code": "123 456"})
    assert status == 200 and signed_in["user"]["sub"] == OPERATOR_SUB


def test_a_user_in_no_group_sets_up_two_step_sign_in(console: Any) -> None:
    # Given a signed-in user in no group (looking after their own sign-in needs none)
    nobody = as_group("console-me", "")
    assert console("console-me", **nobody)[2]["mfa"] == "OPTIONAL"
    token = {"access_token": "the-access-token"}
    assert post(console, "/console/api/mfa", token, **nobody) == (200, {"available": True, "enabled": False})
    # When they set up an app
    status, setup = post(console, "/console/api/mfa/setup", token, **nobody)
    # Then they get the key and its otpauth:// URI; a wrong code leaves it off, the right one turns it on
    assert (status, setup["secret"]) == (200, "JBSWY3DPEHPK3PXP")
    assert setup["uri"] == otpauth_uri("JBSWY3DPEHPK3PXP", "operator@example.com")
    assert post(console, "/console/api/mfa/verify", token | {"code": "000000"}, **nobody)[0] == 400
    assert post(console, "/console/api/mfa/verify", token | {"code": "123456"}, **nobody) == (
        200,
        {"available": True, "enabled": True},
    )
    assert post(console, "/console/api/mfa", token, **nobody)[1]["enabled"] is True


@pytest.mark.parametrize("accounts", [FakeTwoStepAccounts(mfa="OFF")])
def test_a_pool_without_two_step_sign_in_offers_none(console: Any) -> None:
    token = {"access_token": "the-access-token"}
    assert console("console-me")[2]["mfa"] == "OFF"
    assert post(console, "/console/api/mfa", token) == (200, {"available": False, "enabled": False})
    status, refused = post(console, "/console/api/mfa/setup", token)
    assert status == 409 and "ConsoleMfa is OFF" in refused["error"]
    assert post(console, "/console/api/mfa/verify", token | {"code": "123456"})[0] == 409


def test_the_access_token_travels_in_the_body_only(console: Any) -> None:
    # A call without it, or with it in the query string, is a 400 naming the field
    assert post(console, "/console/api/mfa/setup", {})[1]["details"][0]["field"] == "access_token"
    status, _, _ = console(
        "console-me",
        httpMethod="POST",
        path="/console/api/mfa/setup",
        queryStringParameters={"access_token": "x"},
        body="",
    )
    assert status == 400


def test_the_otpauth_uri_names_the_issuer_and_the_account() -> None:
    uri = otpauth_uri("ABC DEF", "ann+ops@example.com")
    assert (
        uri
        == "otpauth://totp/Sluice%20console:ann%2Bops@example.com?secret=ABC%20DEF&issuer=Sluice%20console"
    )
