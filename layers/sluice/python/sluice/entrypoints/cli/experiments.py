"""`sluice experiments MODEL [--version N] [--json]`: a version's candidate search — every candidate's
cross-validated score, fit time, size and latency, and why the chosen one was chosen — read from the
stack's registry like `sluice models` (the same --stack-outputs / --stack-name / `sluice local up`)."""

from __future__ import annotations

import argparse
from typing import Any

from sluice.entrypoints.cli.common import EXIT_FAILED, EXIT_OK, CommandError, print_json
from sluice.entrypoints.cli.models import add_stack_arguments, stack_deps_of
from sluice.errors import SluiceError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("experiments", help="a model version's candidate search, as a table")
    parser.add_argument("model")
    parser.add_argument(
        "--version", type=int, help="the version (default: the latest version that searched candidates)"
    )
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the experiment as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sluice.app.registry.experiments import experiment_of
    from sluice.domain.training.search import experiment_text

    deps = stack_deps_of(args)
    try:
        experiment = experiment_of(args.model, args.version, deps)
    except SluiceError as exc:
        raise CommandError(str(exc), exit_code=EXIT_FAILED) from exc
    if args.json:
        print_json(experiment.model_dump(mode="json"))
    else:
        print(experiment_text(experiment))
    return EXIT_OK
