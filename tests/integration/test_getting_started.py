"""Every command of the README's tour and of Getting started runs here, read from the pages themselves
(tests/docs_blocks.py): the command-line tour in a folder of its own, and the AWS walkthrough's uploads on
a fresh local stack named as the page names it. A command no test knows how to run fails the test, so a
page cannot gain an untested command. (`make demo` is run by tests/e2e/test_demo.py as `sluice demo`;
the API calls' curl commands by tests/integration/test_auth.py.)"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from sluice.domain.spec.model_spec import parse_spec
from sluice.tools.cli import main
from sluice.tools.local.in_process import in_process_stack
from sluice.tools.local.lambda_runtime.runtime import load_env_overrides
from sluice.tools.local.stack import LocalStack
from tests.docs_blocks import (
    GETTING_STARTED_AWS,
    GETTING_STARTED_LOCAL,
    README,
    Block,
    code_blocks,
    commands,
    words,
)
from tests.integration.conftest import ROOT

MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
# `sluice drift` says drift with its exit code (0 none, 1 drift): both are an answer, 2 is an error.
ANSWER_CODES = {"drift": {0, 1}}


def run_sluice(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    argv = words(command)[1:]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in ANSWER_CODES.get(argv[0], {0}), f"{command!r} exited {code}: {err[-2000:]}"
    return out


def run_tour(block: Block, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Run one block of the command-line tour in the current folder; each sluice command's stdout."""
    printed: dict[str, str] = {}
    for command in commands(block):
        program = words(command)[0]
        if command == ". .venv/bin/activate":
            # the venv this test runs in is the one the page activates: it has the `sluice` command
            assert (Path(sys.prefix) / "bin" / "activate").is_file() and (
                Path(sys.prefix) / "bin" / "sluice"
            ).is_file()
        elif program == "sluice":
            printed[command] = run_sluice(command, capsys)
        elif program == "open":
            assert Path(words(command)[1]).is_file(), (
                f"{block}: {command!r} opens a file the tour did not write"
            )
        elif program == "make":
            assert words(command)[1] in MAKE_TARGETS, f"{block}: no Makefile target for {command!r}"
        else:
            pytest.fail(f"{block}: no test runs {command!r}")
    return printed


@pytest.fixture
def tour_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder with the repository's examples/, as in a checkout: the tour's paths are relative."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_command_line_tour_of_getting_started_runs(tour_folder: Path, capsys) -> None:
    # Given Getting started's blocks (the two make commands, the command-line tour, the demo's synopsis)
    blocks = code_blocks(GETTING_STARTED_LOCAL, "bash")
    assert len(blocks) == 3

    # When each is run in order in an empty folder
    printed: dict[str, str] = {}
    for block in blocks:
        printed |= run_tour(block, capsys)

    # Then the spec was inferred, both models trained, and the second judged against the first
    assert "name:" in (tour_folder / "my-spec.yaml").read_text()
    for folder in ("models/v1", "models/v2"):
        assert {"model.onnx", "card.json", "card.html", "reference.csv.gz"} <= {
            p.name for p in (tour_folder / folder).iterdir()
        }
    challenger = json.loads(printed[commands(blocks[1])[-2]])
    assert challenger["parity"]["passed"] is True
    assert {"passed", "failed"} <= set(challenger["gates"])


def test_the_readme_tour_runs(tour_folder: Path, capsys) -> None:
    # Given the README's shell blocks (the two commands, the tour, the drift check)
    blocks = code_blocks(README, "bash")
    assert len(blocks) == 3

    # When each is run in order in an empty folder
    for block in blocks:
        run_tour(block, capsys)

    # Then the drift report the last one names was written, and the README's spec example is a valid spec
    assert "<svg" in (tour_folder / "drift.html").read_text()
    (spec,) = code_blocks(README, "yaml")
    assert parse_spec(spec.text, "README.md").feature_names == ["income", "segment"]


def run_on_stack(stack: LocalStack, block: Block, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Run the AWS walkthrough's commands against the local stack: `aws` commands through boto3 with the
    page's <Output> placeholders filled from the stack's Outputs, sluice commands in-process."""
    printed: dict[str, str] = {}

    def filled(word: str) -> str:
        return re.sub(r"<(\w+)>", lambda m: str(stack.outputs[m.group(1)]), word)

    for command in commands(block):
        argv = [filled(word) for word in words(command)]
        if argv[:3] == ["aws", "sns", "subscribe"]:
            options = dict(zip(argv[3::2], argv[4::2], strict=True))
            answer = stack.client("sns").subscribe(
                TopicArn=options["--topic-arn"],
                Protocol=options["--protocol"],
                Endpoint=options["--notification-endpoint"],
            )
            assert answer["SubscriptionArn"]
        elif argv[:3] == ["aws", "s3", "cp"] and argv[4].startswith("s3://"):
            bucket, key = argv[4].removeprefix("s3://").split("/", 1)
            stack.client("s3").upload_file(argv[3], bucket, key)
            printed[command] = json.dumps([e["status"] for e in stack.wait_for_executions()])
        elif argv[0] == "sluice":
            printed[command] = run_sluice(shlex.join(argv), capsys)
        else:
            pytest.fail(f"{block}: no test runs {command!r}")
    return printed


def test_the_aws_walkthrough_trains_a_model_on_the_local_stack(tour_folder: Path, capsys) -> None:
    # Given the walkthrough's first block: subscribe, upload the spec, make data, upload it, show the model
    block = code_blocks(GETTING_STARTED_AWS, "bash")[0]
    stack_name = re.search(r"--stack-name (\S+)", block.text)
    assert stack_name is not None

    # When it runs against a fresh stack named as the page names it, with the template's upload limit
    # (env.json's overrides only: the suite's small test limit would quarantine the page's data)
    overrides = load_env_overrides(ROOT / "env.json")
    with in_process_stack(ROOT, stack_name=stack_name.group(1), env_overrides=overrides) as stack:
        printed = run_on_stack(stack, block, capsys)
        # and the next block's `sluice predict` scores rows of the same data through the stack's API (the
        # local front stands in for API Gateway, so the command is given its URL instead of the stack's
        # PredictionApiUrl output); the block's curl command is run by test_auth.py
        (predict, curl) = commands(code_blocks(GETTING_STARTED_AWS, "bash")[1])
        assert curl.startswith("curl --aws-sigv4")
        run_sluice("sluice example-data credit-risk --rows 3 --out rows.csv", capsys)
        api = stack.serve_api(0)
        try:
            with pytest.MonkeyPatch.context() as env:
                env.setenv("AWS_ACCESS_KEY_ID", stack.credentials["access_key_id"])
                env.setenv("AWS_SECRET_ACCESS_KEY", stack.credentials["secret_access_key"])
                scored = run_sluice(re.sub(r"--stack-name \S+", f"--api-url {api.url}", predict), capsys)
        finally:
            api.stop()

    # Then the data upload started one run that succeeded, and `show` names version 1 in production
    uploads = [
        json.loads(out) for command, out in printed.items() if command.startswith("aws s3 cp data.csv")
    ]
    assert uploads == [["SUCCEEDED"]]
    shown = printed[commands(block)[-1]]
    assert "credit-risk" in shown and "production" in shown.lower()
    # and the three rows were scored, one line each after the header
    assert len(scored.strip().splitlines()) == 4, scored
