"""The `sluice` console script: the CLI's commands (sluice.entrypoints.cli) and, in the order `sluice
--help` lists them, the commands for the local stack, the demo and the example data, which are tools
for people and never shipped to Lambda."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sluice.entrypoints import cli

if TYPE_CHECKING:
    import argparse


def _entrypoint(name: str) -> str:
    return f"sluice.entrypoints.cli.{name}"


def _tool(name: str) -> str:
    return f"sluice.tools.cli.{name}"


COMMAND_MODULES: tuple[str, ...] = (
    _entrypoint("validate"),
    _entrypoint("init"),
    _entrypoint("train"),
    _tool("example_data"),
    _entrypoint("drift"),
    _tool("local"),
    _tool("invoke"),
    _entrypoint("models"),
    _tool("demo"),
    _entrypoint("predict"),
    _entrypoint("experiments"),
    _entrypoint("batch"),
    _entrypoint("dashboard"),
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand."""
    return cli.build_parser(COMMAND_MODULES)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    return cli.main(argv, COMMAND_MODULES)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
