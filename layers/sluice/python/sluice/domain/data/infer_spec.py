"""`sluice init`: a first model spec inferred from a CSV and the name of its target column.

The spec is a starting point a person reads and edits: each feature's type, range, nullability and
categories come from the data; columns that cannot help a model (identifiers, constants, empty or
free-text columns, text with too many values) are left out with a comment saying why; the task, metric,
gates and a candidate search follow from the target. `InferredSpec.yaml_text()` writes it all as YAML
with comments.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from sluice.domain.data.table import RawTable, is_missing, parse_float
from sluice.domain.spec.model_spec import NAME_PATTERN, Metric, ModelSpec, Task, parse_spec
from sluice.domain.spec.yaml_text import (
    comment_lines,
    commented_line,
    feature_lines,
    flow_mapping,
    yaml_scalar,
)
from sluice.errors import SpecError

# Every category a column has must be listed (validation rejects an unknown one), so a text column with
# more values than this is left out rather than listed in part.
MAX_CATEGORIES = 50
# ... as is one with more distinct values than half its rows (once it has more than MIN_SHARED_VALUES).
HIGH_CARDINALITY_SHARE = 0.5
MIN_SHARED_VALUES = 10
MIN_ROWS_FOR_IDENTIFIER = 20  # fewer rows than this: a unique value per row proves nothing
MAX_INTEGER_CLASSES = 10  # an integer target with at most this many values is multiclass
FREE_TEXT_WORDS = 3.0  # values with at least this many words on average are sentences, not categories
MAX_REGRESSION = 0.01  # how much worse than production a retrained roc_auc / f1 may be
_IDENTIFIER_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key|index|idx|row|number|no)$", re.IGNORECASE)
_CAMEL_IDENTIFIER = re.compile(r"[a-z](Id|ID|Key|No)$")  # customerId, orderNo


class LeftOutReason(StrEnum):
    IDENTIFIER = "identifier"  # a different value on every row: it names rows, it cannot generalise
    CONSTANT = "constant"  # one value on every row: nothing to learn from
    ALL_MISSING = "all_missing"  # no value at all
    HIGH_CARDINALITY = "high_cardinality"  # text with too many values to list as categories
    FREE_TEXT = "free_text"  # sentences: a tabular model cannot use them as categories


@dataclass(frozen=True)
class ColumnNote:
    """What `infer_spec` made of one column: its role and, in words, what was inferred or why it was
    left out (`reason` set then)."""

    column: str
    role: Literal["target", "sensitive", "numeric", "categorical", "left_out"]
    comment: str
    reason: LeftOutReason | None = None


@dataclass(frozen=True)
class InferredSpec:
    """A spec document (valid for ModelSpec) and the notes that explain it, column by column."""

    document: dict[str, Any]
    notes: dict[str, ColumnNote]  # every column of the file, in file order
    source: str
    n_rows: int
    comments: dict[str, str] = field(default_factory=dict)  # top-level key → why it has its value
    warnings: list[str] = field(default_factory=list)  # what will stop the same file from validating

    @property
    def spec(self) -> ModelSpec:
        """The document as a validated spec."""
        return ModelSpec.model_validate(self.document)

    @property
    def left_out(self) -> dict[str, ColumnNote]:
        """The columns that are not in the spec, each with why."""
        return {name: note for name, note in self.notes.items() if note.role == "left_out"}

    def yaml_text(self) -> str:
        """The spec as YAML a person edits: the document's keys in a readable order, every feature on
        its own line with what the data showed, left-out columns and warnings as `#` comments. Loading
        it gives back `document`."""
        return _render(self)


@dataclass(frozen=True)
class _Column:
    name: str
    n_rows: int
    values: list[str]  # the present cells, stripped, in row order
    counts: Counter[str]
    numbers: list[float] | None  # every present value as a number, when each is one

    @classmethod
    def of(cls, table: RawTable, name: str) -> _Column:
        values = [cell.strip() for cell in table.columns[name] if not is_missing(cell)]
        parsed = [parse_float(value) for value in values]
        numbers = None if any(v is None for v in parsed) else [float(v) for v in parsed if v is not None]
        return cls(name, table.n_rows, values, Counter(values), numbers)

    @property
    def missing(self) -> int:
        return self.n_rows - len(self.values)

    @property
    def distinct(self) -> int:
        return len(self.counts)

    def missing_text(self) -> str:
        return f"; {self.missing / self.n_rows:.0%} missing" if self.missing else ""

    def frequent(self) -> list[str]:
        """Distinct values, the most frequent first (ties in text order)."""
        return [value for value, _ in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def slugify_name(text: str) -> str:
    """A valid model name from any text (a file stem): lower case, runs of other characters as one
    hyphen, at most 64 characters; "model" when nothing is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")
    return slug if re.match(NAME_PATTERN, slug) else "model"


def infer_spec(
    table: RawTable,
    *,
    target: str,
    name: str,
    sensitive: str | None = None,
    description: str | None = None,
    intended_use: str | None = None,
) -> InferredSpec:
    """Infer a spec for predicting `target` from the other columns of `table`.

    The task comes from the target (two values 0/1: binary; text, or a few integer classes: multiclass;
    other numbers: regression). Raises SpecError when a named column is not in the table, the target has
    no value or a single one, or `name` is not a valid model name. Left-out columns are the spec's
    `ignored_columns`, so the spec validates `table` except for what `warnings` says (rows without a
    target)."""
    for role, column in (("target", target), ("sensitive", sensitive)):
        if column is not None and column not in table.columns:
            raise SpecError(f"{role}: column '{column}' is not in {table.source} (columns: {table.header})")
    if sensitive == target:
        raise SpecError(f"sensitive: '{sensitive}' is the target; name another column")
    if not re.match(NAME_PATTERN, name):
        raise SpecError(f"name: {name!r} is not a model name (lower case letters, digits and hyphens)")
    label = _Column.of(table, target)
    task, task_comment = _infer_task(label)
    notes: dict[str, ColumnNote] = {}
    features: list[dict[str, Any]] = []
    for column_name in table.header:
        if column_name == target:
            notes[column_name] = ColumnNote(column_name, "target", task_comment)
        elif column_name == sensitive:
            notes[column_name] = ColumnNote(
                column_name, "sensitive", "fairness is measured across its groups"
            )
        else:
            feature, note = _infer_feature(_Column.of(table, column_name))
            notes[column_name] = note
            if feature is not None:
                features.append(feature)
    if not features:
        raise SpecError(f"{table.source}: no column besides the target can be a feature ({_reasons(notes)})")
    metric, gates, gates_comment = _metric_and_gates(task, label)
    document: dict[str, Any] = {"name": name}
    if description:
        document["description"] = description
    if intended_use:
        document["intended_use"] = intended_use
    document |= {"task": task.value, "target": target, "features": features}
    if sensitive is not None:
        document["fairness"] = {"sensitive": sensitive}
    document |= {"candidates": "auto", "metric": metric.value, "gates": gates}
    comments = {
        "task": task_comment,
        "candidates": "a default list of algorithms, each cross-validated; the best is trained",
        "metric": _METRIC_COMMENTS[metric],
        "gates": gates_comment,
        "fairness": "the card shows the gap between its groups; gates.max_fairness_gap can bound it",
    }
    warnings = []
    if label.missing:
        warnings.append(
            f"{label.missing} of {label.n_rows} rows have no {target}: validation rejects a row without a "
            "target, so remove those rows (or fill them in) before uploading"
        )
    left_out = [n for n, note in notes.items() if note.role == "left_out"]
    if left_out:
        document["ignored_columns"] = left_out
        comments["ignored_columns"] = "in the file, not used by the model (why: under features)"
    inferred = InferredSpec(document, notes, table.source, table.n_rows, comments, warnings)
    parse_spec(inferred.yaml_text(), source=f"the spec inferred from {table.source}")  # names a bad key
    return inferred


def _infer_task(label: _Column) -> tuple[Task, str]:
    name = label.name
    if label.distinct < 2:
        seen = f"only {label.frequent()[0]!r}" if label.values else "no value at all"
        raise SpecError(f"target: column '{name}' has {seen}; a model needs at least two outcomes")
    if label.numbers is not None and set(label.numbers) == {0.0, 1.0}:
        return Task.BINARY, f"'{name}' has two values, 0 and 1"
    if label.distinct == 2:
        first, second = sorted(label.counts)
        return Task.MULTICLASS, (
            f"'{name}' has two values, {first!r} and {second!r}; recode them as 0 and 1 for task: binary "
            "(decision thresholds, fairness mitigation)"
        )
    if label.numbers is None:
        return Task.MULTICLASS, f"'{name}' is text with {label.distinct} classes"
    integral = all(v.is_integer() for v in label.numbers)
    if integral and label.distinct <= MAX_INTEGER_CLASSES:
        return Task.MULTICLASS, (
            f"'{name}' has {label.distinct} integer classes; write task: regression if they are amounts"
        )
    return Task.REGRESSION, f"'{name}' is a number with {label.distinct} distinct values"


def _left_out(column: _Column, reason: LeftOutReason, why: str) -> tuple[None, ColumnNote]:
    return None, ColumnNote(column.name, "left_out", why, reason)


def _infer_feature(column: _Column) -> tuple[dict[str, Any] | None, ColumnNote]:
    if not column.values:
        return _left_out(column, LeftOutReason.ALL_MISSING, "every cell is missing")
    if column.distinct == 1:
        gaps = f" where it has one ({column.missing} missing)" if column.missing else ""
        return _left_out(column, LeftOutReason.CONSTANT, f"always {column.values[0]!r}{gaps}")
    if column.numbers is not None:
        if _numbers_identify_rows(column):
            return _left_out(
                column,
                LeftOutReason.IDENTIFIER,
                "a different integer on every row: it names rows, it cannot predict",
            )
        return _numeric_feature(column)
    words = statistics.fmean(len(value.split()) for value in column.counts)
    unique_per_row = column.distinct == len(column.values) >= MIN_ROWS_FOR_IDENTIFIER
    too_many = column.distinct > MAX_CATEGORIES or (
        column.distinct > MIN_SHARED_VALUES and column.distinct > HIGH_CARDINALITY_SHARE * len(column.values)
    )
    if (unique_per_row or too_many) and words >= FREE_TEXT_WORDS:
        return _left_out(
            column, LeftOutReason.FREE_TEXT, f"free text ({words:.1f} words per value on average)"
        )
    if unique_per_row:
        return _left_out(
            column,
            LeftOutReason.IDENTIFIER,
            "a different text on every row: it names rows, it cannot predict",
        )
    if too_many:
        top = ", ".join(column.frequent()[:5])
        return _left_out(
            column,
            LeftOutReason.HIGH_CARDINALITY,
            f"{column.distinct} distinct values in {len(column.values)} rows (most frequent: {top}); a spec "
            f"lists every category (at most {MAX_CATEGORIES}), so to use it, group the rare values into "
            "one such as 'other' in the data, then list the categories",
        )
    feature: dict[str, Any] = {"name": column.name, "type": "categorical", "categories": column.frequent()}
    if column.missing:
        feature["nullable"] = True
    comment = f"{column.distinct} values, the most frequent first{column.missing_text()}"
    return feature, ColumnNote(column.name, "categorical", comment)


def _numbers_identify_rows(column: _Column) -> bool:
    """Integers, a different one on every row, and either named like an identifier or counting rows
    (increasing in file order): a row number, not a quantity."""
    numbers = column.numbers or []
    if column.missing or column.distinct != column.n_rows or column.n_rows < MIN_ROWS_FOR_IDENTIFIER:
        return False
    if not all(v.is_integer() for v in numbers):
        return False
    increasing = all(a < b for a, b in itertools.pairwise(numbers))
    named = _IDENTIFIER_NAME.search(column.name) or _CAMEL_IDENTIFIER.search(column.name)
    return increasing or named is not None


def _numeric_feature(column: _Column) -> tuple[dict[str, Any], ColumnNote]:
    numbers = column.numbers or []
    low, high = min(numbers), max(numbers)
    feature: dict[str, Any] = {"name": column.name, "type": "numeric"}
    if low >= 0:
        feature["min"] = 0
    if column.missing:
        feature["nullable"] = True
    comment = f"seen {_number(low)} to {_number(high)}{column.missing_text()}"
    return feature, ColumnNote(column.name, "numeric", comment)


def _metric_and_gates(task: Task, label: _Column) -> tuple[Metric, dict[str, float], str]:
    """The primary metric and gates a first model passes when it beats a trivial baseline (chance,
    the majority class, the mean), and a retraining passes when it is about as good as production."""
    if task is Task.BINARY:
        return (
            Metric.ROC_AUC,
            {"min_metric": 0.5, "max_regression": MAX_REGRESSION},
            f"better than chance (0.5); a retrained model at most {MAX_REGRESSION} below production",
        )
    if task is Task.MULTICLASS:
        share = label.counts.most_common(1)[0][1] / len(label.values)
        baseline = 2 * share / (1 + share) / label.distinct  # macro F1 of always answering the majority
        floor = math.floor(baseline * 1000) / 1000
        return (
            Metric.F1,
            {"min_metric": floor, "max_regression": MAX_REGRESSION},
            f"better than always answering the most frequent class (macro F1 {floor}); a retrained "
            f"model at most {MAX_REGRESSION} below production",
        )
    spread = statistics.pstdev(label.numbers or [])
    ceiling, tolerance = _round_up(spread), _round_up(spread * MAX_REGRESSION)
    return (
        Metric.RMSE,
        {"max_metric": ceiling, "max_regression": tolerance},
        f"better than always predicting the mean (its rmse is the target's spread, {ceiling}); a "
        f"retrained model at most {tolerance} (1% of that) above production",
    )


def _round_up(value: float) -> float:
    """`value` rounded up to three significant digits."""
    if value <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(value)) - 2)
    return float(f"{math.ceil(value / scale) * scale:.6g}")


def _number(value: float) -> str:
    return f"{value:.6g}"


def _reasons(notes: dict[str, ColumnNote]) -> str:
    return "; ".join(f"{n.column}: {n.comment}" for n in notes.values() if n.role == "left_out") or "none"


_METRIC_COMMENTS = {
    Metric.ROC_AUC: "ranks positives above negatives, whatever the threshold",
    Metric.F1: "macro F1: every class counts the same, however rare",
    Metric.RMSE: "root mean squared error, in the target's units",
}


def _render(inferred: InferredSpec) -> str:
    document, notes = inferred.document, inferred.notes
    lines = comment_lines(
        f"Inferred by `sluice init` from {inferred.source} ({inferred.n_rows} rows, {len(notes)} columns). "
        f"Read it and edit it: it says what the data showed, not what it should be."
    )
    for warning in inferred.warnings:
        lines += comment_lines(f"WARNING: {warning}")
    lines.append(f"name: {yaml_scalar(document['name'])}")
    for key, hint in (
        ("description", "what the model predicts, in plain words (the card's first line)"),
        ("intended_use", "for whom, and for which decisions"),
    ):
        lines.append(f"{key}: {yaml_scalar(document[key])}" if key in document else f"# {key}: {hint}")
    lines += commented_line(f"task: {document['task']}", inferred.comments.get("task"))
    lines.append(f"target: {yaml_scalar(document['target'])}")
    lines.append("features:")
    lines += comment_lines(
        "Ranges: a column never negative in the data gets min: 0; no max is set, so a value larger than "
        "any seen is not rejected. Add the bounds you know. Categories: every value seen is listed; an "
        "upload with a value not listed is rejected, so add new ones here.",
        first="  #",
        rest="  #",
    )
    by_name = {f["name"]: f for f in document["features"]}
    for name, note in notes.items():
        if name in by_name:
            lines += feature_lines(by_name[name], note.comment)
    left_out = inferred.left_out
    if left_out:
        lines.append("  # Left out:")
        for note in left_out.values():
            lines += comment_lines(f"{note.column} ({note.reason}): {note.comment}", "  #  ", "  #    ")
    for key in ("ignored_columns", "fairness", "candidates", "metric", "gates"):
        if key in document:
            value = document[key]
            if isinstance(value, list):
                text = "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
            else:
                text = flow_mapping(value) if isinstance(value, dict) else yaml_scalar(value)
            lines += commented_line(f"{key}: {text}", inferred.comments.get(key))
    return "\n".join(lines) + "\n"
