"""Data validation: does a table satisfy a model spec? Every problem names its column, rows and an
example value, so a person can fix the file without opening a debugger."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import IO, Literal

import numpy as np
from pydantic import BaseModel, Field

from sluice.domain.data.table import MISSING_TOKENS, RawTable, parse_float, read_csv
from sluice.domain.spec.model_spec import CategoricalFeature, ModelSpec, NumericFeature, Task
from sluice.errors import DataUnreadable, SluiceError

MAX_ROWS_LISTED = 5

Severity = Literal["error", "warning"]


class Problem(BaseModel):
    """One kind of problem in one column (or the whole file), with where it happens."""

    column: str | None
    check: str
    severity: Severity = "error"
    message: str
    count: int = 0
    rows: list[int] = Field(default_factory=list, description="first data rows affected, 1-based")
    example: str | None = None


class ColumnProfile(BaseModel):
    role: Literal["feature", "target", "sensitive", "extra"]
    type: Literal["numeric", "categorical", "label"]
    count: int
    missing: int
    missing_rate: float
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    categories: dict[str, int] | None = None


class ValidationReport(BaseModel):
    """The verdict on one data file against one spec."""

    source: str
    model: str
    spec_sha256: str
    passed: bool
    n_rows: int
    n_columns: int
    columns: dict[str, ColumnProfile]
    problems: list[Problem]
    warnings: list[Problem]

    def to_text(self) -> str:
        """A report a person reads in a terminal."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"{self.source}: {verdict} against spec '{self.model}' "
            f"({self.n_rows} rows, {self.n_columns} columns, {len(self.problems)} problems, "
            f"{len(self.warnings)} warnings)"
        ]
        for problem in [*self.problems, *self.warnings]:
            where = f"column '{problem.column}'" if problem.column else "file"
            rows = ""
            if problem.rows:
                more = (
                    f" and {problem.count - len(problem.rows)} more"
                    if problem.count > len(problem.rows)
                    else ""
                )
                rows = f" rows {', '.join(map(str, problem.rows))}{more}"
            example = f" (e.g. {problem.example!r})" if problem.example is not None else ""
            lines.append(f"  {problem.severity.upper()} {where}: {problem.message}{rows}{example}")
        if self.columns:
            lines.append("  columns:")
            for name, profile in self.columns.items():
                summary = f"{profile.count} values, {profile.missing_rate:.1%} missing"
                if profile.min is not None:
                    summary += f", min {profile.min:g}, max {profile.max:g}"
                if profile.categories is not None:
                    top = ", ".join(f"{k}={v}" for k, v in list(profile.categories.items())[:6])
                    summary += f", {top}"
                lines.append(f"    {name} ({profile.role}, {profile.type}): {summary}")
        return "\n".join(lines)


def _problem(
    column: str | None,
    check: str,
    message: str,
    rows: list[int],
    cells: list[str] | None = None,
    severity: Severity = "error",
) -> Problem:
    example = cells[rows[0] - 1] if cells is not None and rows else None
    return Problem(
        column=column,
        check=check,
        severity=severity,
        message=message,
        count=len(rows),
        rows=rows[:MAX_ROWS_LISTED],
        example=example,
    )


def _missing_mask(cells: list[str]) -> np.ndarray:
    return np.fromiter((c.strip() in MISSING_TOKENS for c in cells), dtype=bool, count=len(cells))


def _rows(mask: np.ndarray) -> list[int]:
    return [int(i) + 1 for i in np.flatnonzero(mask)]


def _profile_numeric(values: np.ndarray, missing: np.ndarray, role: str) -> ColumnProfile:
    present = values[~np.isnan(values)]
    n = len(values)
    return ColumnProfile.model_validate(
        {
            "role": role,
            "type": "numeric",
            "count": int(present.size),
            "missing": int(missing.sum()),
            "missing_rate": float(missing.sum() / n) if n else 0.0,
            "min": float(present.min()) if present.size else None,
            "max": float(present.max()) if present.size else None,
            "mean": float(present.mean()) if present.size else None,
        }
    )


def _profile_categorical(cells: list[str], missing: np.ndarray, role: str, kind: str) -> ColumnProfile:
    counts = Counter(c.strip() for c, m in zip(cells, missing, strict=True) if not m)
    n = len(cells)
    return ColumnProfile.model_validate(
        {
            "role": role,
            "type": kind,
            "count": int(n - missing.sum()),
            "missing": int(missing.sum()),
            "missing_rate": float(missing.sum() / n) if n else 0.0,
            "categories": dict(counts.most_common(50)),
        }
    )


def _parse_numbers(cells: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Values (NaN where missing or invalid) and a mask of cells that are present but not numbers."""
    values = np.empty(len(cells), dtype=np.float64)
    invalid = np.zeros(len(cells), dtype=bool)
    for i, cell in enumerate(cells):
        value = parse_float(cell)
        if value is None:
            invalid[i] = True
            values[i] = math.nan
        else:
            values[i] = value
    return values, invalid


def _check_numeric(feature: NumericFeature, cells: list[str], problems: list[Problem]) -> ColumnProfile:
    missing = _missing_mask(cells)
    values, invalid = _parse_numbers(cells)
    if invalid.any():
        problems.append(_problem(feature.name, "type", "not a number", _rows(invalid), cells))
    if not feature.nullable and missing.any():
        problems.append(
            _problem(
                feature.name, "nullable", "missing value in a non-nullable column", _rows(missing), cells
            )
        )
    with np.errstate(invalid="ignore"):
        if feature.min is not None:
            below = values < feature.min
            if below.any():
                problems.append(
                    _problem(feature.name, "range", f"below the minimum {feature.min:g}", _rows(below), cells)
                )
        if feature.max is not None:
            above = values > feature.max
            if above.any():
                problems.append(
                    _problem(feature.name, "range", f"above the maximum {feature.max:g}", _rows(above), cells)
                )
    return _profile_numeric(values, missing, "feature")


def _check_categorical(
    feature: CategoricalFeature, cells: list[str], problems: list[Problem]
) -> ColumnProfile:
    missing = _missing_mask(cells)
    allowed = set(feature.categories)
    unknown = np.fromiter(
        (not m and c.strip() not in allowed for c, m in zip(cells, missing, strict=True)),
        dtype=bool,
        count=len(cells),
    )
    if unknown.any():
        seen = sorted({cells[i].strip() for i in np.flatnonzero(unknown)})[:10]
        problems.append(
            _problem(
                feature.name,
                "category",
                f"unknown categories {seen}; allowed {feature.categories}",
                _rows(unknown),
                cells,
            )
        )
    if not feature.nullable and missing.any():
        problems.append(
            _problem(
                feature.name, "nullable", "missing value in a non-nullable column", _rows(missing), cells
            )
        )
    return _profile_categorical(cells, missing, "feature", "categorical")


def _check_target(spec: ModelSpec, cells: list[str], problems: list[Problem]) -> ColumnProfile:
    name = spec.target
    missing = _missing_mask(cells)
    if missing.any():
        problems.append(_problem(name, "target", "the target is missing", _rows(missing), cells))
    if spec.task is Task.REGRESSION:
        values, invalid = _parse_numbers(cells)
        if invalid.any():
            problems.append(_problem(name, "target", "the target is not a number", _rows(invalid), cells))
        return _profile_numeric(values, missing, "target")
    if spec.task is Task.BINARY:
        bad = np.fromiter(
            (not m and parse_float(c) not in (0.0, 1.0) for c, m in zip(cells, missing, strict=True)),
            dtype=bool,
            count=len(cells),
        )
        if bad.any():
            problems.append(_problem(name, "target", "a binary target must be 0 or 1", _rows(bad), cells))
    profile = _profile_categorical(cells, missing, "target", "label")
    if profile.categories is not None and len(profile.categories) < 2 and profile.count > 0:
        problems.append(
            Problem(
                column=name,
                check="target",
                message=f"the target has a single class {list(profile.categories)}; a classifier needs two or more",
                count=profile.count,
            )
        )
    return profile


def validate_table(spec: ModelSpec, table: RawTable) -> ValidationReport:
    """Check a table against a spec: columns, types, ranges, categories, nulls, target values,
    emptiness and duplicate rows (a warning). Never raises for bad data; the report says what is wrong."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    columns: dict[str, ColumnProfile] = {}

    required = [*spec.feature_names, spec.target] + ([spec.sensitive] if spec.sensitive else [])
    for name in table.duplicate_header:
        problems.append(Problem(column=name, check="columns", message="the header names this column twice"))
    missing_columns = [c for c in required if c not in table.columns]
    for name in missing_columns:
        problems.append(
            Problem(column=name, check="columns", message="required column is missing from the header")
        )
    for name in table.header:
        if name not in required and name not in (spec.ignored_columns or []):
            problems.append(
                Problem(
                    column=name,
                    check="columns",
                    message="column is not in the spec (not a feature, target, sensitive or ignored)",
                )
            )
    if table.n_rows == 0:
        problems.append(Problem(column=None, check="empty", message="the file has a header but no data rows"))

    if table.n_rows:
        for feature in spec.features:
            cells = table.columns.get(feature.name)
            if cells is None:
                continue
            if isinstance(feature, NumericFeature):
                columns[feature.name] = _check_numeric(feature, cells, problems)
            else:
                columns[feature.name] = _check_categorical(feature, cells, problems)
        if spec.target in table.columns:
            columns[spec.target] = _check_target(spec, table.columns[spec.target], problems)
        if spec.sensitive and spec.sensitive in table.columns:
            cells = table.columns[spec.sensitive]
            columns[spec.sensitive] = _profile_categorical(
                cells, _missing_mask(cells), "sensitive", "categorical"
            )
        first_seen: dict[tuple[str, ...], int] = {}
        duplicate_rows = []
        for row_number, row in enumerate(table.rows(), start=1):
            if row in first_seen:
                duplicate_rows.append(row_number)
            else:
                first_seen[row] = row_number
        if duplicate_rows:
            warnings.append(
                Problem(
                    column=None,
                    check="duplicates",
                    severity="warning",
                    message="rows repeat an earlier row exactly",
                    count=len(duplicate_rows),
                    rows=duplicate_rows[:MAX_ROWS_LISTED],
                )
            )

    return ValidationReport(
        source=table.source,
        model=spec.name,
        spec_sha256=spec.sha256,
        passed=not problems,
        n_rows=table.n_rows,
        n_columns=len(table.header),
        columns=columns,
        problems=problems,
        warnings=warnings,
    )


def validate_source(
    spec: ModelSpec, source: Path | IO[bytes], name: str
) -> tuple[ValidationReport, RawTable | None]:
    """Read a CSV (streaming) and validate it. A file that is not CSV, not UTF-8 or empty gets a failed
    report with a file-level problem instead of an exception; the table is None then."""
    try:
        table = read_csv(source, name)
    except DataUnreadable as exc:
        problem = Problem(column=None, check="format", message=str(exc).removeprefix(f"{name}: "))
        report = ValidationReport(
            source=name,
            model=spec.name,
            spec_sha256=spec.sha256,
            passed=False,
            n_rows=0,
            n_columns=0,
            columns={},
            problems=[problem],
            warnings=[],
        )
        return report, None
    return validate_table(spec, table), table


class ValidationFailed(SluiceError):
    """Data was read but does not satisfy the spec; carries the validation report."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report
