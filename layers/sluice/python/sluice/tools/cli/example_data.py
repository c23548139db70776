"""`sluice example-data NAME --out FILE`: write an example dataset (credit-risk with knobs, or one of
scikit-learn's bundled sets) as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sluice.domain.data.table import write_csv
from sluice.entrypoints.cli.common import EXIT_OK, progress
from sluice.tools.example_data import BUNDLED, example_table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("example-data", help="write an example dataset as CSV")
    parser.add_argument("name", choices=["credit-risk", *BUNDLED])
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--rows", type=int, default=5000, help="credit-risk: number of rows")
    parser.add_argument("--seed", type=int, default=0, help="credit-risk: random seed")
    parser.add_argument("--label-noise", type=float, default=0.0, help="credit-risk: share of labels flipped")
    parser.add_argument("--shift", type=float, default=0.0, help="credit-risk: distribution shift, 0 to 1")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    table = example_table(
        args.name, rows=args.rows, seed=args.seed, label_noise=args.label_noise, shift=args.shift
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        write_csv(table, handle)
    progress(f"wrote {table.n_rows} rows of {args.name} to {args.out}")
    return EXIT_OK
