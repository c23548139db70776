"""The reference sample stored with each model: a seeded sample of its training rows that later drift
checks compare live traffic with."""

from __future__ import annotations

import gzip
import io

import numpy as np

from sluice.domain.data.table import RawTable, read_csv, to_csv_bytes
from sluice.domain.spec.model_spec import ModelSpec

REFERENCE_FILE = "reference.csv.gz"  # its name in a model folder (`sluice train`) and beside model.onnx
REFERENCE_CAP = 50_000
REFERENCE_SEED = 7
# The model's own prediction for each reference row, so the drift check can compare live predictions
# with the predictions the model made on its training data (prediction drift).
PREDICTION_COLUMN = "_prediction"


def _predictions(model: bytes, sample: RawTable) -> list[str]:
    from sluice.domain.scoring.onnx_model import OnnxModel

    outputs = OnnxModel(model).run_table(sample)
    values = outputs.labels if outputs.labels is not None else outputs.values
    assert values is not None
    return [f"{v:.6g}" if isinstance(v, float | np.floating) else str(v) for v in values.tolist()]


def reference_sample(
    spec: ModelSpec, table: RawTable, model: bytes | None = None, cap: int = REFERENCE_CAP
) -> bytes:
    """Up to `cap` rows of the spec's columns (features, target, sensitive) as gzip CSV, plus the
    model's prediction for each row when `model` (ONNX bytes) is given. Seeded and written without a
    timestamp, so the same table and model always give the same bytes."""
    columns = [*spec.feature_names, spec.target] + ([spec.sensitive] if spec.sensitive else [])
    rows = np.arange(table.n_rows)
    if table.n_rows > cap:
        rows = np.sort(np.random.default_rng(REFERENCE_SEED).choice(table.n_rows, size=cap, replace=False))
    sample = table.select(rows)
    sample = RawTable(source=table.source, header=columns, columns={c: sample.columns[c] for c in columns})
    if model is not None:
        sample.columns[PREDICTION_COLUMN] = _predictions(model, sample)
        sample.header.append(PREDICTION_COLUMN)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
        archive.write(to_csv_bytes(sample))
    return buffer.getvalue()


def read_reference(data: bytes, source: str = "reference.csv.gz") -> RawTable:
    """The table in a reference sample written by `reference_sample`."""
    return read_csv(io.BytesIO(gzip.decompress(data)), source)
