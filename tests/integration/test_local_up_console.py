"""`sluice local up` and the console: its ready line names the console and two users who can sign in,
the raw bucket answers browsers as S3 does (CORS for the console's origin and POST only), and
`sluice invoke` runs the console's function."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.conftest import ROOT, SLUICE, client


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

    def preflight(origin: str, method: str = "POST") -> tuple[int, str | None]:
        request = urllib.request.Request(
            url, method="OPTIONS", headers={"Origin": origin, "Access-Control-Request-Method": method}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as refused:
            return refused.code, None

    # Then a browser on the console's page may POST; one on another site may not
    assert preflight(ready["api_url"]) == (200, ready["api_url"])
    assert preflight("https://elsewhere.example")[0] == 403
    # and not with another method, even from the console's origin
    assert preflight(ready["api_url"], "PUT")[0] == 403
    assert preflight(ready["api_url"], "DELETE")[0] == 403


def test_a_browser_upload_by_pre_signed_post_is_readable_by_the_console_origin_only(
    served: dict[str, Any],
) -> None:
    # Given a pre-signed POST for the raw bucket (as the console's function signs one)
    ready = json.loads(served["ready"])
    s3 = client("s3", ready["endpoint_url"])
    bucket = ready["outputs"]["RawBucketName"]
    post = s3.generate_presigned_post(bucket, "cors-check/data/cors.csv")

    def upload(origin: str) -> tuple[int, str | None, str | None]:
        boundary = "sluice-cors-boundary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in post["fields"].items()
        ]
        body = (
            "".join(parts).encode()
            + (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cors.csv"\r\n'
                f"Content-Type: text/csv\r\n\r\na,b\r\n1,2\r\n\r\n--{boundary}--\r\n"
            ).encode()
        )
        request = urllib.request.Request(
            post["url"],
            data=body,
            method="POST",
            headers={"Origin": origin, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                response.headers.get("Access-Control-Allow-Origin"),
                response.headers.get("Vary"),
            )

    # When a page on the console's origin posts a file, and a page elsewhere posts one
    status, allowed, vary = upload(ready["api_url"])
    elsewhere = upload("https://elsewhere.example")

    # Then both land (the signed policy authorises an upload, not CORS), but only the console's page
    # may read the answer, as S3 says: its own origin, never "*"
    assert status == 204 and (allowed, vary) == (ready["api_url"], "Origin")
    assert elsewhere[0] == 204 and elsewhere[1] is None
    assert s3.get_object(Bucket=bucket, Key="cors-check/data/cors.csv")["Body"].read() == b"a,b\r\n1,2\r\n"


def test_sluice_invoke_runs_the_console_function_of_the_served_stack_with_its_event(
    served: dict[str, Any],
) -> None:
    # Given the served stack (its user pool created outside CloudFormation)
    endpoint = json.loads(served["ready"])["endpoint_url"]
    event = json.loads((ROOT / "events" / "console-me.json").read_text())
    claims = event["requestContext"]["authorizer"]["claims"]

    # When `sluice invoke ConsoleFunction -e events/console-me.json` runs against it
    attach = ("--endpoint-url", endpoint, "--root", str(ROOT))
    result = subprocess.run(
        [SLUICE, "invoke", "ConsoleFunction", "-e", str(ROOT / "events" / "console-me.json"), *attach],
        capture_output=True,
        text=True,
        env=dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x"),
        check=False,
    )

    # Then the function answers who the event's claims say is signed in
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["email"] == claims["email"]
