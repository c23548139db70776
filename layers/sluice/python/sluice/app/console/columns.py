"""The columns of a CSV's first lines in plain words, so a person can choose what to predict before the
file is uploaded (the same reading as `sluice init`)."""

from __future__ import annotations

import io
from typing import Any

from sluice.app.console.access import require_reader
from sluice.domain.data.column_words import describe_columns
from sluice.domain.data.table import read_csv
from sluice.domain.registry.identity import ConsoleUser
from sluice.errors import DataUnreadable, InvalidRequest


def columns_of_sample(user: ConsoleUser, file_name: str, sample: str) -> dict[str, Any]:
    """{"columns": [{"name", "kind", "description", "can_predict"}], "rows"}: the sample's columns.
    Raises InvalidRequest naming `sample` when it is not a CSV with a header and rows."""
    require_reader(user)
    try:
        table = read_csv(io.BytesIO(sample.encode("utf-8")), name=file_name)
    except DataUnreadable as exc:
        raise InvalidRequest(
            "the sample is not a CSV file", [{"field": "sample", "message": str(exc)}]
        ) from None
    if table.n_rows == 0:
        raise InvalidRequest("the sample has no rows", [{"field": "sample", "message": "only a header"}])
    return {
        "columns": [
            {"name": c.name, "kind": c.kind, "description": c.description, "can_predict": c.can_predict}
            for c in describe_columns(table)
        ],
        "rows": table.n_rows,
    }
