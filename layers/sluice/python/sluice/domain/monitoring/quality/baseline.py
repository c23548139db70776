"""The data-quality baseline stored with each version at training: what the training data looked like
(statistics.json) and the constraints live traffic is held to (constraints.json), in the spirit of
SageMaker Model Monitor's baselining job (Deequ), in Sluice's own documented shape
(docs/monitoring.md, "Data quality").

statistics.json, per input column: its type; completeness (the share of rows with a value); for a
numeric column min, max, mean, standard deviation and quantiles; for a categorical column each
category's share of the present values.

constraints.json, per input column: the completeness live traffic must keep (the training
completeness less COMPLETENESS_TOLERANCE), the range values are expected in (the training min and
max) with the share of values allowed outside it, the categories seen in training with the share
allowed outside them; and for the requests: the largest reject rate and the volume ratio to the usual
volume that are not a violation."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from sluice.domain.data.table import RawTable, categorical_column, numeric_column
from sluice.domain.spec.model_spec import ModelSpec, NumericFeature

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
COMPLETENESS_TOLERANCE = 0.05  # completeness may fall this far below training's before it is a violation
MAX_SHARE_OUTSIDE = 0.01  # share of values outside the training range (or categories) tolerated
MAX_REJECT_RATE = 0.01  # rejected requests tolerated, as a share of all requests
VOLUME_RATIO = (0.5, 2.0)  # requests as a ratio to the usual volume outside this band are a violation
MAX_CATEGORIES = 200  # categories whose shares statistics.json lists (the most frequent)


class NumericStatistics(BaseModel):
    min: float
    max: float
    mean: float
    std: float
    quantiles: dict[str, float]  # "p01", "p50", …: the value below which that share of values lies


class ColumnStatistics(BaseModel):
    name: str
    type: Literal["numeric", "categorical"]
    inferred_type: Literal["integral", "fractional", "string", "empty"]
    rows: int
    completeness: float  # share of rows with a value
    numeric: NumericStatistics | None = None
    categories: dict[str, float] | None = None  # category -> share of present values
    distinct: int | None = None


class Statistics(BaseModel):
    """statistics.json: the training data's columns, as the drift check compares live traffic with."""

    version: int = 1
    rows: int
    columns: list[ColumnStatistics]

    def column(self, name: str) -> ColumnStatistics | None:
        return next((c for c in self.columns if c.name == name), None)


class RangeConstraint(BaseModel):
    min: float
    max: float
    max_share_outside: float = MAX_SHARE_OUTSIDE


class DomainConstraint(BaseModel):
    values: list[str]
    max_share_outside: float = MAX_SHARE_OUTSIDE


class ColumnConstraints(BaseModel):
    name: str
    type: Literal["numeric", "categorical"]
    min_completeness: float
    range: RangeConstraint | None = None
    domain: DomainConstraint | None = None


class RequestConstraints(BaseModel):
    max_reject_rate: float = MAX_REJECT_RATE
    min_volume_ratio: float = VOLUME_RATIO[0]
    max_volume_ratio: float = VOLUME_RATIO[1]


class Constraints(BaseModel):
    """constraints.json: what live traffic must satisfy; each check lists the ones it violates."""

    version: int = 1
    columns: list[ColumnConstraints]
    requests: RequestConstraints = Field(default_factory=RequestConstraints)

    def column(self, name: str) -> ColumnConstraints | None:
        return next((c for c in self.columns if c.name == name), None)


def _numeric_statistics(name: str, cells: list[str]) -> ColumnStatistics:
    values = numeric_column(cells)
    present = values[~np.isnan(values)]
    rows = len(values)
    completeness = float(len(present) / rows) if rows else 0.0
    if not len(present):
        return ColumnStatistics(
            name=name, type="numeric", inferred_type="empty", rows=rows, completeness=completeness
        )
    quantiles = np.quantile(present, QUANTILES)
    integral = bool(np.all(present == np.round(present)))
    return ColumnStatistics(
        name=name,
        type="numeric",
        inferred_type="integral" if integral else "fractional",
        rows=rows,
        completeness=completeness,
        numeric=NumericStatistics(
            min=float(present.min()),
            max=float(present.max()),
            mean=float(present.mean()),
            std=float(present.std()),
            quantiles={f"p{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
        ),
    )


def _categorical_statistics(name: str, cells: list[str]) -> ColumnStatistics:
    values = categorical_column(cells)
    present = [v for v in values.tolist() if v is not None]
    rows = len(values)
    counts: dict[str, int] = {}
    for value in present:
        counts[value] = counts.get(value, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_CATEGORIES]
    return ColumnStatistics(
        name=name,
        type="categorical",
        inferred_type="string" if present else "empty",
        rows=rows,
        completeness=float(len(present) / rows) if rows else 0.0,
        categories={value: count / len(present) for value, count in ranked},
        distinct=len(counts),
    )


def baseline_statistics(spec: ModelSpec, table: RawTable) -> Statistics:
    """The statistics of the spec's input columns in `table` (the training data)."""
    columns = [
        _numeric_statistics(f.name, table.columns[f.name])
        if isinstance(f, NumericFeature)
        else _categorical_statistics(f.name, table.columns[f.name])
        for f in spec.features
    ]
    return Statistics(rows=table.n_rows, columns=columns)


def suggest_constraints(statistics: Statistics) -> Constraints:
    """The constraints the statistics suggest (as Deequ suggests them from a baseline)."""
    columns = []
    for column in statistics.columns:
        numeric = column.numeric
        columns.append(
            ColumnConstraints(
                name=column.name,
                type=column.type,
                min_completeness=round(max(0.0, column.completeness - COMPLETENESS_TOLERANCE), 6),
                range=RangeConstraint(min=numeric.min, max=numeric.max) if numeric else None,
                domain=DomainConstraint(values=sorted(column.categories))
                if column.categories and (column.distinct or 0) <= MAX_CATEGORIES
                else None,
            )
        )
    return Constraints(columns=columns)
