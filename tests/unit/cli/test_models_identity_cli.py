"""`sluice models` actions record who did them as the AWS principal STS answers, never a name the caller
types: `--by` is refused, and without STS nothing is done. (Against the local stack, where the actions
succeed, see tests/integration/test_manual_approval.py and test_operator_policy.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice.adapters import clear_clients
from sluice.tools.local import free_port
from tests.conftest import CliRunner

ACTIONS = [
    ("promote", "m", "2"),
    ("rollback", "m"),
    ("train", "m"),
    ("approve", "m", "2"),
    ("reject", "m", "2", "--reason", "no"),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a[0])
def test_by_no_longer_names_who_acted(sluice: CliRunner, action: tuple[str, ...]) -> None:
    # When an action is given --by (which used to name the approver)
    result = sluice("models", *action, "--by", "alice")
    # Then it is refused before anything is looked up, saying what records the identity now
    assert result.exit_code == 2
    assert "--by was removed" in result.stderr
    assert "STS GetCallerIdentity" in result.stderr and "--note" in result.stderr


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a[0])
def test_without_sts_an_action_fails_before_it_changes_anything(
    sluice: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: tuple[str, ...]
) -> None:
    # Given a stack's outputs, and an endpoint (for every service, STS included) nothing listens on
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "RegistryTableName": "registry",
                "ArtifactBucketName": "artifacts",
                "TrainingStateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:TrainAndPromote",
                "BatchStateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:BatchScore",
            }
        )
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("USER", "alice")  # no longer a fallback
    clear_clients()
    try:
        # When an action runs with a note
        result = sluice("models", "--stack-outputs", outputs, *action, "--note", "INC-42")
    finally:
        clear_clients()
    # Then it fails on STS, the first call it makes (no registry call was tried), and names no one
    assert result.exit_code == 2
    assert "cannot establish who you are: STS GetCallerIdentity failed" in result.stderr
    assert "alice" not in result.stdout + result.stderr
