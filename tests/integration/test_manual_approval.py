"""A manual rollout on the local stack: a challenger that passed its gates waits as pending_approval
(the execution waits on a task token, moto's ASL engine runs `.waitForTaskToken`) until a person runs
`sluice models approve|reject`, or its `timeout_hours` pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.adapters.identity import caller_principal
from sluice.domain.registry.records import EventType, ModelVersion, VersionStatus
from sluice.tools.cli import main
from tests.integration.conftest import Stack
from tests.integration.live_rollout import train_quietly, with_rollout
from tests.integration.scenario import BETTER, FIRST, statuses

POLL_LIMIT_SECONDS = 300.0  # how long a test polls before it gives up (not a performance threshold)


def manual_spec(model: str, timeout_hours: float = 1.0) -> bytes:
    return with_rollout(model, f"{{mode: manual, timeout_hours: {timeout_hours}}}")


def upload_spec(stack: Stack, model: str, text: bytes) -> None:
    stack.upload(f"{model}/spec.yaml", text)
    stack.settle()


def upload_and_await_approval(
    stack: Stack, model: str, dataset: tuple[str, bytes], version: int
) -> ModelVersion:
    """Upload a dataset, then wait until its version is decided, e.g. waits for approval (the execution
    keeps running meanwhile, so `stack.settle()` would wait for the timeout): the registry is read
    again each time the stack has done something."""
    stack.upload(f"{model}/data/{dataset[0]}", dataset[1])
    stack.local.drain()

    def decided() -> ModelVersion | None:
        found = [v for v in stack.registry.list_versions(model) if v.version == version]
        return found[0] if found and found[0].status is not VersionStatus.TRAINING else None

    return stack.local.wait_until(
        decided, what=f"{model} version {version} to be decided", timeout=POLL_LIMIT_SECONDS
    )


def cli(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    capsys.readouterr()
    try:
        code = main(["models", "--stack-outputs", str(outputs), *args])
    except SystemExit as exc:  # argparse refuses a usage error (exit code 2)
        code = int(exc.code or 0)
    captured = capsys.readouterr()  # only the command's: handlers write to their functions' logs
    return code, captured.out + captured.err


def approval_requests(stack: Stack, model: str) -> list[dict[str, Any]]:
    """The notifications about `model`, once the first has arrived: the step records pending_approval
    a moment before it publishes, so a test that saw the status may be early for the message."""
    seen: list[dict[str, Any]] = []

    def arrived() -> list[dict[str, Any]]:
        seen.extend(n["message"] for n in stack.notifications() if n["message"].get("model") == model)
        return seen

    return stack.local.wait_until(arrived, what=f"a notification about {model}", timeout=POLL_LIMIT_SECONDS)


def test_a_manual_rollout_waits_for_approval_then_promotes(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given version 1 in production, then the spec asks for a manual rollout
    train_quietly(stack, "it-approve", FIRST)
    upload_spec(stack, "it-approve", manual_spec("it-approve"))
    stack.notifications()

    # When a better dataset is uploaded
    pending = upload_and_await_approval(stack, "it-approve", BETTER, 2)

    # Then version 2 waits for approval, production is unchanged, and the notification says what to run
    assert pending.status is VersionStatus.PENDING_APPROVAL
    assert pending.approval_token
    assert stack.registry.get_alias("it-approve").version == 1  # type: ignore[union-attr]
    requests = approval_requests(stack, "it-approve")
    assert [r["approve"] for r in requests] == ["sluice models approve it-approve 2"]
    assert requests[0]["status"] == "pending_approval"
    code, out = cli(stack, tmp_path, capsys, "show", "it-approve", "--json")
    shown = json.loads(out)
    assert code == 0
    assert shown["rollout"] == {"mode": "manual", "version": 2, "status": "pending_approval"}
    assert all("approval_token" not in v for v in shown["versions"])

    # When a person tries to approve it in someone else's name (--by, which used to set `by`)
    code, out = cli(stack, tmp_path, capsys, "approve", "it-approve", "2", "--by", "alice")
    # Then that is refused, and the version still waits
    assert code == 2 and "--by was removed" in out
    assert stack.registry.get_version("it-approve", 2).status is VersionStatus.PENDING_APPROVAL

    # When they approve it with a note
    code, out = cli(
        stack,
        tmp_path,
        capsys,
        "approve",
        "it-approve",
        "2",
        "--reason",
        "looks good",
        "--note",
        "alice, CAB-1234",
        "--json",
    )
    assert code == 0, out
    answered, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    executions = stack.executions_of("it-approve")

    # Then the run promotes it, and the audit trail says who approved: the principal STS answers for
    # the CLI's credentials (the local stack's moto answers GetCallerIdentity), with the note beside it
    principal = caller_principal().arn
    assert principal.startswith("arn:aws:") and "alice" not in principal
    assert (answered["by"], answered["note"]) == (principal, "alice, CAB-1234")
    assert [e["status"] for e in executions] == ["SUCCEEDED", "SUCCEEDED"]
    assert statuses(stack, "it-approve") == {1: "archived", 2: "production"}
    events = stack.registry.list_events("it-approve")
    approved = [e for e in events if e.type is EventType.APPROVED]
    assert [(e.version, e.by, e.note, e.reason) for e in approved] == [
        (2, principal, "alice, CAB-1234", "looks good")
    ]
    promotions = [e for e in events if e.type is EventType.PROMOTED]
    assert [(e.from_version, e.to_version) for e in promotions] == [(None, 1), (1, 2)]
    # and `models show` prints both beside the event
    code, out = cli(stack, tmp_path, capsys, "show", "it-approve")
    (line,) = [row for row in out.splitlines() if " approved " in row]
    assert f"by {principal}" in line and "note: alice, CAB-1234" in line

    # And a second answer is refused: the version no longer waits
    code, out = cli(stack, tmp_path, capsys, "approve", "it-approve", "2")
    assert code == 1
    assert "not pending_approval" in out


def test_a_rejected_version_keeps_the_reason_and_who_rejected_it(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model whose spec asks for a manual rollout, and a version waiting for approval
    upload_spec(stack, "it-refuse", manual_spec("it-refuse"))
    upload_and_await_approval(stack, "it-refuse", FIRST, 1)

    # When a person rejects it (--by is refused; --note is theirs to fill)
    code, out = cli(stack, tmp_path, capsys, "reject", "it-refuse", "1", "--by", "bob", "--reason", "no")
    assert code == 2 and "--by was removed" in out
    code, out = cli(
        stack, tmp_path, capsys, "reject", "it-refuse", "1", "--reason", "not on a Friday", "--note", "bob"
    )
    assert code == 0, out
    stack.settle()

    # Then it is rejected with the reason naming who (the STS principal), nothing is in production, and
    # both are audited, the refusal with `by` and the note
    principal = caller_principal().arn
    rejected = stack.registry.get_version("it-refuse", 1)
    assert rejected.status is VersionStatus.REJECTED
    assert rejected.reason == f"rejected by {principal}: not on a Friday"
    assert stack.registry.get_alias("it-refuse") is None
    events = {e.type: e for e in stack.registry.list_events("it-refuse")}
    refused = events[EventType.APPROVAL_REFUSED]
    assert (refused.by, refused.note) == (principal, "bob")
    assert events[EventType.REJECTED].reason == f"rejected by {principal}: not on a Friday"


def test_a_version_nobody_approves_in_time_is_rejected(stack: Stack) -> None:
    # Given a spec whose manual rollout waits about one second
    upload_spec(stack, "it-timeout", manual_spec("it-timeout", timeout_hours=0.0003))

    # When a dataset is uploaded and nobody answers
    stack.upload("it-timeout/data/first.csv", FIRST[1])
    executions = stack.executions_of("it-timeout")

    # Then the run ends and the version is rejected as not approved in time
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    version = stack.registry.get_version("it-timeout", 1)
    assert version.status is VersionStatus.REJECTED
    assert version.reason == "not approved in time"
    assert stack.registry.get_alias("it-timeout") is None
    assert [e.type for e in stack.registry.list_events("it-timeout")][-2:] == [
        EventType.APPROVAL_REQUESTED,
        EventType.REJECTED,
    ]
