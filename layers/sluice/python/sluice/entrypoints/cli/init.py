"""`sluice init --data CSV --target COLUMN [--sensitive COLUMN] [--name NAME] [--out SPEC] [--json]`: a first
model spec inferred from a data file, for a person to read, edit, validate and train."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sluice.domain.data.infer_spec import infer_spec, slugify_name
from sluice.domain.data.table import read_csv
from sluice.entrypoints.cli.common import EXIT_OK, CommandError, print_json, progress, require_file
from sluice.errors import DataUnreadable, SpecError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("init", help="infer a model spec from a CSV file and its target column")
    parser.add_argument("--data", type=Path, required=True, help="data file (UTF-8 CSV with a header row)")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--sensitive", help="a column to measure fairness across (never a feature)")
    parser.add_argument("--name", help="model name (default: the file name, lower case with hyphens)")
    parser.add_argument("--out", type=Path, help="write the spec (YAML) here instead of printing it")
    parser.add_argument("--json", action="store_true", help="print the spec document as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    data = require_file(args.data)
    try:
        table = read_csv(data, str(data))
        inferred = infer_spec(
            table,
            target=args.target,
            name=args.name or slugify_name(data.stem),
            sensitive=args.sensitive,
        )
    except (DataUnreadable, SpecError) as exc:
        raise CommandError(str(exc)) from exc
    for note in inferred.left_out.values():
        progress(f"left out {note.column}: {note.comment}")
    for warning in inferred.warnings:
        progress(f"warning: {warning}")
    if args.out is not None:
        try:
            args.out.write_text(inferred.yaml_text(), encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{args.out}: cannot write the spec ({exc.strerror})") from exc
        progress(
            f"wrote {args.out} ({inferred.document['task']}, {len(inferred.document['features'])} features); "
            f"check it with `sluice validate --spec {args.out} --data {data}`"
        )
    if args.json:
        print_json(inferred.document)
    elif args.out is None:
        print(inferred.yaml_text(), end="")
    return EXIT_OK
