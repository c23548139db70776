"""Nobody unauthenticated reaches the API: the local front checks SigV4 (ApiAuth=AWS_IAM, the default)
or an API key (ApiAuth=API_KEY) over HTTP before any handler runs, and answers like API Gateway
(403 with a JSON `{"message"}`); only GET /openapi.json is open."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.credentials import Credentials

from sluice.adapters.prediction_api import SignedClient
from sluice.tools.local.api.gateway import LocalApi
from tests.docs_blocks import GETTING_STARTED_AWS, code_blocks, commands, words
from tests.integration.conftest import Stack

TESTING = Credentials("testing", "testing")
MISSING = {"message": "Missing Authentication Token"}


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    """The stack's API in its default mode (the template's ApiAuth default, AWS_IAM)."""
    served = stack.local.serve_api(0)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def keyed(stack: Stack) -> Iterator[LocalApi]:
    """A second front on the same stack, in API_KEY mode."""
    served = stack.local.serve_api(0, auth="API_KEY")
    yield served
    served.stop()


def raw(
    api: LocalApi, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request exactly as given (no signing); the answer's status and JSON body."""
    url = urlsplit(api.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if method == "HEAD":
        return response.status, None
    assert response.getheader("Content-Type") == "application/json", data[:200]
    return response.status, json.loads(data)


def signed(
    api: LocalApi, credentials: Credentials, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    client = SignedClient(api.url, credentials)
    try:
        response = client.request(method, path, body)
    finally:
        client.close()
    assert response.headers["content-type"] == "application/json"
    return response.status, response.json()


# ---------------------------------------------------------------------------------------------- SigV4
def test_ready_mode_is_the_templates_default(stack: Stack) -> None:
    assert stack.local.api_auth == "AWS_IAM"
    assert stack.local.credentials == {"access_key_id": "testing", "secret_access_key": "testing"}


def test_an_unsigned_request_is_refused_before_the_handler(api: LocalApi) -> None:
    # When a request carries no signature / Then 403 with API Gateway's message, as JSON
    assert raw(api, "GET", "/models") == (403, MISSING)
    status, body = raw(
        api, "POST", "/models/any/predict", b'{"instances": [{}]}', {"Content-Type": "application/json"}
    )
    assert (status, body) == (403, MISSING)


def test_a_correctly_signed_request_reaches_the_handler(api: LocalApi) -> None:
    status, body = signed(api, TESTING, "GET", "/models")
    assert status == 200 and isinstance(body["models"], list)
    # And a signed POST reaches it too (no such model: the handler's 404, not the front's 403)
    status, body = signed(api, TESTING, "POST", "/models/nobody/predict", {"instances": [{"x": 1}]})
    assert status == 404 and "no model named" in body["error"]
    # And temporary credentials (a session token, signed as X-Amz-Security-Token) are accepted
    assert signed(api, Credentials("testing", "testing", "session-token"), "GET", "/models")[0] == 200


def test_a_wrong_secret_or_an_unknown_key_is_refused(api: LocalApi) -> None:
    status, body = signed(api, Credentials("testing", "not-the-secret"), "GET", "/models")
    assert status == 403 and body["message"].startswith("The request signature we calculated does not match")
    status, body = signed(api, Credentials("AKIAUNKNOWN", "testing"), "GET", "/models")
    assert (status, body) == (403, {"message": "The security token included in the request is invalid."})


def test_a_stale_signature_is_refused(api: LocalApi, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a request signed correctly but 6 minutes ago (botocore reads its clock from this function)
    six_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=6)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *_: six_minutes_ago)
    # Then it is refused as expired
    status, body = signed(api, TESTING, "GET", "/models")
    assert status == 403 and body["message"].startswith("Signature expired")


def test_a_tampered_body_or_path_is_refused(api: LocalApi) -> None:
    # Given the headers of a correctly signed request
    client = SignedClient(api.url, TESTING)
    body = b'{"instances": [{"income": 1}]}'
    headers = client.signed_headers(
        "POST", "/models/nobody/predict", body, {"Content-Type": "application/json"}
    )
    # When they are sent as signed / Then the request passes (the handler's 404)
    assert raw(api, "POST", "/models/nobody/predict", body, headers)[0] == 404
    # When the body or the path is changed on the way / Then the signature no longer matches
    tampered = body.replace(b"1", b"9")
    for path, data in (("/models/nobody/predict", tampered), ("/models/other/predict", body)):
        status, answer = raw(api, "POST", path, data, headers)
        assert status == 403 and "signature we calculated does not match" in answer["message"]


def test_openapi_is_open_and_unknown_routes_and_methods_answer_like_api_gateway(api: LocalApi) -> None:
    # /openapi.json needs no signature
    status, document = raw(api, "GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    # A path or a method without a route: 403 Missing Authentication Token, JSON, never 404/501 HTML
    for method, path in [("GET", "/nowhere"), ("DELETE", "/models"), ("POST", "/openapi.json")]:
        assert raw(api, method, path) == (403, MISSING), (method, path)
    for method in ("OPTIONS", "TRACE", "FOO", "PATCH"):
        assert raw(api, method, "/models/x/predict") == (403, MISSING), method
    assert raw(api, "HEAD", "/models")[0] == 403
    # Even when signed
    assert signed(api, TESTING, "GET", "/nowhere") == (403, MISSING)


def test_malformed_http_is_answered_in_json(api: LocalApi) -> None:
    status, body = raw(api, "POST", "/models", b"{}", {"Content-Length": "not-a-number"})
    assert status == 400 and "Content-Length" in body["message"]


def documented_curl(block: int, variables: dict[str, str], url: str) -> list[str]:
    """The curl command of Getting started on AWS's `block`-th shell block, as a shell would run it with
    `variables` set, the stack's PredictionApiUrl output filled in and its region; `-s` added."""
    found = [c for c in commands(code_blocks(GETTING_STARTED_AWS, "bash")[block]) if c.startswith("curl ")]
    assert len(found) == 1, found
    argv = [
        re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], word).replace("<PredictionApiUrl>", url)
        for word in words(found[0])
    ]
    # the page's example region is the deployed stack's; the local stack's is us-east-1
    argv = [re.sub(r"^aws:amz:[a-z0-9-]+:", "aws:amz:us-east-1:", word) for word in argv]
    return ["curl", "-s", *argv[1:]]


def run_documented(argv: list[str], folder: Path) -> dict[str, Any]:
    (folder / "request.json").write_text(json.dumps({"instances": [{"income": 52000}]}))
    done = subprocess.run(argv, capture_output=True, check=True, cwd=folder)
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_the_documented_curl_command_is_accepted(api: LocalApi, tmp_path: Path) -> None:
    # When Getting started on AWS's `curl --aws-sigv4` command is run against the local API, with the
    # stack's credentials and with a wrong secret
    right = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    wrong = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "nope"}
    served = run_documented(documented_curl(1, right, api.url), tmp_path)
    refused = run_documented(documented_curl(1, wrong, api.url), tmp_path)

    # Then the right pair reaches the handler (it answers about the model: API Gateway's 403 has only a
    # message) and a wrong one is refused by the signature check
    assert "error" in served or "predictions" in served, served
    assert "signature we calculated does not match" in refused["message"]


def test_the_documented_api_key_command_is_accepted(keyed: LocalApi, stack: Stack, tmp_path: Path) -> None:
    # Given the key `aws apigateway get-api-key` reads on AWS (the page's first command sets KEY)
    block = code_blocks(GETTING_STARTED_AWS, "bash")[2]
    assert commands(block)[0].startswith("'KEY=$(aws' apigateway get-api-key")

    # When the page's curl command runs with that key, and with a wrong one
    served = run_documented(documented_curl(2, {"KEY": stack.local.api_key}, keyed.url), tmp_path)
    refused = run_documented(documented_curl(2, {"KEY": "not-the-key"}, keyed.url), tmp_path)

    # Then the stack's key reaches the handler and another is refused as API Gateway refuses it
    assert "error" in served or "predictions" in served, served
    assert refused == {"message": "Forbidden"}


# ---------------------------------------------------------------------------------------------- API key
def test_api_key_mode_needs_the_stacks_key(keyed: LocalApi, stack: Stack) -> None:
    key = stack.local.api_key
    assert len(key) >= 20
    # No key, a wrong key, or only a SigV4 signature: API Gateway's 403 Forbidden
    assert raw(keyed, "GET", "/models") == (403, {"message": "Forbidden"})
    assert raw(keyed, "GET", "/models", headers={"x-api-key": key[:-1] + "x"}) == (
        403,
        {"message": "Forbidden"},
    )
    assert signed(keyed, TESTING, "GET", "/models") == (403, {"message": "Forbidden"})
    # The right key passes, and /openapi.json stays open
    client = SignedClient(keyed.url, api_key=key)
    try:
        response = client.request("GET", "/models")
    finally:
        client.close()
    assert response.status == 200 and "models" in response.json()
    assert raw(keyed, "GET", "/openapi.json")[0] == 200
