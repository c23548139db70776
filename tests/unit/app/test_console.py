"""The console's API through its handler's app (sluice.entrypoints.console) on the project's in-memory
ports: identity from the verified claims, groups enforced on the server, actions recorded with the
user's email and Cognito sub, the page's security headers and the assets' allow-list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from sluice.app.console.ports import ConsoleDeps, ConsoleLimits
from sluice.domain.registry.identity import ConsoleUser, Principal, groups_of
from sluice.domain.registry.incidents import Incident, IncidentKind, IncidentState
from sluice.domain.registry.records import EventType, VersionStatus
from sluice.entrypoints.console import create_console_app
from sluice.entrypoints.wiring import Wired
from sluice.errors import NewPasswordRequired, SignInFailed
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_rollout import TOKEN, awaiting
from tests.unit.app.test_steps import MODEL
from tests.unit.entrypoints.api_events import api_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

STATIC = Path(__file__).parents[3] / "functions" / "console" / "static"
OPERATOR_SUB = "7d8c4f2e-1b3a-4c5d-9e6f-0a1b2c3d4e5f"


class FakeUploads:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def exists(self, key: str) -> bool:
        return key in self.objects

    def put_text(self, key: str, text: str) -> None:
        self.objects[key] = text

    def presigned_post(self, key: str, max_bytes: int, expires_seconds: int) -> dict[str, Any]:
        return {"url": "https://raw.s3.amazonaws.com/", "fields": {"key": key, "policy": f"<={max_bytes}"}}

    def post_origin(self) -> str:
        return "https://raw.s3.amazonaws.com"


class FakeRuns:
    def describe(self, arn: str) -> dict[str, Any]:
        return {"status": "RUNNING", "startDate": "2026-12-07T20:00:00Z"}

    def history(self, arn: str) -> list[dict[str, Any]]:
        names = [
            "AllocateVersion",
            "Train",
            "ExportAndCheckParity",
            "Evaluate",
            "Gate",
            "PlanRollout",
            "AwaitApproval",
        ]
        return [{"stateEnteredEventDetails": {"name": n}} for n in names]


class FakeAccounts:
    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        if password == "temporary":
            raise NewPasswordRequired("Choose a new password to finish signing in.", "the-session")
        if password != "right":
            raise SignInFailed("That email and password do not match an account.")
        claims = {
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123",
            "sub": OPERATOR_SUB,
        }
        return {
            "id_token": "a.b.c",
            "expires_in": 3600,
            "claims": claims | {"email": email, "cognito:groups": "operators"},
        }

    def new_password(self, email: str, new_password: str, session: str) -> dict[str, Any]:
        return self.sign_in(email, "right")

    # A pool without two-step sign-in (ConsoleMfa OFF): test_console_two_step.py has one with it.
    mfa = "OFF"

    def answer_code(self, email: str, code: str, session: str) -> dict[str, Any]:
        raise SignInFailed("That code is not right.")

    def authenticator_enabled(self, access_token: str) -> bool:
        return False

    def start_authenticator(self, access_token: str) -> str:
        raise AssertionError("a pool without two-step sign-in is not asked for a secret")

    def confirm_authenticator(self, access_token: str, code: str, device: str) -> None:
        raise AssertionError("a pool without two-step sign-in is not asked to check a code")


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts()


@pytest.fixture
def console(fakes: FakePorts, accounts: FakeAccounts) -> Any:
    """A request to the console app as events/<name>.json with `changes`: (status, headers, body)."""
    deps = ConsoleDeps(
        registry=fakes.registry,
        artifacts=fakes.artifacts,
        notifier=fakes.notifier,
        traffic=fakes.traffic,
        executions=fakes.executions,
        uploads=FakeUploads(),
        runs=FakeRuns(),
        accounts=accounts,
    )
    function = Wired(deps=deps, limits=ConsoleLimits(max_upload_bytes=1000))
    app = create_console_app(lambda: function, STATIC)

    def call(name: str, **changes: Any) -> tuple[int, dict[str, str], Any]:
        answer = app.resolve(api_event(name, **changes), cast("LambdaContext", None))
        body = answer["body"]
        headers = answer.get("headers") or {k: v[-1] for k, v in answer["multiValueHeaders"].items()}
        is_json = headers.get("Content-Type", "").startswith("application/json")
        return answer["statusCode"], headers, json.loads(body) if is_json else body

    return call


def as_group(name: str, groups: str) -> dict[str, Any]:
    """The changes that make events/<name>.json come from a user in `groups`."""
    context = api_event(name)["requestContext"]
    claims = dict(context["authorizer"]["claims"]) | {"cognito:groups": groups}
    return {"requestContext": context | {"authorizer": {"claims": claims}}}


def test_groups_claim_is_read_as_api_gateway_passes_it() -> None:
    assert groups_of("admins,operators") == ("admins", "operators")
    assert groups_of("[operators viewers]") == ("operators", "viewers")
    assert groups_of("") == ()
    # the token as Cognito issued it (the sign-in reads it) holds a list
    issued = {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123", "sub": OPERATOR_SUB}
    user = ConsoleUser.of_claims(issued | {"email": "a@example.com", "cognito:groups": ["viewers", "admins"]})
    assert user.groups == ("admins", "viewers")


def test_a_console_user_is_recorded_by_pool_and_sub_with_email_never_a_free_name() -> None:
    user = ConsoleUser.of_claims(
        json.loads(Path("events/console-me.json").read_text())["requestContext"]["authorizer"]["claims"]
    )
    assert user.principal.arn == f"cognito:us-east-1_AbCdEf123:{OPERATOR_SUB}"
    assert (user.email, user.sub, user.can_act) == ("operator@example.com", OPERATOR_SUB, True)
    with pytest.raises(ValueError, match="not an AWS principal ARN"):
        Principal("alice")
    with pytest.raises(ValueError, match="not a Cognito user pool's issuer"):
        Principal.console_user("https://evil.example.com/pool_x", OPERATOR_SUB, "a@b.c")


def test_me_answers_who_the_claims_name(console: Any) -> None:
    status, _, body = console("console-me")
    assert status == 200
    assert body == {
        "email": "operator@example.com",
        "sub": OPERATOR_SUB,
        "groups": ["operators"],
        "can_act": True,
        "mfa": "OFF",
    }


def test_a_request_without_claims_is_401(console: Any) -> None:
    event = api_event("console-me")
    status, _, _ = console(
        "console-me", requestContext={k: v for k, v in event["requestContext"].items() if k != "authorizer"}
    )
    assert status == 401


def test_a_user_in_no_group_is_refused_the_models(console: Any) -> None:
    status, _, body = console("console-models", **as_group("console-models", ""))
    assert status == 403
    assert (
        body["error"] == "Reading models needs the viewers, operators or admins group; you are in no group."
    )


def test_a_viewers_approve_is_403_and_nothing_changes(console: Any, fakes: FakePorts) -> None:
    # Given a version waiting for approval
    run = awaiting(fakes)
    events_before = len(fakes.registry.list_events(MODEL))
    # When a viewer approves it
    status, _, body = console(
        "console-approve-viewer", path=f"/console/api/models/{MODEL}/versions/{run.version}/approve"
    )
    # Then 403 naming the action and their group; the run still waits, nothing recorded
    assert status == 403
    assert body["error"] == "Approving needs the operators or admins group; you are in viewers."
    assert fakes.executions.answers == []
    assert len(fakes.registry.list_events(MODEL)) == events_before


def test_an_operators_approve_answers_the_run_and_records_email_and_sub(
    console: Any, fakes: FakePorts
) -> None:
    run = awaiting(fakes)
    status, _, body = console(
        "console-approve-viewer",
        path=f"/console/api/models/{MODEL}/versions/{run.version}/approve",
        **as_group("console-approve-viewer", "operators"),
    )
    assert status == 200, body
    assert body["type"] == "approved"
    assert (
        body["by"].endswith(":2b9e1d4c-5a6f-4b7c-8d9e-0f1a2b3c4d5e")
        and body["by_email"] == "viewer@example.com"
    )
    ((token, answer),) = fakes.executions.answers
    assert token == TOKEN and answer["success"]["by_email"] == "viewer@example.com"
    approved = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.APPROVED]
    assert approved[0].by_email == "viewer@example.com"


def test_reject_needs_a_reason(console: Any, fakes: FakePorts) -> None:
    run = awaiting(fakes)
    status, _, body = console(
        "console-approve-viewer",
        path=f"/console/api/models/{MODEL}/versions/{run.version}/reject",
        body=json.dumps({"reason": ""}),
        **as_group("console-approve-viewer", "admins"),
    )
    assert status == 400 and body["details"][0]["field"] == "reason"
    # And the console's details name a field and a message only (its requests have no instances)
    assert [sorted(d) for d in body["details"]] == [["field", "message"]]
    assert fakes.registry.get_version(MODEL, int(run.version or 0)).status is VersionStatus.PENDING_APPROVAL


def test_a_model_page_shows_the_waiting_run_as_steps_and_what_a_viewer_may_do(
    console: Any, fakes: FakePorts
) -> None:
    run = awaiting(fakes)
    status, _, body = console("console-models", path=f"/console/api/models/{MODEL}")
    assert status == 200, body
    assert body["pending_version"] == run.version
    assert body["actions"] == {"approve": None, "reject": None, "rollback": False, "retrain": False}
    # And with nothing in production there is no card; the pending version's facts are the decision's
    assert body["card"] is None
    decision = body["decision"]
    assert (decision["version"], decision["status"], decision["production_version"]) == (
        run.version,
        "pending_approval",
        None,
    )
    assert decision["approving"] == (
        f"Approving puts version {run.version} in production: it starts answering prediction requests."
    )
    status, _, listing = console("console-models")
    assert listing["models"][0]["attention"] == [f"Version {run.version} is waiting for approval."]


def test_the_page_carries_its_base_path_and_security_headers(console: Any) -> None:
    status, headers, body = console("console-page")
    assert status == 200
    assert 'href="/v1/console/assets/console.css"' in body or "/v1/console" in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' https://raw.s3.amazonaws.com;" in csp
    assert (headers["X-Content-Type-Options"], headers["Cache-Control"]) == ("nosniff", "no-store")


@pytest.mark.parametrize("asset", ["app.py", "..%2Fapp.py", "index.html", "console.js.map"])
def test_only_the_allowed_assets_are_served(console: Any, asset: str) -> None:
    status, _, _ = console(
        "console-page", path=f"/console/assets/{asset}", resource="/console/assets/{asset}"
    )
    assert status == 404


def test_the_script_is_served_as_javascript(console: Any) -> None:
    status, headers, _ = console("console-page", path="/console/assets/console.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")


def test_columns_of_a_sample_in_plain_words(console: Any) -> None:
    sample = "age,segment,default\n" + "".join(
        f"{20 + i},{'retail' if i % 2 else 'sme'},{i % 2}\n" for i in range(30)
    )
    status, _, body = console(
        "console-models",
        httpMethod="POST",
        path="/console/api/columns",
        body=json.dumps({"file_name": "loans.csv", "sample": sample}),
    )
    assert status == 200, body
    assert body["rows"] == 30
    assert body["columns"][0] == {
        "name": "age",
        "kind": "numbers",
        "description": "numbers from 20 to 49",
        "can_predict": True,
    }


def test_an_upload_for_a_new_model_writes_init_and_answers_a_presigned_post(console: Any) -> None:
    request = {"model": "churn", "file_name": "My File.csv", "size": 10, "target": "churned"}
    status, _, body = console(
        "console-models",
        httpMethod="POST",
        path="/console/api/uploads",
        body=json.dumps(request),
        **as_group("console-models", "operators"),
    )
    assert status == 200, body
    assert body["key"].startswith("churn/data/") and body["key"].endswith("-My-File.csv")
    assert body["max_bytes"] == 1000
    too_big = console(
        "console-models",
        httpMethod="POST",
        path="/console/api/uploads",
        body=json.dumps(request | {"model": "other", "size": 5000}),
        **as_group("console-models", "operators"),
    )
    assert too_big[0] == 413
    again = console(
        "console-models",
        httpMethod="POST",
        path="/console/api/uploads",
        body=json.dumps(request),
        **as_group("console-models", "operators"),
    )
    assert again[0] == 409


def test_sign_in_answers_the_token_and_the_user_or_401(console: Any) -> None:
    ok = console(
        "console-page",
        httpMethod="POST",
        path="/console/api/sign-in",
        body=json.dumps({"email": "op@example.com", "password": "right"}),
    )
    assert ok[0] == 200 and ok[2]["user"] == {
        "email": "op@example.com",
        "sub": OPERATOR_SUB,
        "groups": ["operators"],
    }
    wrong = console(
        "console-page",
        httpMethod="POST",
        path="/console/api/sign-in",
        body=json.dumps({"email": "op@example.com", "password": "wrong"}),
    )
    assert wrong[0] == 401 and wrong[2]["error"] == "That email and password do not match an account."
    challenge = console(
        "console-page",
        httpMethod="POST",
        path="/console/api/sign-in",
        body=json.dumps({"email": "op@example.com", "password": "temporary"}),
    )
    assert challenge[0] == 409 and challenge[2]["challenge"] == "NEW_PASSWORD_REQUIRED"


def test_the_list_names_drift_and_a_live_metric_under_its_gate(console: Any, fakes: FakePorts) -> None:
    # Given a model whose last drift check found drift and a live roc_auc under the spec's 0.6
    run = awaiting(fakes)
    check = {
        "status": "ok",
        "version": run.version,
        "dataset_drift": True,
        "drift_share": 0.5,
        "features": {"age": {"drifted": True, "score": 0.3}, "income": {"drifted": False, "score": 0.01}},
        "live_metric": {"roc_auc": 0.55, "labelled_rows": 400},
        "data_quality": {"violations": [{"column": "age"}], "summary": ["age is empty in 30% of requests."]},
    }
    fakes.artifacts.put_json(f"drift/{MODEL}/20261207T120000Z.json", check)
    # When a viewer lists the models
    status, _, listing = console("console-models")
    # Then the model needs attention for each, in words, with its live metric and gate
    (model,) = listing["models"]
    assert status == 200
    assert model["live_metric"] == {"name": "roc_auc", "value": 0.55, "gate": 0.6}
    assert model["checked_at"] == "2026-12-07T12:00:00Z"
    assert model["attention"] == [
        f"Version {run.version} is waiting for approval.",
        f"Drift in the last check: {model['drift']}",
        "The last check found 1 data-quality problem(s).",
        "The live roc_auc 0.55 is under its gate of 0.6.",
    ]
    # and its page carries the check's sentences
    page = console("console-models", path=f"/console/api/models/{MODEL}")[2]
    assert page["data_quality"] == ["age is empty in 30% of requests."]
    assert page["drift"][0] == model["drift"]


def test_an_open_incident_is_the_first_thing_the_list_says_needs_attention(
    console: Any, fakes: FakePorts
) -> None:
    # Given a model with an open drift incident (as the drift check records it) and a version waiting
    run = awaiting(fakes)
    incident = Incident(
        model=MODEL,
        kind=IncidentKind.DRIFT,
        state=IncidentState.OPEN,
        severity="medium",
        version=1,
        opened_at="2026-12-07T09:00:00+00:00",
        announced_at="2026-12-07T09:00:00+00:00",
        summary="drifted: income",
    )
    assert fakes.registry.record_incident(incident, None)
    # When a viewer lists the models
    (model,) = console("console-models")[2]["models"]
    # Then the incident comes first, in the dashboard's words, before the version waiting
    assert model["attention"][0] == (
        f"Open incident: Drift in {MODEL} (v1, severity medium), open since 2026-12-07 09:00 UTC; "
        "announced once, last 2026-12-07 09:00 UTC: drifted: income."
    )
    assert model["attention"][1] == f"Version {run.version} is waiting for approval."
