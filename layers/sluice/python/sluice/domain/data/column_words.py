"""A table's columns in plain words, for someone choosing what to predict: what each holds ("numbers
from 18 to 90, 2% empty", "3 categories: retail, sme, corporate") and whether it can be predicted
(`sluice.domain.data.infer_spec` accepts it as a target: two or more values). Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from sluice.domain.data.table import RawTable, is_missing, parse_float

ColumnKind = Literal["numbers", "categories", "text", "identifier", "empty"]
LISTED = 5  # categories named in a description; the rest are counted
CATEGORIES = 20  # at most this many distinct values (and fewer than half the rows) are categories


@dataclass(frozen=True)
class ColumnWords:
    name: str
    kind: ColumnKind
    description: str
    can_predict: bool


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.3g}"


def _empty_words(missing: int, rows: int) -> str:
    if not missing:
        return ""
    share = missing / rows
    return f", {share:.0%} empty" if share >= 0.01 else ", a few empty"


def describe_column(name: str, cells: list[str]) -> ColumnWords:
    """One column's kind, description and whether it can be predicted."""
    values = [c.strip() for c in cells if not is_missing(c)]
    rows = len(cells)
    if not values:
        return ColumnWords(name, "empty", "empty on every row", False)
    empty = _empty_words(rows - len(values), rows)
    counts = Counter(values)
    parsed = [parse_float(v) for v in values]
    if all(v is not None for v in parsed):
        numbers = [float(v) for v in parsed if v is not None]
        low, high = min(numbers), max(numbers)
        if len(counts) == 1:
            return ColumnWords(name, "numbers", f"always {_number(low)}{empty}", False)
        if len(counts) <= 2:
            return ColumnWords(
                name, "categories", f"two values: {_number(low)} and {_number(high)}{empty}", True
            )
        return ColumnWords(name, "numbers", f"numbers from {_number(low)} to {_number(high)}{empty}", True)
    if len(counts) == 1:
        return ColumnWords(name, "categories", f"always {values[0]!r}{empty}", False)
    if len(counts) == len(values) and len(values) > CATEGORIES:
        return ColumnWords(name, "identifier", f"a different value on every row{empty}", False)
    if len(counts) <= CATEGORIES and len(counts) < max(len(values) / 2, 3):
        frequent = [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        listed = ", ".join(frequent[:LISTED]) + (
            f" and {len(frequent) - LISTED} more" if len(frequent) > LISTED else ""
        )
        return ColumnWords(name, "categories", f"{len(frequent)} categories: {listed}{empty}", True)
    return ColumnWords(name, "text", f"text, {len(counts)} different values{empty}", False)


def describe_columns(table: RawTable) -> list[ColumnWords]:
    """Every column of `table`, in file order."""
    return [describe_column(name, list(table.columns[name])) for name in table.header]
