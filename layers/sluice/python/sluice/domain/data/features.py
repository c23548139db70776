"""The ONNX input contract: one input per feature, shape [n, 1]; float32 for numeric (NaN = missing),
string for categorical ("" = missing). Shared by training, evaluation and serving, so a model is
always fed the same way. No scikit-learn here: the inference function imports this module."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sluice.domain.data.table import RawTable, categorical_column, numeric_column

Feed = dict[str, npt.NDArray[np.generic]]

NUMERIC_ONNX_TYPE = "tensor(float)"
STRING_ONNX_TYPE = "tensor(string)"
MISSING_CATEGORY = ""


def numeric_input(cells: list[str]) -> npt.NDArray[np.float32]:
    """A numeric feature as the model sees it: float32, NaN where missing, shape [n, 1]."""
    return numeric_column(cells).astype(np.float32).reshape(-1, 1)


def string_input(cells: list[str]) -> npt.NDArray[np.object_]:
    """A categorical feature as the model sees it: strings, "" where missing, shape [n, 1]."""
    values = categorical_column(cells)
    values[values == None] = MISSING_CATEGORY  # noqa: E711 - elementwise comparison on an object array
    return values.reshape(-1, 1)


def feed_from_table(inputs: dict[str, str], table: RawTable) -> Feed:
    """Build a model's feed from a table, given the model's inputs as {name: onnx type}.

    Raises KeyError naming the first input the table lacks.
    """
    feed: Feed = {}
    for name, onnx_type in inputs.items():
        if name not in table.columns:
            raise KeyError(name)
        cells = table.columns[name]
        feed[name] = numeric_input(cells) if onnx_type == NUMERIC_ONNX_TYPE else string_input(cells)
    return feed


def stacked_feed(feed: Feed, names: list[str]) -> npt.NDArray[np.object_]:
    """Feed columns side by side as one object matrix, for scikit-learn (floats stay float32 values so
    the scikit-learn model sees exactly what the ONNX model sees)."""
    columns = [feed[name] for name in names]
    matrix = np.empty((columns[0].shape[0], len(columns)), dtype=object)
    for j, column in enumerate(columns):
        matrix[:, j] = column[:, 0].astype(np.float64) if column.dtype == np.float32 else column[:, 0]
    return matrix
