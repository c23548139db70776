"""Histograms of live inputs on bins fixed by a version's reference sample, so that every partition of
a window counts into the same bins and their counts add up exactly.

Numeric features: the reference's deciles as edges (repeated quantiles collapse), a value counted in
the bin `bisect_right(edges, value)` (below the first edge: bin 0; at or above the last: the last
bin). Categorical features: the reference's categories in sorted order, plus one count of the values
the reference never had. Missing values (absent, null, "") and values of the wrong type are counted
apart. Pure: the standard library and numpy."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from sluice.domain.data.table import MISSING_TOKENS, RawTable

QUANTILES = tuple(i / 10 for i in range(1, 10))


class ColumnBins(BaseModel):
    """One feature's bins: `edges` for a number, `categories` for a category."""

    kind: str  # numerical | categorical
    edges: list[float] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.edges) + 1 if self.kind == "numerical" else len(self.categories)


class ReferenceBins(BaseModel):
    """The bins of every feature, by feature, in the spec's order."""

    columns: dict[str, ColumnBins] = Field(default_factory=dict)

    def empty(self) -> dict[str, ColumnHistogram]:
        return {name: ColumnHistogram(counts=[0] * bins.size) for name, bins in self.columns.items()}


class ColumnHistogram(BaseModel):
    """One feature's counts: per bin (or reference category), values the reference never had (a
    category), missing values, and values of the wrong type (text for a number, a non-finite number)."""

    counts: list[int]
    unseen: int = 0
    missing: int = 0
    invalid: int = 0

    def add(self, other: ColumnHistogram) -> ColumnHistogram:
        if len(other.counts) != len(self.counts):
            raise ValueError("histograms on different bins cannot be merged")
        return ColumnHistogram(
            counts=[a + b for a, b in zip(self.counts, other.counts, strict=True)],
            unseen=self.unseen + other.unseen,
            missing=self.missing + other.missing,
            invalid=self.invalid + other.invalid,
        )

    @property
    def total(self) -> int:
        return sum(self.counts) + self.unseen + self.missing + self.invalid


def reference_bins(reference: RawTable, kinds: Mapping[str, str]) -> ReferenceBins:
    """The bins of each feature in `kinds` ("numerical" or "categorical") from the reference sample."""
    columns: dict[str, ColumnBins] = {}
    for name, kind in kinds.items():
        cells = [c for c in reference.columns.get(name, []) if c.strip() not in MISSING_TOKENS]
        if kind == "numerical":
            values = np.array([v for v in map(_number, cells) if v is not None], dtype=np.float64)
            edges = np.unique(np.quantile(values, QUANTILES)).tolist() if values.size else []
            columns[name] = ColumnBins(kind=kind, edges=[float(e) for e in edges])
        else:
            columns[name] = ColumnBins(kind=kind, categories=sorted(set(cells)))
    return ReferenceBins(columns=columns)


class HistogramCounter:
    """Counts records' `inputs` into the histograms of `bins` (mutated in place: the hot path)."""

    def __init__(self, bins: ReferenceBins, histograms: Mapping[str, ColumnHistogram]) -> None:
        self._columns = [
            (
                name,
                histograms[name],
                bins.edges if bins.kind == "numerical" else None,
                {c: i for i, c in enumerate(bins.categories)},
            )
            for name, bins in bins.columns.items()
        ]

    def add(self, inputs: Any) -> None:
        values = inputs if isinstance(inputs, dict) else {}
        for name, histogram, edges, categories in self._columns:
            value = values.get(name)
            if value is None or value == "":
                histogram.missing += 1
            elif edges is not None:
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    histogram.counts[bisect_right(edges, value)] += 1
                else:
                    histogram.invalid += 1
            else:
                index = categories.get(str(value))
                if index is None:
                    histogram.unseen += 1
                else:
                    histogram.counts[index] += 1


def merge_histograms(
    parts: Sequence[Mapping[str, ColumnHistogram]],
) -> dict[str, ColumnHistogram]:
    """The histograms of several parts, added bin by bin (the parts must share their bins)."""
    merged: dict[str, ColumnHistogram] = {}
    for part in parts:
        for name, histogram in part.items():
            merged[name] = merged[name].add(histogram) if name in merged else histogram.model_copy(deep=True)
    return merged


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
