"""Fixtures shared by every test folder: the CLI as a user types it, and example data on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice.domain.table import write_csv
from sluice.tools.cli import main
from sluice.tools.example_data import example_table

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


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
