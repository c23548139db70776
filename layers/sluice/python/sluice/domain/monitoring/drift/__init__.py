"""Drift engine: Evidently-compatible per-column tests and a dataset verdict, on numpy and scipy only.

The names below are imported on first use (PEP 562), so `sluice.domain.monitoring.drift.names` can be imported
without numpy and scipy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluice.domain.monitoring.drift.columns import CategoricalColumn, Column, NumericalColumn
    from sluice.domain.monitoring.drift.engine import (
        ColumnOverride,
        OverrideLike,
        check_drift,
        check_drift_columns,
    )
    from sluice.domain.monitoring.drift.methods import DriftMethodError, default_method
    from sluice.domain.monitoring.drift.names import METHOD_NAMES, MethodName
    from sluice.domain.monitoring.drift.report import ColumnDrift, Distribution, DriftReport

_HOMES = {
    "CategoricalColumn": "columns",
    "Column": "columns",
    "NumericalColumn": "columns",
    "ColumnOverride": "engine",
    "OverrideLike": "engine",
    "check_drift": "engine",
    "check_drift_columns": "engine",
    "DriftMethodError": "methods",
    "default_method": "methods",
    "METHOD_NAMES": "names",
    "MethodName": "names",
    "ColumnDrift": "report",
    "Distribution": "report",
    "DriftReport": "report",
}
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


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
