"""The `sluice` command. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

# Modules under sluice.tools.cli that each define `register(subparsers)`; a command sets `func` on its parser
# that takes the parsed namespace and returns an exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "validate",
    "init",
    "train",
    "example-data",
    "drift",
    "local",
    "invoke",
    "models",
    "demo",
    "predict",
    "experiments",
    "batch",
    "dashboard",
)

Handler = Callable[[argparse.Namespace], int]
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="sluice", description="Serverless MLOps for tabular models.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        import_module(f"sluice.tools.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    from sluice.tools.cli.common import CommandError

    parser = build_parser()
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
