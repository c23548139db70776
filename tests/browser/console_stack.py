"""What the console's browser tests share: one `sluice local up` with a model trained and promoted through
uploads to its S3 (as the AWS CLI would), Debian's Chromium driven by Playwright, and the small CSVs the
tests upload through the page."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from sluice.tools.local import free_port
from tests.integration.live_rollout import quiet_spec
from tests.integration.test_local_up import client, local_up

POLL_LIMIT_SECONDS = 300.0  # how long a test polls before it gives up (not a performance threshold)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# SLUICE_CONSOLE_SCREENSHOTS=docs/guides/img: the tests save the guide's screenshots there as they pass
SCREENSHOTS_ENV = "SLUICE_CONSOLE_SCREENSHOTS"
SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"
FIRST = to_csv_bytes(credit_risk(rows=300, seed=1))
BETTER = to_csv_bytes(credit_risk(rows=1500, seed=2))
ANOTHER = to_csv_bytes(credit_risk(rows=1500, seed=3))
# The console's user pool offers two-step sign-in (an authenticator app), as with ConsoleMfa=OPTIONAL on AWS.
PARAMETERS = ("--parameter-overrides", "ConsoleMfa=OPTIONAL")


@dataclass
class Served:
    """The running `sluice local up`: its ready line, and the model it trained for the tests."""

    ready: dict[str, Any]
    model: str

    @property
    def url(self) -> str:
        return str(self.ready["console"]["url"])

    def user(self, group: str) -> dict[str, str]:
        (found,) = [u for u in self.ready["console"]["users"] if u["group"] == group]
        return dict(found)

    def s3(self) -> Any:
        return client("s3", self.ready["endpoint_url"])

    def registry_item(self, sort_key: str) -> dict[str, Any]:
        table = self.ready["outputs"]["RegistryTableName"]
        key = {"PK": {"S": f"MODEL#{self.model}"}, "SK": {"S": sort_key}}
        return dict(
            client("dynamodb", self.ready["endpoint_url"]).get_item(TableName=table, Key=key).get("Item", {})
        )

    def create_user(self, email: str, temporary_password: str, group: str | None) -> None:
        """An account as an administrator creates one on AWS: a temporary password to change at first
        sign-in (`aws cognito-idp admin-create-user`), in `group` if one is named."""
        cognito = client("cognito-idp", self.ready["endpoint_url"])
        pool = self.ready["outputs"]["ConsoleUserPoolId"]
        cognito.admin_create_user(
            UserPoolId=pool,
            Username=email,
            TemporaryPassword=temporary_password,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
        if group is not None:
            cognito.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=group)

    def upload(self, key: str, body: bytes) -> None:
        self.s3().put_object(Bucket=self.ready["outputs"]["RawBucketName"], Key=key, Body=body)


def wait_until[T](found: Callable[[], T | None], what: str) -> T:
    """Poll `found` until it answers something, for at most POLL_LIMIT_SECONDS."""
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def manual_spec(model: str) -> bytes:
    """The quiet test spec with a manual rollout: a better version waits for a person's approval."""
    return (quiet_spec(model) + "rollout: {mode: manual, timeout_hours: 1}\n").encode()


def serve_with_a_promoted_model(tmp: Path, model: str) -> Iterator[Served]:
    """`sluice local up` (with PARAMETERS), then `model` version 1 trained and promoted through uploads, then its spec
    switched to a manual rollout (so the next version waits for approval); SIGTERM at the end."""
    log = (tmp / "stack.log").open("w")
    process = local_up(free_port(), free_port(), tmp / "local.json", log, PARAMETERS)
    try:
        assert process.stdout is not None
        served = Served(json.loads(process.stdout.readline()), model)
        served.upload(f"{model}/spec.yaml", quiet_spec(model).encode())
        first_spec = wait_until(lambda: served.registry_item("META").get("current_spec_sha256"), "the spec")
        served.upload(f"{model}/data/first.csv", FIRST)
        wait_until(lambda: served.registry_item("ALIAS#production"), "version 1 in production")
        served.upload(f"{model}/spec.yaml", manual_spec(model))
        wait_until(
            lambda: served.registry_item("META").get("current_spec_sha256") != first_spec, "the manual spec"
        )
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium (no browser download); the test fails when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail("headless Chromium is missing: run `make browser-deps` (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot for the guide when SLUICE_CONSOLE_SCREENSHOTS names a folder."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def payload_csv() -> bytes:
    """A small CSV whose column names and values are HTML and script payloads."""
    rows = [f'"{SCRIPT}","{IMAGE}",amount,label']
    for index in range(40):
        rows.append(f'"{SCRIPT}","{IMAGE}",{100 + index},{index % 2}')
    return ("\n".join(rows) + "\n").encode()


def failing_csv() -> bytes:
    """The credit-risk columns with values the spec refuses: an income that is a payload, not a number."""
    lines = FIRST.decode().splitlines()[:21]
    header = lines[0].split(",")
    column = header.index("income")
    bad = []
    for line in lines[1:]:
        cells = line.split(",")
        cells[column] = IMAGE.replace(" ", "_")
        bad.append(",".join(cells))
    return ("\n".join([lines[0], *bad]) + "\n").encode()
