"""The console in a real browser: Debian's Chromium driven by Playwright against `sluice local up`, found
by role and label as a person (or assistive technology) finds it. One stack for the module, one model
trained and promoted through S3 uploads before the first test; each test has a browser context of its
own (a fresh session), and any dialog that opens (an `alert(1)` that ran) fails it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from sluice.tools.local.console.cognito import strong_password
from tests.browser.console_stack import (
    ANOTHER,
    BETTER,
    FIRST,
    IMAGE,
    POLL_LIMIT_SECONDS,
    SCRIPT,
    Served,
    failing_csv,
    launch_chromium,
    payload_csv,
    screenshot,
    serve_with_a_promoted_model,
)
from tests.integration.authenticator import current_code, wrong_code

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODEL = "loans"
LONG = POLL_LIMIT_SECONDS * 1000  # Playwright counts milliseconds


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_with_a_promoted_model(tmp_path_factory.mktemp("console"), MODEL)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A page in a fresh context. After the test: no dialog opened, the Content-Security-Policy refused
    nothing (no inline script or style) and no script error was thrown."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened: list[str] = []
    refused: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: refused.append(str(error)))

    def dialog(d: Any) -> None:
        opened.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert opened == [], f"a dialog opened: {opened}"
    assert refused == []


def sign_in(page: Page, served: Served, group: str) -> dict[str, str]:
    user = served.user(group)
    page.goto(served.url)
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible()
    return user


def test_the_operator_signs_in_and_sees_the_model_in_production(page: Page, served: Served) -> None:
    # Given the sign-in screen
    page.goto(served.url)
    expect(page.get_by_role("heading", name="Sign in to the Sluice console")).to_be_focused()
    screenshot(page, "sign-in")

    # When the operator gives a wrong password
    user = served.user("operators")
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password").fill(user["password"] + "-wrong")
    page.get_by_role("button", name="Sign in", exact=True).click()
    # Then the page says so, and keeps them on the sign-in screen
    expect(page.get_by_role("alert")).to_have_text("That email and password do not match an account.")

    # When they sign in with the right one
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Then the models page lists the model with version 1 in production, and who is signed in
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_focused()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=MODEL))
    expect(row.get_by_role("cell", name="version 1", exact=True)).to_be_visible()
    expect(page.get_by_text(f"Signed in as {user['email']}")).to_be_visible()
    expect(page.get_by_role("link", name="New model from a CSV")).to_be_visible()
    # and the token is kept in the tab's sessionStorage, never in localStorage or the URL
    assert page.evaluate("() => window.localStorage.length") == 0
    assert "token" not in page.url and page.evaluate("() => window.sessionStorage.length") == 1

    # When they sign out, the sign-in screen is back and the session is gone
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    assert page.evaluate("() => window.sessionStorage.length") == 0


def test_a_first_sign_in_asks_for_a_password_of_ones_own(page: Page, served: Served) -> None:
    # Given an account an administrator created with a temporary password, in no group yet
    email, temporary, chosen = "new.owner@example.com", strong_password(), strong_password()
    served.create_user(email, temporary, group=None)

    # When they sign in with it
    page.goto(served.url)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(temporary)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Then the console asks for a new password, and with it signs them in
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_focused()
    page.get_by_label("New password").fill(chosen)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_focused()
    expect(page.get_by_text(f"Signed in as {email} (no group)")).to_be_visible()
    # and, in no group, they are told whom to ask, and shown no model
    expect(page.get_by_text("Your account is in no group yet")).to_be_visible()
    expect(page.get_by_role("link", name=MODEL, exact=True)).to_have_count(0)


def test_a_user_sets_up_two_step_sign_in_and_then_signs_in_with_the_apps_code(
    page: Page, served: Served
) -> None:
    # Given a viewer an administrator created, signed in with their password
    email, temporary, password = "two.step@example.com", strong_password(), strong_password()
    served.create_user(email, temporary, group="viewers")
    page.goto(served.url)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(temporary)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("New password").fill(password)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_focused()

    # When they open "Two-step sign-in" and set it up
    page.get_by_role("link", name="Two-step sign-in").click()
    expect(page.get_by_text("Two-step sign-in is off")).to_be_visible()
    page.get_by_role("button", name="Set up two-step sign-in").click()
    # Then the page shows the key as text and as an otpauth:// link for the app (no outside service)
    secret = page.locator("#mfa-secret").inner_text().replace(" ", "")
    link = page.get_by_role("link", name="this setup link").get_attribute("href") or ""
    assert link.startswith("otpauth://totp/Sluice%20console:") and f"secret={secret}" in link
    screenshot(page, "two-step-setup")
    # and a wrong code is refused, the app's current code turns it on
    page.get_by_label("Code").fill(wrong_code(secret))
    page.get_by_role("button", name="Verify and turn on").click()
    expect(page.get_by_role("alert")).to_contain_text("that code is not right")
    page.get_by_label("Code").fill(current_code(secret))
    page.get_by_role("button", name="Verify and turn on").click()
    expect(page.get_by_text("Two-step sign-in is on:")).to_be_visible()

    # When they sign out and sign in again with their password
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    # Then the console asks for the app's code: a wrong one is refused, the current one signs them in
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    screenshot(page, "two-step-code")
    page.get_by_label("Code").fill(wrong_code(secret))
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(
        "That code is not right: enter the 6-digit code your authenticator app shows now."
    )
    page.get_by_label("Code").fill(current_code(secret))
    page.get_by_role("button", name="Verify", exact=True).click()
    # (back on the screen they signed out from, which says two-step sign-in is on)
    expect(page.get_by_text(f"Signed in as {email} (viewers)")).to_be_visible()
    expect(page.get_by_text("Two-step sign-in is on:")).to_be_visible()


def test_a_token_the_server_refuses_sends_the_user_back_to_sign_in(page: Page, served: Served) -> None:
    # Given a viewer signed in, whose token is then tampered with (its signature no longer matches)
    sign_in(page, served, "viewers")
    page.evaluate(
        """() => {
            const saved = JSON.parse(sessionStorage.getItem("sluice.console.session"));
            saved.token = saved.token.slice(0, -6) + (saved.token.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA");
            sessionStorage.setItem("sluice.console.session", JSON.stringify(saved));
        }"""
    )

    # When the page asks the server for anything
    page.reload()

    # Then the server's 401 brings the sign-in screen back with a sentence, and the session is forgotten
    expect(page.get_by_role("alert")).to_have_text(
        "Your session has ended or is not valid any more. Please sign in again."
    )
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    assert page.evaluate("() => window.sessionStorage.length") == 0


def test_new_data_for_the_model_waits_for_approval_then_the_operator_approves_it(
    page: Page, served: Served, tmp_path: Path
) -> None:
    # Given the operator on the model's page
    user = sign_in(page, served, "operators")
    page.get_by_role("link", name=MODEL, exact=True).click()
    expect(page.get_by_role("heading", name=f"Model {MODEL}")).to_be_focused()

    # When they upload a better CSV with the page's "Upload new data" form
    csv = tmp_path / "better loans.csv"
    csv.write_bytes(BETTER)
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Train", exact=True).click()

    # Then the upload is accepted and a run starts, which stops at "Waiting for approval"
    expect(page.get_by_text("The file was accepted and training has started.").first).to_be_visible(
        timeout=LONG
    )
    waiting = page.locator("li.step").filter(has_text="Waiting for approval")
    expect(waiting).to_contain_text("waiting for a person", timeout=LONG)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible(timeout=LONG)
    screenshot(page, "waiting-for-approval")
    # and the models page lists what needs the operator, highlighted
    page.get_by_role("link", name="Models", exact=True).click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=MODEL, exact=True))
    expect(row.get_by_role("cell").last).to_have_text("Version 2 is waiting for approval.")
    expect(row).to_have_class("attention")
    screenshot(page, "models")
    row.get_by_role("link", name=MODEL, exact=True).click()

    # When they approve it with a reason
    page.get_by_label("Reason").fill("Better on the holdout; checked with the risk team.")
    page.get_by_role("button", name="Approve", exact=True).click()

    # Then the page says so, version 2 becomes production, and the audit trail names the operator
    expect(page.get_by_role("status")).to_contain_text("Version 2 is approved")
    expect(page.locator("#production")).to_have_text(re.compile("Version 2 is in production"), timeout=LONG)
    audit = page.get_by_role("region", name="Audit trail")
    approved = audit.get_by_role("row").filter(has_text="approved")
    expect(approved.first).to_contain_text(user["email"], timeout=LONG)
    expect(approved.first).to_contain_text("Better on the holdout")
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    screenshot(page, "model")


def test_a_rejection_needs_a_reason_and_a_roll_back_brings_the_previous_version_back(
    page: Page, served: Served, tmp_path: Path
) -> None:
    # Given version 2 in production (approved above) and the operator on the model's page
    user = sign_in(page, served, "operators")
    page.get_by_role("link", name=MODEL, exact=True).click()
    expect(page.locator("#production")).to_have_text(re.compile("Version 2 is in production"))

    # When another dataset waits for approval as version 3
    csv = tmp_path / "more loans.csv"
    csv.write_bytes(ANOTHER)
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_role("button", name="Reject", exact=True)).to_be_visible(timeout=LONG)

    # When the operator presses Reject without a reason
    page.get_by_role("button", name="Reject", exact=True).click()
    # Then the page asks for one, and nothing is decided
    expect(page.get_by_role("alert")).to_contain_text("Write a reason for rejecting version 3")
    expect(page.get_by_label("Reason")).to_be_focused()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()

    # When they give one
    page.get_by_label("Reason").fill("Too few applications from the last quarter.")
    page.get_by_role("button", name="Reject", exact=True).click()

    # Then version 3 is rejected, production stays version 2, the audit trail has the reason and who
    expect(page.get_by_role("status")).to_have_text("Version 3 is rejected.")
    versions = page.get_by_role("region", name="Versions")
    third = versions.get_by_role("row").filter(has=page.get_by_role("rowheader", name="3", exact=True))
    expect(third.get_by_role("cell").first).to_have_text("rejected", timeout=LONG)
    expect(page.locator("#production")).to_have_text(re.compile("Version 2 is in production"))
    audit = page.get_by_role("region", name="Audit trail")
    refused = audit.get_by_role("row").filter(has_text="Too few applications from the last quarter.")
    expect(refused.first).to_contain_text(user["email"])

    # When they roll back
    page.get_by_role("button", name="Roll back", exact=True).click()

    # Then version 1 answers again, and the audit trail says who rolled back
    expect(page.locator("#production")).to_have_text(re.compile("Version 1 is in production"), timeout=LONG)
    rolled = audit.get_by_role("row").filter(has_text="rolled back")
    expect(rolled.first).to_contain_text(user["email"])


def test_a_viewer_sees_no_action_and_the_server_refuses_their_approval(page: Page, served: Served) -> None:
    # Given a viewer signed in
    sign_in(page, served, "viewers")

    # Then they can read the models but are offered nothing to do
    expect(page.get_by_role("link", name="New model from a CSV")).to_have_count(0)
    page.get_by_role("link", name=MODEL, exact=True).click()
    expect(page.get_by_role("heading", name="Versions")).to_be_visible()
    for name in ("Approve", "Reject", "Roll back", "Retrain", "Train"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)

    # When the viewer sends an approval themselves, with their own token
    answer = page.evaluate(
        """async (model) => {
            const token = JSON.parse(sessionStorage.getItem("sluice.console.session")).token;
            const base = document.body.dataset.base;
            const response = await fetch(base + "/api/models/" + model + "/versions/1/approve", {
                method: "POST", headers: {Authorization: token, "Content-Type": "application/json"}, body: "{}"});
            return {status: response.status, body: await response.json()};
        }""",
        MODEL,
    )

    # Then the server refuses it: a 403 naming the group it needs
    assert answer["status"] == 403, answer
    assert "operators or admins" in answer["body"]["error"]


def test_a_new_model_from_a_csv_is_trained_from_the_page(page: Page, served: Served, tmp_path: Path) -> None:
    # Given the operator on "New model from a CSV"
    sign_in(page, served, "operators")
    page.get_by_role("link", name="New model from a CSV").click()

    # When they choose a CSV
    csv = tmp_path / "Credit applications.csv"
    csv.write_bytes(FIRST)
    page.get_by_label("CSV file").set_input_files(str(csv))

    # Then each column is described in plain words, and the name is suggested from the file's
    columns = page.get_by_role("table").filter(has_text="What the file holds")
    income = columns.get_by_role("row").filter(has=page.get_by_role("rowheader", name="income", exact=True))
    expect(income).to_contain_text("numbers from")
    expect(page.get_by_label("Model name")).to_have_value("credit-applications")

    # When they pick the column to predict and a sensitive column, name the model and press Train
    page.get_by_label("Column to predict").select_option("default")
    page.get_by_label("Sensitive column").select_option("gender")
    page.get_by_label("Model name").fill("applications")
    screenshot(page, "new-model")
    page.get_by_role("button", name="Train", exact=True).click()

    # Then the file is accepted, and the model's page shows version 1 in production once trained
    page.get_by_role("link", name="Follow the training of applications").click(timeout=LONG)
    expect(page.get_by_role("heading", name="Model applications")).to_be_focused()
    expect(page.locator("#production")).to_have_text(re.compile("Version 1 is in production"), timeout=LONG)
    audit = page.get_by_role("region", name="Audit trail")
    expect(audit.get_by_role("row").filter(has_text="promoted")).to_have_count(1)


def test_html_and_script_in_a_csv_are_shown_as_text(page: Page, served: Served, tmp_path: Path) -> None:
    # Given the operator on "New model from a CSV"
    sign_in(page, served, "operators")
    page.get_by_role("link", name="New model from a CSV").click()
    expect(page.get_by_role("heading", name="New model from a CSV")).to_be_focused()

    # When they choose a CSV whose column names and values are script and image payloads
    csv = tmp_path / "payloads.csv"
    csv.write_bytes(payload_csv())
    page.get_by_label("CSV file").set_input_files(str(csv))

    # Then the columns are listed with the payloads as text, and nothing of them became an element
    columns = page.get_by_role("table").filter(has_text="What the file holds")
    expect(columns.get_by_role("rowheader", name=SCRIPT, exact=True)).to_be_visible()
    expect(columns.get_by_role("rowheader", name=IMAGE, exact=True)).to_be_visible()
    assert page.locator("main img").count() == 0
    assert page.locator("script").count() == 1  # console.js only
    page.get_by_label("Column to predict").select_option("label")
    page.get_by_label("Model name").fill("payloads")


def test_a_csv_that_fails_validation_shows_its_quarantine_report(
    page: Page, served: Served, tmp_path: Path
) -> None:
    # Given the operator on the model's page
    sign_in(page, served, "operators")
    page.get_by_role("link", name=MODEL, exact=True).click()

    # When they upload a CSV whose incomes are not numbers
    csv = tmp_path / "broken.csv"
    csv.write_bytes(failing_csv())
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Train", exact=True).click()

    # Then the page shows the quarantine report: a summary and the rows and columns at fault
    expect(page.get_by_role("alert")).to_contain_text("nothing is trained", timeout=LONG)
    problems = page.get_by_role("table").filter(has_text="Problems found")
    expect(problems.get_by_role("cell", name="income", exact=True).first).to_be_visible()
    screenshot(page, "quarantine")
