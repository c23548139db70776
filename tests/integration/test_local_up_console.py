"""`sluice local up` and the console: its ready line names the console and two users who can sign in,
and the raw bucket answers browsers' CORS preflights for the console's origin only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.conftest import client


def test_the_ready_line_names_the_console_and_its_users_who_can_sign_in(served: dict[str, Any]) -> None:
    # Given the ready line of `sluice local up`
    ready = json.loads(served["ready"])
    console = ready["console"]
    # Then it names the console's page on the local API, and an operator and a viewer with passwords
    assert console["url"] == f"{ready['api_url']}/console"
    users = {user["group"]: user for user in console["users"]}
    assert {group: user["email"] for group, user in users.items()} == {
        "operators": "operator@example.com",
        "viewers": "viewer@example.com",
    }
    assert all(len(user["password"]) >= 12 for user in users.values())
    # And each signs in with Cognito, and its ID token opens the console's API as its group
    cognito = client("cognito-idp", ready["endpoint_url"])
    client_id = ready["outputs"]["ConsoleUserPoolClientId"]
    for group, user in users.items():
        tokens = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user["email"], "PASSWORD": user["password"]},
        )["AuthenticationResult"]
        request = urllib.request.Request(
            f"{ready['api_url']}/console/api/me", headers={"Authorization": tokens["IdToken"]}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            me = json.loads(response.read())
        assert (me["email"], me["groups"]) == (user["email"], [group])
    # And without a token the console's API is refused as API Gateway refuses it
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{ready['api_url']}/console/api/me", timeout=30)
    assert (refused.value.code, json.loads(refused.value.read())) == (401, {"message": "Unauthorized"})


def test_the_raw_bucket_answers_cors_preflights_for_the_console_origin_only(served: dict[str, Any]) -> None:
    # Given the local stack's raw bucket and the console's origin (the local API's)
    ready = json.loads(served["ready"])
    url = f"{ready['endpoint_url']}/{ready['outputs']['RawBucketName']}"

    def preflight(origin: str) -> tuple[int, str | None]:
        request = urllib.request.Request(
            url, method="OPTIONS", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as refused:
            return refused.code, None

    # Then a browser on the console's page may POST; one on another site may not
    assert preflight(ready["api_url"]) == (200, ready["api_url"])
    assert preflight("https://elsewhere.example")[0] == 403
