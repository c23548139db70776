"""Tabular data without pandas: CSV and JSON-lines readers into columns of strings, and typed views.

Lambda bundles cannot afford pandas, so every module that reads tables goes through this one. A
`RawTable` keeps cells exactly as the file had them (strings); `numeric_column` and
`categorical_column` give the typed arrays the models and statistics need.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sluice.errors import DataUnreadable

if TYPE_CHECKING:  # numpy is imported by the typed views only: reading a CSV and describing its columns
    # (the console's column inference) need none, so a function that only reads pays nothing for it
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    ObjectArray = npt.NDArray[np.object_]

# Cells that mean "no value". Everything else is a value and is checked as one.
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})


@dataclass(frozen=True)
class RawTable:
    """A table read from a file: the header in file order and each column's cells as strings.

    Row numbers in reports are 1-based data rows (the header is not counted), so row 1 is the first
    line after the header.
    """

    source: str
    header: list[str]
    columns: dict[str, list[str]]
    duplicate_header: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def select(self, rows: npt.NDArray[np.intp] | list[int]) -> RawTable:
        """A new table with only the given 0-based rows, in that order."""
        index = list(rows)
        return RawTable(
            source=self.source,
            header=list(self.header),
            columns={name: [cells[i] for i in index] for name, cells in self.columns.items()},
        )

    def rows(self) -> Iterator[tuple[str, ...]]:
        """Rows as tuples of cells in header order."""
        return zip(*(self.columns[name] for name in self.header), strict=True)


def is_missing(cell: str) -> bool:
    return cell.strip() in MISSING_TOKENS


def _text_lines(source: Path | IO[bytes], name: str) -> codecs.StreamReader:
    if isinstance(source, Path):
        try:
            raw: IO[bytes] = source.open("rb")
        except OSError as exc:
            raise DataUnreadable(f"{name}: cannot open file ({exc.strerror})") from exc
    else:
        raw = source
    # utf-8-sig drops the BOM spreadsheet exports add; strict errors so bad bytes are reported.
    return codecs.getreader("utf-8-sig")(raw, "strict")


def read_csv(source: Path | IO[bytes], name: str | None = None) -> RawTable:
    """Read a UTF-8 CSV with a header row, streaming (the file is never held whole as bytes).

    Raises DataUnreadable for a file that cannot be opened, is not UTF-8, is empty, or has rows whose
    width differs from the header (naming the row).
    """
    label = name or (str(source) if isinstance(source, Path) else "<stream>")
    reader = csv.reader(_text_lines(source, label))
    try:
        try:
            header = next(reader)
        except StopIteration:
            raise DataUnreadable(f"{label}: the file is empty (no header row)") from None
        header = [h.strip() for h in header]
        if not any(header):
            raise DataUnreadable(f"{label}: the header row is blank")
        seen: set[str] = set()
        duplicates = [h for h in header if h in seen or seen.add(h)]  # type: ignore[func-returns-value]
        cells: list[list[str]] = [[] for _ in header]
        width = len(header)
        for row_number, row in enumerate(reader, start=1):
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                raise DataUnreadable(
                    f"{label}: row {row_number} has {len(row)} fields but the header has {width}"
                )
            for column, cell in zip(cells, row, strict=True):
                column.append(cell)
    except UnicodeDecodeError as exc:
        raise DataUnreadable(f"{label}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from exc
    except csv.Error as exc:
        raise DataUnreadable(f"{label}: not valid CSV ({exc})") from exc
    columns: dict[str, list[str]] = {}
    for column_name, column in zip(header, cells, strict=True):
        columns.setdefault(column_name, column)
    return RawTable(source=label, header=list(columns), columns=columns, duplicate_header=duplicates)


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table_from_records(records: Iterable[Mapping[str, object]], source: str) -> RawTable:
    """Build a table from dict-like records (JSON objects); the header is the union of keys in order."""
    rows = list(records)
    header: list[str] = []
    seen: set[str] = set()
    for record in rows:
        for key in record:
            if key not in seen:
                seen.add(key)
                header.append(key)
    columns = {key: [_cell_text(record.get(key)) for record in rows] for key in header}
    return RawTable(source=source, header=header, columns=columns)


def read_jsonl(source: Path, record_key: str | None = None) -> RawTable:
    """Read JSON lines (plain or gzip-compressed, as captured traffic is), one object per row. With
    `record_key`, each line's object under that key is the row (captured traffic keeps features under
    "inputs")."""
    records: list[Mapping[str, object]] = []
    try:
        with source.open("rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        with opener(source, "rt", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataUnreadable(
                        f"{source}: line {line_number} is not valid JSON ({exc.msg})"
                    ) from exc
                if record_key is not None and isinstance(obj, dict) and record_key in obj:
                    obj = obj[record_key]
                if not isinstance(obj, dict):
                    raise DataUnreadable(f"{source}: line {line_number} is not a JSON object")
                records.append(obj)
    except OSError as exc:
        raise DataUnreadable(f"{source}: cannot read file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataUnreadable(f"{source}: not UTF-8 text ({exc.reason})") from exc
    if not records:
        raise DataUnreadable(f"{source}: no records")
    return table_from_records(records, str(source))


def parse_float(cell: str) -> float | None:
    """The number in a cell, NaN for a missing cell, None when the cell is not a number."""
    text = cell.strip()
    if text in MISSING_TOKENS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numeric_column(cells: list[str]) -> FloatArray:
    """Cells as float64, NaN where missing or not a finite number (validation reports the latter)."""
    import numpy as np

    cleaned = ["nan" if c.strip() in MISSING_TOKENS else c for c in cells]
    try:
        out = np.asarray(cleaned, dtype=np.float64)  # fast path: every cell parses
    except ValueError:
        parsed = (parse_float(c) for c in cells)
        out = np.array([math.nan if v is None else v for v in parsed], dtype=np.float64)
    out[~np.isfinite(out)] = math.nan
    return out


def categorical_column(cells: list[str]) -> ObjectArray:
    """Cells as an object array of stripped strings, None where missing."""
    import numpy as np

    return np.array([None if is_missing(c) else c.strip() for c in cells], dtype=object)


def write_csv(table: RawTable, target: IO[str]) -> None:
    """Write a table as CSV with its header."""
    writer = csv.writer(target, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows(table.rows())


def to_csv_bytes(table: RawTable) -> bytes:
    """The table as UTF-8 CSV bytes, exactly as `write_csv` writes it (what an upload's body is)."""
    text = io.StringIO()
    write_csv(table, text)
    return text.getvalue().encode("utf-8")
