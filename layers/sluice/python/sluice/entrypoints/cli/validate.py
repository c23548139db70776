"""`sluice validate --spec SPEC --data CSV [--json]`: check a data file against a model spec."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sluice.domain.data.validation import validate_source
from sluice.entrypoints.cli.common import EXIT_FAILED, EXIT_OK, print_json, read_spec, require_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check a CSV file against a model spec")
    parser.add_argument("--spec", type=Path, required=True, help="model spec (YAML)")
    parser.add_argument("--data", type=Path, required=True, help="data file (UTF-8 CSV with a header row)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    report, _ = validate_source(spec, require_file(args.data), str(args.data))
    if args.json:
        print_json(report.model_dump(mode="json"))
    else:
        print(report.to_text())
    return EXIT_OK if report.passed else EXIT_FAILED
