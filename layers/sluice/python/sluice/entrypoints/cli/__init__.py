"""The `sluice` command, an entry point for people: what acts on a model's files or on a deployed stack
(validate, init, train, drift, models, predict, experiments, batch, dashboard). Each subcommand lives in
its own module and defines `register(subparsers)`; a command sets `func` on its parser, which takes the
parsed namespace and returns an exit code.

The `sluice` console script (sluice.tools.cli) adds the commands for the local stack and the demo,
which are tools and never shipped; `python -m sluice.entrypoints.cli` runs these alone."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

OPERATOR_COMMANDS: tuple[str, ...] = tuple(
    f"sluice.entrypoints.cli.{name}"
    for name in (
        "validate",
        "init",
        "train",
        "drift",
        "models",
        "predict",
        "experiments",
        "batch",
        "dashboard",
    )
)

Handler = Callable[[argparse.Namespace], int]
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


def build_parser(commands: Sequence[str] = OPERATOR_COMMANDS) -> argparse.ArgumentParser:
    """The argument parser with the subcommands of the modules named in `commands`, in that order."""
    parser = argparse.ArgumentParser(prog="sluice", description="Serverless MLOps for tabular models.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in commands:
        import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, commands: Sequence[str] = OPERATOR_COMMANDS) -> int:
    """Run the command `argv` names among `commands`; returns the process exit code."""
    from sluice.entrypoints.cli.common import CommandError

    parser = build_parser(commands)
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except CommandError as exc:
        print(f"sluice {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader left (`sluice … --json | head`): stop quietly, as a Unix tool killed by SIGPIPE
        # would. stdout goes to /dev/null so the interpreter's final flush cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
