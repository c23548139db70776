"""`sluice local up --aws-latency [--latency-seed N]` says so in its ready line (`"aws_latency": {"seed":
N}`, null without it), and the stack it serves gets that seed (the server itself is not started here:
tests/integration/test_local_up.py starts one)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sluice.tools.local import server
from sluice.tools.local.latency import AwsLatency
from tests.conftest import ROOT, CliRunner


def fake_stack() -> Any:
    return SimpleNamespace(
        endpoint_url="http://127.0.0.1:4566", stack_name="sluice-local", outputs={}, enforcer=None
    )


def test_the_ready_document_says_whether_latency_is_on() -> None:
    assert server.ready_document(fake_stack())["aws_latency"] is None
    assert server.ready_document(fake_stack(), latency=AwsLatency(7))["aws_latency"] == {"seed": 7}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [((), None), (("--aws-latency",), {"seed": 0}), (("--aws-latency", "--latency-seed", "7"), {"seed": 7})],
)
def test_the_cli_flag_shows_in_the_ready_line(
    sluice: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    flags: tuple[str, ...],
    expected: dict[str, int] | None,
) -> None:
    served: dict[str, Any] = {}

    def serve(root: Path, *, announce: Any, aws_latency: AwsLatency | None, **kwargs: Any) -> None:
        served["aws_latency"] = aws_latency
        announce(json.dumps(server.ready_document(fake_stack(), latency=aws_latency)))

    monkeypatch.setattr(server, "serve", serve)
    result = sluice("local", "up", "--root", ROOT, "--state-file", tmp_path / "local.json", *flags)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["aws_latency"] == expected
    assert (served["aws_latency"].seed if served["aws_latency"] else None) == (expected or {}).get("seed")
