"""The console's API on the local stack, through the local API front with real Cognito ID tokens: a
viewer refused, an operator's approve / reject / roll back / retrain recorded with their email and
Cognito sub, an upload sent as the browser sends it (the pre-signed POST) then followed to its dataset
or its quarantine report, and the page's headers and assets."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from sluice.domain.registry.records import EventType, VersionStatus
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import Stack
from tests.integration.live_rollout import train_quietly, with_rollout
from tests.integration.scenario import BETTER, FIRST
from tests.integration.test_manual_approval import POLL_LIMIT_SECONDS, upload_and_await_approval, upload_spec

MODEL = "it-console"


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    served = stack.local.serve_api(0)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    return {group: stack.local.console_id_token(group) for group in ("operators", "viewers")}


def call(
    api: LocalApi, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """One request to the front: status, headers, the body (JSON when it is)."""
    url = urlsplit(api.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    headers = {"Authorization": token} if token else {}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    is_json = answer_headers.get("content-type", "").startswith("application/json")
    return response.status, answer_headers, json.loads(raw) if is_json else raw.decode()


def sub_of(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def test_a_viewer_is_refused_an_operator_approves_rolls_back_retrains_and_rejects(
    stack: Stack, api: LocalApi, tokens: dict[str, str]
) -> None:
    # Given version 1 in production and version 2 waiting for approval (a manual rollout)
    train_quietly(stack, MODEL, FIRST)
    upload_spec(stack, MODEL, with_rollout(MODEL, "{mode: manual, timeout_hours: 1}"))
    upload_and_await_approval(stack, MODEL, BETTER, 2)
    events_before = len(stack.registry.list_events(MODEL))

    # When a viewer approves it: 403 naming the action and their group, and nothing changes
    status, _, body = call(
        api, "POST", f"/console/api/models/{MODEL}/versions/2/approve", tokens["viewers"], {}
    )
    assert status == 403
    assert body["error"] == "Approving needs the operators or admins group; you are in viewers."
    assert stack.registry.get_version(MODEL, 2).status is VersionStatus.PENDING_APPROVAL
    assert len(stack.registry.list_events(MODEL)) == events_before

    # The model's page shows the run waiting for approval, and a viewer may do nothing
    status, _, page = call(api, "GET", f"/console/api/models/{MODEL}", tokens["viewers"])
    assert status == 200, page
    assert page["pending_version"] == 2
    assert {"name": "Waiting for approval", "state": "waiting", "detail": None} in page["run"]["steps"]
    assert page["actions"] == {"approve": None, "reject": None, "rollback": False, "retrain": False}
    # The card is production's (version 1); version 2's facts are in the decision, beside version 1's
    assert (page["card"]["version"], page["card"]["status"]) == (1, "production")
    assert "Version 1 is in production: it answers prediction requests." in page["card"]["sentences"]
    decision = page["decision"]
    assert (decision["version"], decision["production_version"]) == (2, 1)
    assert any("waits for a person's approval" in s for s in decision["sentences"])
    assert any(m["version"] is not None and m["production"] is not None for m in decision["metrics"])
    assert decision["approving"].startswith("Approving puts version 2 in production in place of version 1")
    status, _, listing = call(api, "GET", "/console/api/models", tokens["viewers"])
    mine = next(m for m in listing["models"] if m["name"] == MODEL)
    assert "Version 2 is waiting for approval." in mine["attention"]

    # When an operator approves it
    status, _, event = call(
        api,
        "POST",
        f"/console/api/models/{MODEL}/versions/2/approve",
        tokens["operators"],
        {"reason": "card read"},
    )
    assert status == 200, event
    stack.settle()
    # Then version 2 is promoted, and the audit trail names the operator by email and Cognito sub
    assert stack.registry.get_alias(MODEL).version == 2  # type: ignore[union-attr]
    approved = next(e for e in stack.registry.list_events(MODEL) if e.type is EventType.APPROVED)
    assert approved.by_email == "operator@example.com"
    assert approved.by is not None and approved.by.endswith(":" + sub_of(tokens["operators"]))
    # And the page read again shows version 2's card as production's, no sentence still waiting
    status, _, page = call(api, "GET", f"/console/api/models/{MODEL}", tokens["viewers"])
    assert (page["card"]["version"], page["card"]["status"], page["decision"]) == (2, "production", None)
    assert not any("approval" in s for s in page["card"]["sentences"])

    # When the operator rolls back: version 1 is back, recorded as them
    status, _, event = call(api, "POST", f"/console/api/models/{MODEL}/rollback", tokens["operators"], {})
    assert status == 200, event
    assert (event["type"], event["to_version"], event["by_email"]) == (
        "rolled_back",
        1,
        "operator@example.com",
    )
    assert stack.registry.get_alias(MODEL).version == 1  # type: ignore[union-attr]

    # When the operator retrains it: a new run, which waits for approval (the manual rollout)
    before = max(v.version for v in stack.registry.list_versions(MODEL))
    status, _, body = call(api, "POST", f"/console/api/models/{MODEL}/retrain", tokens["operators"], {})
    assert status == 200, body
    assert body["execution"].startswith("arn:aws:states:")

    def waiting() -> int | None:
        newer = [v for v in stack.registry.list_versions(MODEL) if v.version > before]
        return newer[0].version if newer and newer[0].status is VersionStatus.PENDING_APPROVAL else None

    version = stack.local.wait_until(
        waiting, what="the retrained version to wait", timeout=POLL_LIMIT_SECONDS
    )
    # Then a rejection needs a reason, and with one ends the run
    status, _, body = call(
        api,
        "POST",
        f"/console/api/models/{MODEL}/versions/{version}/reject",
        tokens["operators"],
        {"reason": " "},
    )
    assert status == 400 and body["details"][0]["field"] == "reason"
    status, _, body = call(
        api,
        "POST",
        f"/console/api/models/{MODEL}/versions/{version}/reject",
        tokens["operators"],
        {"reason": "not this week"},
    )
    assert status == 200, body
    assert body["by_email"] == "operator@example.com"
    stack.settle()
    assert stack.registry.get_version(MODEL, version).status is VersionStatus.REJECTED


def test_a_drift_check_reads_in_the_console_as_the_report_words_it(
    stack: Stack, api: LocalApi, tokens: dict[str, str]
) -> None:
    import yaml

    from sluice.tools.example_data import credit_risk
    from tests.integration.live_rollout import instances_and_labels
    from tests.integration.served_traffic import scheduled_check, serve_and_label

    # Given the module's model in production (trained here when this test runs alone)
    if stack.registry.get_alias(MODEL) is None:
        train_quietly(stack, MODEL, FIRST)
    production = stack.registry.get_alias(MODEL).version  # type: ignore[union-attr]
    # And requests through PredictFunction, a third of them labelled by feedback
    instances, labels = instances_and_labels(credit_risk(120, seed=905))
    serve_and_label(stack, MODEL, instances, labels)
    # When the scheduled drift check runs through DriftFunction
    check = scheduled_check(stack, MODEL)
    assert check["status"] == "ok", check
    s3 = stack.client("s3")
    bucket = stack.outputs["ArtifactBucketName"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"drift/{MODEL}/")["Contents"]]
    report = json.loads(
        s3.get_object(Bucket=bucket, Key=max(k for k in keys if k.endswith(".json")))["Body"].read()
    )
    spec = yaml.safe_load(stack.artifacts.get_bytes(stack.registry.current_spec(MODEL).uri))  # type: ignore[union-attr]

    # Then the models list answers the check's headline, when, and the live metric beside its gate
    status, _, listing = call(api, "GET", "/console/api/models", tokens["viewers"])
    assert status == 200, listing
    mine = next(m for m in listing["models"] if m["name"] == MODEL)
    headline = report["explanation"]["headline"] if report.get("explanation") else mine["drift"]
    assert mine["drift"] == headline and isinstance(headline, str) and headline
    assert mine["checked_at"] is not None
    metric = spec["metric"]
    assert mine["live_metric"] == {
        "name": metric,
        "value": report["live_metric"][metric],
        "gate": spec["gates"]["min_metric"],
    }
    assert report["live_metric"]["labelled_rows"] == len(range(0, len(instances), 3))
    # And the model's page answers the drift and data-quality sentences and production's card in words
    status, _, page = call(api, "GET", f"/console/api/models/{MODEL}", tokens["viewers"])
    assert status == 200, page
    assert page["drift"][0] == headline
    assert page["data_quality"] == [str(s) for s in report["data_quality"]["summary"]]
    assert page["data_quality"], report["data_quality"]
    assert (page["card"]["version"], page["card"]["status"]) == (production, "production")
    assert (
        page["card"]["sentences"][-1]
        == f"Version {production} is in production: it answers prediction requests."
    )
    assert len(page["card"]["sentences"]) >= 3


def send_as_the_browser(answer: dict[str, Any], data: bytes) -> int:
    response = requests.post(
        answer["url"], data=answer["fields"], files={"file": ("data.csv", data)}, timeout=60
    )
    return response.status_code


def test_an_upload_for_a_new_model_goes_straight_to_s3_and_trains(
    stack: Stack, api: LocalApi, tokens: dict[str, str]
) -> None:
    # Given the columns of a CSV, read from its first lines
    status, _, columns = call(
        api,
        "POST",
        "/console/api/columns",
        tokens["operators"],
        {"file_name": "first.csv", "sample": FIRST[1][:4000].decode().rsplit("\n", 1)[0]},
    )
    assert status == 200, columns
    assert next(c for c in columns["columns"] if c["name"] == "default")["can_predict"]
    # When an operator starts a new model's upload and the browser POSTs the file
    request = {
        "model": "it-console-new",
        "file_name": "first.csv",
        "size": len(FIRST[1]),
        "target": "default",
    }
    status, _, answer = call(api, "POST", "/console/api/uploads", tokens["operators"], request)
    assert status == 200, answer
    assert send_as_the_browser(answer, FIRST[1]) in (200, 201, 204)
    stack.settle()
    # Then the upload is accepted, with its dataset and its training run
    status, _, state = call(api, "GET", f"/console/api/uploads?key={answer['key']}", tokens["viewers"])
    assert status == 200, state
    assert state["state"] == "accepted" and state["dataset_sha256"] and state["execution"]
    # And the same name again is a conflict
    assert call(api, "POST", "/console/api/uploads", tokens["operators"], request)[0] == 409


def test_a_bad_upload_shows_its_quarantine_report(
    stack: Stack, api: LocalApi, tokens: dict[str, str]
) -> None:
    from tests.integration.conftest import spec_text

    stack.upload("it-console-bad/spec.yaml", spec_text("it-console-bad").encode())
    stack.settle()
    text = FIRST[1].decode().splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("age")] = "<script>alert(1)</script>"
    bad = "\n".join([text[0], ",".join(row), *text[2:50]]).encode()
    request = {"model": "it-console-bad", "file_name": "bad.csv", "size": len(bad)}
    status, _, answer = call(api, "POST", "/console/api/uploads", tokens["operators"], request)
    assert status == 200, answer
    assert send_as_the_browser(answer, bad) in (200, 201, 204)
    stack.settle()
    status, _, state = call(api, "GET", f"/console/api/uploads?key={answer['key']}", tokens["operators"])
    assert state["state"] == "quarantined", state
    assert {k: state["report"]["problems"][0][k] for k in ("row", "column")} == {"row": 1, "column": "age"}
    # And the report is one sentence in plain words, with no statistics of the columns
    assert state["report"]["summary"] == (
        '1 row of bad.csv cannot be used: column "age" has text where a number is expected '
        '(such as "<script>alert(1)</script>") in row 1.'
    )


def test_the_page_and_its_assets(api: LocalApi) -> None:
    status, headers, body = call(api, "GET", "/console")
    assert status == 200
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self';" in headers["content-security-policy"]
    assert 'data-base="/console"' in body
    assert call(api, "GET", "/console/assets/console.js")[0] == 200
    assert call(api, "GET", "/console/assets/app.py")[0] == 404


def test_sign_in_answers_a_token_refuses_a_wrong_password_and_never_logs_it(
    stack: Stack, api: LocalApi
) -> None:
    viewer = next(u for u in stack.local.console_users() if u["group"] == "viewers")
    # When the viewer signs in with their password
    status, _, body = call(
        api, "POST", "/console/api/sign-in", body={"email": viewer["email"], "password": viewer["password"]}
    )
    # Then an ID token the API accepts, and who they are
    assert status == 200, body
    assert body["user"]["groups"] == ["viewers"] and body["expires_in"] > 0
    assert call(api, "GET", "/console/api/me", body["id_token"])[2]["email"] == viewer["email"]
    # A wrong password is a 401 in words, the same as an unknown email
    wrong = call(
        api, "POST", "/console/api/sign-in", body={"email": viewer["email"], "password": "Wrong-pass-1"}
    )
    unknown = call(
        api, "POST", "/console/api/sign-in", body={"email": "nobody@example.com", "password": "Wrong-pass-1"}
    )
    assert wrong[0] == unknown[0] == 401
    assert wrong[2]["error"] == unknown[2]["error"] == "That email and password do not match an account."
    # and the function's log holds no password
    assert viewer["password"] not in stack.local.function_log("ConsoleFunction")


def test_a_temporary_password_asks_for_a_new_one_then_signs_in(stack: Stack, api: LocalApi) -> None:
    # Given a user an administrator created with a temporary password
    pool = stack.local.physical["ConsoleUserPool"]
    idp = stack.client("cognito-idp")
    email = "new-operator@example.com"
    idp.admin_create_user(
        UserPoolId=pool,
        Username=email,
        TemporaryPassword="Temporary-Pass-1",
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName="operators")
    # When they sign in with it: 409, the challenge and its session
    status, _, body = call(
        api, "POST", "/console/api/sign-in", body={"email": email, "password": "Temporary-Pass-1"}
    )
    assert status == 409, body
    assert body["challenge"] == "NEW_PASSWORD_REQUIRED" and body["session"]
    # Then the new password with the session signs them in
    status, _, done = call(
        api,
        "POST",
        "/console/api/sign-in",
        body={"email": email, "new_password": "Chosen-Pass-2024!", "session": body["session"]},
    )
    assert status == 200, done
    assert done["user"]["email"] == email and done["user"]["groups"] == ["operators"]
