"""`sluice predict`: what it refuses before sending anything (exit code 2, a message, no traceback).
Scoring through a served API is tested in tests/integration/test_local_up.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.tools.local import free_port
from tests.conftest import CliRunner


@pytest.fixture(autouse=True)
def caller(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A caller in an empty folder (no .sluice/local.json) with AWS credentials in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "either --data FILE.csv or --json"),
        (("--json",), "either --data FILE.csv or --json"),  # a bare --json only asks for JSON output
        (("--data", "rows.csv", "--json", '{"instances": []}'), "either --data FILE.csv or --json"),
        (("--json", "{not json", "--api-url", "http://127.0.0.1:1"), "--json: not valid JSON"),
        (("--json", '{"instances": [{}]}'), "no API: pass --api-url URL or --stack-name NAME"),
        (("--json", '{"instances": [{}]}', "--api-url", "ftp://example.com"), "not an http(s) URL"),
        (("--data", "missing.csv", "--api-url", "http://127.0.0.1:1"), "missing.csv: no such file"),
    ],
)
def test_unusable_input_is_exit_code_2_with_a_message(
    sluice: CliRunner, args: tuple[str, ...], message: str
) -> None:
    result = sluice("predict", "credit-risk", *args)
    assert result.exit_code == 2, result
    assert message in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_an_api_that_does_not_answer_is_exit_code_2(sluice: CliRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = sluice("predict", "credit-risk", "--json", '{"instances": [{}]}', "--api-url", url)
    assert result.exit_code == 2
    assert f"cannot reach the API at {url}" in result.stderr
