"""Fixtures shared by every test folder: the CLI as a user types it, and example data on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice.domain.data.table import write_csv
from sluice.tools.cli import main
from sluice.tools.example_data import example_table
from sluice.tools.local.iam.enforcement import TRACE_ENV
from sluice.tools.local.latency import LATENCY_ENV
from tests.scheduling import ModuleScheduling, order_for_workers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# Every local stack the suite deploys (in this process, or `sluice local up` and the demo in a child)
# writes what its principals needed of IAM here: the least-privilege tests and `make iam-report` read it.
IAM_TRACE = Path(os.environ.setdefault(TRACE_ENV, str(ROOT / ".sluice" / "iam-trace.jsonl")))
# Written when a session that ran the whole suite passed: a later `pytest -m after_suite` (as `make test`
# runs it, after the suite ran on every core) then has a whole trace to judge.
WHOLE_SUITE_PASSED = IAM_TRACE.with_suffix(".whole-suite")
SUITE_FOLDERS = ("tests/integration", "tests/e2e", "tests/unit")
JUDGE_ONLY = "after_suite"
# `make lint` runs the tests marked lint (checkov's scans) in a session of their own: it deploys no stack
# and leaves the trace and its verdict alone.
LINT_ONLY = "lint"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sluice")
    group.addoption(
        "--aws-latency",
        action="store_true",
        help="AWS-like call latency on every local stack the tests start, in-process or `sluice local up` "
        f"(sets {LATENCY_ENV}; docs/guides/local-stack.md)",
    )
    group.addoption("--latency-seed", type=int, default=0, metavar="N", help="its seed (default 0)")


def pytest_configure(config: pytest.Config) -> None:
    """The `lint` marker; `--aws-latency`: every stack started from here on (this process, its xdist
    workers, the `sluice local up` processes the tests start) delays its principals' calls as AWS would."""
    config.addinivalue_line(
        "markers", "lint: runs in make lint, not in make test (checkov's scans: CI runs them once)"
    )
    if config.getoption("--aws-latency"):
        os.environ[LATENCY_ENV] = str(config.getoption("--latency-seed"))


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    """A fresh IAM trace for this session, unless it only judges the trace the last one left."""
    if _is_xdist_worker(session.config) or session.config.option.markexpr in (JUDGE_ONLY, LINT_ONLY):
        return
    IAM_TRACE.parent.mkdir(parents=True, exist_ok=True)
    IAM_TRACE.write_text("", encoding="utf-8")
    WHOLE_SUITE_PASSED.unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Say so when this session (each worker collects every test) collected the whole suite and passed;
    a failure anywhere (the xdist controller finishes last) takes it back."""
    if session.config.option.markexpr in (JUDGE_ONLY, LINT_ONLY):
        return
    if exitstatus != 0:
        WHOLE_SUITE_PASSED.unlink(missing_ok=True)
    elif whole_suite_collected(session):
        WHOLE_SUITE_PASSED.write_text(f"{len(session.items)} tests\n", encoding="utf-8")


def whole_suite_collected(session: pytest.Session) -> bool:
    """Whether the session's tests span every folder of the suite (each worker collects them all)."""
    paths = {str(item.path.relative_to(ROOT)) for item in session.items}
    return all(any(p.startswith(folder) for p in paths) for folder in SUITE_FOLDERS)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Tests marked after_suite run last, once every other test has left its trace; before them, each
    package's modules together, those with a test marked slow first (tests/scheduling.py)."""
    order_for_workers(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist loadgroup` (`make test`), whole modules go to one worker each (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return ModuleScheduling(config, log)


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


CliRunner = Callable[..., CliResult]


@pytest.fixture
def sluice(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run `sluice ARGS…` in-process and capture what it prints."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def spec_path(name: str) -> Path:
    return EXAMPLES / name / "spec.yaml"


def write_example(path: Path, name: str, **knobs: Any) -> Path:
    """Write an example dataset (see sluice.tools.example_data) to a CSV file and return its path."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        write_csv(example_table(name, **knobs), handle)
    return path


@pytest.fixture
def credit_csv(tmp_path: Path) -> Path:
    return write_example(tmp_path / "credit.csv", "credit-risk", rows=3000, seed=1)
