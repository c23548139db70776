"""The reference sample stored with each model: a seeded sample of its training rows that later drift
checks compare live traffic with."""

from __future__ import annotations

import gzip
import io

import numpy as np

from sluice.spec import ModelSpec
from sluice.table import RawTable, read_csv, write_csv

REFERENCE_CAP = 50_000
REFERENCE_SEED = 7


def reference_sample(spec: ModelSpec, table: RawTable, cap: int = REFERENCE_CAP) -> bytes:
    """Up to `cap` rows of the spec's columns (features, target, sensitive) as gzip CSV. Seeded and
    written without a timestamp, so the same table always gives the same bytes."""
    columns = [*spec.feature_names, spec.target] + ([spec.sensitive] if spec.sensitive else [])
    rows = np.arange(table.n_rows)
    if table.n_rows > cap:
        rows = np.sort(np.random.default_rng(REFERENCE_SEED).choice(table.n_rows, size=cap, replace=False))
    sample = table.select(rows)
    sample = RawTable(source=table.source, header=columns, columns={c: sample.columns[c] for c in columns})
    text = io.StringIO()
    write_csv(sample, text)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
        archive.write(text.getvalue().encode("utf-8"))
    return buffer.getvalue()


def read_reference(data: bytes, source: str = "reference.csv.gz") -> RawTable:
    """The table in a reference sample written by `reference_sample`."""
    return read_csv(io.BytesIO(gzip.decompress(data)), source)
