"""Drift engine: Evidently-compatible per-column tests and a dataset verdict, on numpy and scipy only."""

from sluice.drift.columns import CategoricalColumn, Column, NumericalColumn
from sluice.drift.engine import ColumnOverride, OverrideLike, check_drift, check_drift_columns
from sluice.drift.methods import METHOD_NAMES, DriftMethodError, MethodName, default_method
from sluice.drift.report import ColumnDrift, Distribution, DriftReport

__all__ = [
    "METHOD_NAMES",
    "CategoricalColumn",
    "Column",
    "ColumnDrift",
    "ColumnOverride",
    "Distribution",
    "DriftMethodError",
    "DriftReport",
    "MethodName",
    "NumericalColumn",
    "OverrideLike",
    "check_drift",
    "check_drift_columns",
    "default_method",
]
