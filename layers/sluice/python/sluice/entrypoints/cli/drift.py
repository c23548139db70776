"""`sluice drift`: compare current data with a reference and say whether it drifted.

Exit codes: 0 no dataset drift (or insufficient data), 1 dataset drift, 2 input that cannot be used
(unreadable file, bad spec, unknown method); the reason goes to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from sluice.domain.data.table import RawTable, read_csv, read_jsonl
from sluice.domain.monitoring.drift.names import METHOD_NAMES
from sluice.domain.monitoring.reference import REFERENCE_FILE
from sluice.entrypoints.cli.common import EXIT_FAILED, EXIT_OK, EXIT_UNREADABLE
from sluice.errors import DataUnreadable, SpecError

if TYPE_CHECKING:
    from sluice.domain.monitoring.drift import DriftReport
    from sluice.domain.monitoring.drift.explain import Explanation

GZIP_MAGIC = b"\x1f\x8b"


def register(subparsers: Any) -> None:
    """Add the `drift` command to the `sluice` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "drift",
        help="compare current data with a reference sample and report drift",
        description=(
            "Compare CUR with REF column by column using Evidently's default methods (or the ones "
            "chosen per column) and decide drift for the dataset. Exit 0: no drift; 1: drift; "
            "2: unreadable input."
        ),
    )
    parser.add_argument(
        "--reference",
        required=True,
        type=Path,
        metavar="REF",
        help=f"reference CSV (optionally gzip), or a model folder holding {REFERENCE_FILE}",
    )
    parser.add_argument(
        "--current",
        required=True,
        type=Path,
        metavar="CUR",
        help="current CSV, or JSON lines of captured records (features under 'inputs'); may be gzip",
    )
    parser.add_argument("--spec", type=Path, help="model spec: column types, features and drift: settings")
    parser.add_argument(
        "--categorical",
        action="append",
        default=[],
        metavar="COL,...",
        help="treat these columns as categorical (repeatable)",
    )
    parser.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="COL=METHOD",
        help=f"drift method for a column, one of {', '.join(METHOD_NAMES)} (repeatable)",
    )
    parser.add_argument(
        "--threshold", action="append", default=[], metavar="COL=VALUE", help="threshold for a column"
    )
    parser.add_argument(
        "--share-threshold",
        type=float,
        default=None,
        metavar="X",
        help="dataset drift when the share of drifted columns is at least X (default 0.5, or the spec's)",
    )
    parser.add_argument(
        "--multivariate-threshold",
        type=float,
        default=None,
        metavar="X",
        help=(
            "drift when a classifier tells CUR rows from REF rows with a cross-validated ROC AUC above X "
            "(default 0.55, or the spec's drift.multivariate_threshold)"
        ),
    )
    parser.add_argument(
        "--min-rows",
        type=int,
        default=0,
        metavar="N",
        help="report 'insufficient data' instead of a verdict when either side has fewer rows",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the check the parsed arguments describe; returns the exit code."""
    # numpy and scipy take seconds to import: only `sluice drift` pays for them, not every command.
    from sluice.domain.monitoring.drift import DriftMethodError
    from sluice.domain.monitoring.drift.next_steps import explain_files

    try:
        report, model = _check(args)
        explanation = explain_files(report, model)
        if args.html is not None:
            _write_html(
                args.html, report, explanation, f"Drift: {args.current.name} against {args.reference.name}"
            )
    except (DataUnreadable, SpecError, DriftMethodError) as exc:
        print(f"sluice drift: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        print(
            json.dumps(report.model_dump(mode="json") | {"explanation": explanation.model_dump(mode="json")})
        )
    else:
        print(format_text(report, explanation))
    return EXIT_FAILED if report.dataset_drift else EXIT_OK


def _check(args: argparse.Namespace) -> tuple[DriftReport, str | None]:
    """The report, and the model's name when a spec was given."""
    from sluice.domain.monitoring.drift import ColumnOverride, DriftMethodError, check_drift
    from sluice.domain.monitoring.drift.multivariate import multivariate_settings

    reference = read_reference(args.reference)
    current = read_current(args.current)
    column_types: dict[str, str] = {}
    overrides: dict[str, ColumnOverride] = {}
    columns: list[str] | None = None
    share_threshold = 0.5
    multivariate_threshold: float | None = None
    model: str | None = None
    if args.spec is not None:
        from sluice.domain.spec.model_spec import (
            load_spec,  # only the CLI reads specs; the engine takes plain arguments
        )

        spec = load_spec(args.spec)
        model = spec.name
        columns = [feature.name for feature in spec.features]
        column_types = {feature.name: feature.type for feature in spec.features}
        overrides = {
            name: ColumnOverride(method=setting.method, threshold=setting.threshold)
            for name, setting in spec.drift.columns.items()
        }
        share_threshold = spec.drift.share_threshold
        multivariate_threshold = spec.drift.multivariate_threshold
    for group in args.categorical:
        column_types.update({name.strip(): "categorical" for name in group.split(",") if name.strip()})
    for name, method in _pairs(args.method, "--method"):
        overrides[name] = ColumnOverride(
            method=method, threshold=overrides.get(name, ColumnOverride()).threshold
        )
    for name, text in _pairs(args.threshold, "--threshold"):
        try:
            value = float(text)
        except ValueError:
            raise DriftMethodError(f"--threshold {name}={text}: the threshold is not a number") from None
        overrides[name] = ColumnOverride(method=overrides.get(name, ColumnOverride()).method, threshold=value)
    if args.share_threshold is not None:
        share_threshold = args.share_threshold
    if not 0 < share_threshold <= 1:
        raise DriftMethodError(f"--share-threshold must be in (0, 1], not {share_threshold}")
    if args.multivariate_threshold is not None:
        multivariate_threshold = args.multivariate_threshold
    if multivariate_threshold is not None and not 0.5 < multivariate_threshold <= 1:
        raise DriftMethodError(f"--multivariate-threshold must be in (0.5, 1], not {multivariate_threshold}")
    known = set(columns) if columns is not None else set(reference.columns) & set(current.columns)
    unknown = sorted((set(overrides) | set(column_types)) - known)
    if unknown:
        raise DriftMethodError(f"no column named {', '.join(unknown)} is compared")
    report = check_drift(
        reference,
        current,
        column_types=column_types,
        overrides=overrides,
        share_threshold=share_threshold,
        min_rows=args.min_rows,
        columns=columns,
        multivariate=multivariate_settings(multivariate_threshold),
    )
    return report, model


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    from sluice.domain.monitoring.drift import DriftMethodError

    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise DriftMethodError(f"{flag} {item!r}: expected COLUMN=VALUE")
        pairs.append((name.strip(), value.strip()))
    return pairs


def read_reference(path: Path) -> RawTable:
    """The reference table: a CSV file (plain or gzip), or a model folder's reference sample."""
    if path.is_dir():
        sample = path / REFERENCE_FILE
        if not sample.is_file():
            raise DataUnreadable(f"{path}: a folder without {REFERENCE_FILE} (expected a model folder)")
        path = sample
    return read_table(path)


def read_current(path: Path) -> RawTable:
    """The current table: CSV, or JSON lines of records (captured traffic keeps features under
    "inputs"), either of them plain or gzip."""
    return read_table(path)


def read_table(path: Path) -> RawTable:
    """A CSV or JSON-lines file, told apart by content (JSON lines start with "{"); gzip is undone."""
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
    except OSError as exc:
        raise DataUnreadable(f"{path}: cannot open file ({exc.strerror})") from exc
    compressed = head == GZIP_MAGIC
    try:
        with cast(IO[bytes], gzip.open(path, "rb") if compressed else path.open("rb")) as stream:
            if _starts_with_brace(stream):
                return read_jsonl(path, record_key="inputs")
            stream.seek(0)
            return read_csv(stream, str(path))
    except (OSError, EOFError) as exc:
        raise DataUnreadable(f"{path}: cannot read file ({exc})") from exc


def _starts_with_brace(stream: IO[bytes]) -> bool:
    head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _write_html(path: Path, report: DriftReport, explanation: Explanation, title: str) -> None:
    from sluice.domain.monitoring.drift.report_html import render_html

    try:
        path.write_text(render_html(report, title=title, explanation=explanation), encoding="utf-8")
    except OSError as exc:
        raise DataUnreadable(f"{path}: cannot write the HTML report ({exc.strerror})") from exc


def format_text(report: DriftReport, explanation: Explanation | None = None) -> str:
    """The report for a terminal: the summary line, then one line per column, then (given one) the
    report in words: the drifted columns' sentences, what may happen next and what a person can do."""
    lines = [report.summary()]
    if report.features:
        width = max(len(name) for name in report.features)
        lines.append(
            f"{'column':<{width}}  {'type':<11}  {'method':<13}  {'score':>10}  {'threshold':>9}  "
            f"{'drift':<12}  missing ref/cur"
        )
        for name, column in report.features.items():
            score = "null" if column.score is None else f"{column.score:.4g}"
            drift = "not computed" if column.status != "computed" else "DRIFT" if column.drifted else "-"
            line = (
                f"{name:<{width}}  {column.type:<11}  {column.method:<13}  {score:>10}  "
                f"{column.threshold:>9.4g}  {drift:<12}  "
                f"{column.missing_reference:.1%}/{column.missing_current:.1%}"
            )
            if column.unseen_categories:
                line += f"  new: {', '.join(column.unseen_categories[:5])}"
            lines.append(line)
    if explanation is not None:
        lines += ["", explanation.headline, *(f"  {sentence}" for sentence in explanation.columns.values())]
        lines += [explanation.multivariate] if explanation.multivariate else []
        lines.append(explanation.next)
        lines += [f"  - {action}" for action in explanation.actions]
    return "\n".join(lines)
