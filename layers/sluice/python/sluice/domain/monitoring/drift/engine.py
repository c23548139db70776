"""Compare a current table with a reference table, column by column, and decide drift.

Pure and fast: numpy arrays in, a `DriftReport` out; no I/O, no pandas. The scheduled drift check
(through `sluice.domain.monitoring.drift.live`) and the CLI call `check_drift` with tables (captured traffic, or
files); `check_drift_columns` takes typed columns directly (the benchmark's way in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.drift import methods as m
from sluice.domain.monitoring.drift.change import categorical_change, numerical_change
from sluice.domain.monitoring.drift.columns import (
    CategoricalColumn,
    Column,
    NumericalColumn,
    kind_of,
    typed_columns,
)
from sluice.domain.monitoring.drift.distributions import bars, numerical_distribution
from sluice.domain.monitoring.drift.methods import ColumnKind, FloatArray, MethodName, ValueCounts
from sluice.domain.monitoring.drift.multivariate import MultivariateSettings, domain_classifier_drift
from sluice.domain.monitoring.drift.report import (
    CategoricalChange,
    ColumnDrift,
    Distribution,
    DriftReport,
    NumericalChange,
)
from sluice.errors import DataUnreadable

MAX_UNSEEN_REPORTED = 100  # unseen category names listed per column (the count is in the note)
KIND_ALIASES: dict[str, ColumnKind] = {
    "numerical": "numerical",
    "numeric": "numerical",
    "categorical": "categorical",
}


class OverrideLike(Protocol):
    """A per-column method and/or threshold; the spec's `DriftColumnOverride` satisfies it."""

    @property
    def method(self) -> str | None: ...

    @property
    def threshold(self) -> float | None: ...


@dataclass(frozen=True)
class ColumnOverride:
    """Method and threshold chosen for a column by a person (None = Evidently's default)."""

    method: str | None = None
    threshold: float | None = None


def check_drift(
    reference: RawTable,
    current: RawTable,
    column_types: Mapping[str, str] | None = None,
    overrides: Mapping[str, OverrideLike] | None = None,
    share_threshold: float = 0.5,
    min_rows: int = 0,
    columns: Sequence[str] | None = None,
    multivariate: MultivariateSettings | None = None,
) -> DriftReport:
    """Drift of `current` against `reference` over `columns` (default: every column in both tables),
    with the multivariate check too when `multivariate` is given (see `check_drift_columns`).

    `column_types` maps a column to "numerical"/"numeric" or "categorical"; columns it does not name
    are numerical when all their non-missing cells are numbers on both sides, categorical otherwise.
    Raises DataUnreadable when a named column is absent from either table, and DriftMethodError for an
    unknown method or a method that cannot apply to the column's type.
    """
    names = list(columns) if columns is not None else [c for c in reference.header if c in current.columns]
    for table in (reference, current):
        absent = [name for name in names if name not in table.columns]
        if absent:
            raise DataUnreadable(f"{table.source}: no column named {', '.join(map(repr, absent))}")
    if not names:
        raise DataUnreadable(f"{reference.source} and {current.source} have no column in common")
    guard = _insufficient(reference.n_rows, current.n_rows, min_rows, share_threshold)
    if guard is not None:
        return guard
    kinds = {name: _kind(name, kind) for name, kind in (column_types or {}).items()}
    ref_columns, cur_columns = typed_columns(reference, current, names, kinds)
    return check_drift_columns(ref_columns, cur_columns, overrides, share_threshold, min_rows, multivariate)


def check_drift_columns(
    reference: Mapping[str, Column],
    current: Mapping[str, Column],
    overrides: Mapping[str, OverrideLike] | None = None,
    share_threshold: float = 0.5,
    min_rows: int = 0,
    multivariate: MultivariateSettings | None = None,
) -> DriftReport:
    """Drift over typed columns: every column of `reference`, which `current` must also have, of the
    same kind. Each side's columns must have equal lengths (rows). See `DriftReport` for the rule.
    With `multivariate`, a domain classifier judges the columns together too (`multivariate` in the
    report): its drift through a column that did not drift on its own (a changed relationship) is
    dataset drift too; without, the verdict is Evidently's share rule alone."""
    n_reference = _n_rows(reference)
    n_current = _n_rows(current)
    guard = _insufficient(n_reference, n_current, min_rows, share_threshold)
    if guard is not None:
        return guard
    features: dict[str, ColumnDrift] = {}
    distributions: dict[str, Distribution] = {}
    for name, ref_column in reference.items():
        cur_column = current.get(name)
        if cur_column is None:
            raise DataUnreadable(f"current data has no column {name!r}")
        if kind_of(cur_column) != kind_of(ref_column):
            raise DataUnreadable(f"column {name!r} is {kind_of(ref_column)} in the reference only")
        override = (overrides or {}).get(name)
        features[name], distributions[name] = column_drift(name, ref_column, cur_column, override)
    report = _dataset_verdict(features, distributions, share_threshold, n_reference, n_current)
    together = domain_classifier_drift(reference, current, multivariate) if multivariate else None
    if together is None:
        return report
    relationship = together.drift and any(not features[name].drifted for name in together.columns)
    together = together.model_copy(update={"changed_relationship": relationship})
    return report.model_copy(
        update={"multivariate": together, "dataset_drift": report.dataset_drift or relationship}
    )


def column_drift(
    name: str, reference: Column, current: Column, override: OverrideLike | None = None
) -> tuple[ColumnDrift, Distribution]:
    """One column's verdict (missing values left out of the test) and the distributions to draw."""
    if isinstance(reference, NumericalColumn) and isinstance(current, NumericalColumn):
        return _numerical_drift(name, reference, current, override)
    if isinstance(reference, CategoricalColumn) and isinstance(current, CategoricalColumn):
        return _categorical_drift(name, reference, current, override)
    raise DataUnreadable(f"column {name!r} has different types in reference and current data")


def _numerical_drift(
    name: str, reference: NumericalColumn, current: NumericalColumn, override: OverrideLike | None
) -> tuple[ColumnDrift, Distribution]:
    ref_missing = np.isnan(reference.values)
    cur_missing = np.isnan(current.values)
    ref = reference.values[~ref_missing] if ref_missing.any() else reference.values
    cur = current.values[~cur_missing] if cur_missing.any() else current.values
    missing = (_share(ref_missing), _share(cur_missing))
    n_distinct = m.distinct_count_capped(ref, cur, m.FEW_VALUES)
    method, threshold = _method_and_threshold(name, "numerical", override, ref.size, n_distinct)
    if ref.size == 0 or cur.size == 0:
        return _not_computed("numerical", method, threshold, missing, ref.size), Distribution(
            labels=[], reference=[], current=[]
        )
    notes: list[str] = []
    counts: ValueCounts | None = None
    if method in ("chisquare", "z") or (
        method in ("jensenshannon", "psi") and np.unique(ref).size <= m.BINNING_MIN_DISTINCT
    ):
        counts = m.numerical_value_counts(ref, cur)
    if method == "ks":
        score = m.ks_p_value(ref, cur)
        smallest = m.ks_smallest_p_value(ref.size, cur.size)
        if smallest > threshold:
            notes.append(
                f"KS cannot reject with {ref.size} reference and {cur.size} current values: its smallest "
                f"possible p-value is {smallest:.3g} > {threshold:g}; use more rows or --min-rows"
            )
    elif method == "wasserstein":
        score, norm = m.wasserstein_normed(ref, cur)
        if norm == m.WASSERSTEIN_MIN_NORM:
            notes.append(
                "reference is (nearly) constant: the distance is divided by Evidently's floor 0.001 "
                "instead of its standard deviation, so a tiny shift scores high"
            )
    elif counts is not None:
        score = _counted_score(method, counts, notes)
    else:
        ref_shares, cur_shares = m.sturges_shares(ref, cur)
        score = _shares_score(method, ref_shares, cur_shares)
    change = numerical_change(ref, cur)
    result = _computed("numerical", method, threshold, score, missing, [], notes, change)
    return result, numerical_distribution(ref, cur, counts)


def _categorical_drift(
    name: str, reference: CategoricalColumn, current: CategoricalColumn, override: OverrideLike | None
) -> tuple[ColumnDrift, Distribution]:
    categories, ref_counts, cur_counts = _aligned_counts(reference, current)
    missing = (_share(reference.codes < 0), _share(current.codes < 0))
    present = (ref_counts > 0) | (cur_counts > 0)
    n_ref = int(ref_counts.sum())
    method, threshold = _method_and_threshold(name, "categorical", override, n_ref, int(present.sum()))
    if n_ref == 0 or int(cur_counts.sum()) == 0:
        return _not_computed("categorical", method, threshold, missing, n_ref), Distribution(
            labels=[], reference=[], current=[]
        )
    counts = ValueCounts(
        keys=[c for c, p in zip(categories, present, strict=True) if p],
        reference=ref_counts[present],
        current=cur_counts[present],
    )
    unseen_mask = (counts.reference == 0) & (counts.current > 0)
    unseen_order = np.argsort(-counts.current[unseen_mask], kind="stable")
    unseen_all = [str(counts.keys[i]) for i in np.flatnonzero(unseen_mask)[unseen_order]]
    notes: list[str] = []
    if unseen_all:
        listed = "" if len(unseen_all) <= MAX_UNSEEN_REPORTED else f" (first {MAX_UNSEEN_REPORTED} listed)"
        notes.append(
            f"{len(unseen_all)} categor{'y' if len(unseen_all) == 1 else 'ies'} absent from the "
            f"reference{listed}"
        )
    score = _counted_score(method, counts, notes)
    unseen = unseen_all[:MAX_UNSEEN_REPORTED]
    change = categorical_change(counts)
    result = _computed("categorical", method, threshold, score, missing, unseen, notes, change)
    return result, bars(counts, unseen_mask)


def _aligned_counts(
    reference: CategoricalColumn, current: CategoricalColumn
) -> tuple[list[str], m.IntArray, m.IntArray]:
    """Both columns' counts over one category list: the reference's categories, then new ones."""
    position = {label: i for i, label in enumerate(reference.categories)}
    categories = list(reference.categories)
    for label in current.categories:
        if label not in position:
            position[label] = len(categories)
            categories.append(label)
    remap = np.array([position[label] for label in current.categories], dtype=np.int64)
    ref_codes = reference.codes[reference.codes >= 0]
    cur_codes = remap[current.codes[current.codes >= 0]]
    size = len(categories)
    ref_counts = np.bincount(ref_codes, minlength=size).astype(np.int64)
    cur_counts = np.bincount(cur_codes, minlength=size).astype(np.int64)
    return categories, ref_counts, cur_counts


def _counted_score(method: MethodName, counts: ValueCounts, notes: list[str]) -> float:
    if method == "chisquare":
        score = m.chisquare_p_value(counts)
        if math.isnan(score):
            notes.append("a single value on both sides: chi-square is undefined (no degrees of freedom)")
        elif bool(np.any((counts.reference == 0) & (counts.current > 0))):
            notes.append("values absent from the reference make chi-square's p-value 0 (as in Evidently)")
        return score
    if method == "z":
        return m.z_p_value(counts)
    ref_shares, cur_shares = m.value_shares(counts)
    return _shares_score(method, ref_shares, cur_shares)


def _shares_score(method: MethodName, ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    if method == "jensenshannon":
        return m.jensenshannon_distance(ref_shares, cur_shares)
    if method == "psi":
        return m.psi_value(m.fill_empty_shares(ref_shares), m.fill_empty_shares(cur_shares))
    raise AssertionError(f"{method} does not work on binned shares")  # pragma: no cover


def _method_and_threshold(
    name: str, kind: ColumnKind, override: OverrideLike | None, n_reference: int, n_distinct: int
) -> tuple[MethodName, float]:
    requested = override.method if override is not None else None
    method = (
        m.check_method(requested, kind, name)
        if requested
        else m.default_method(kind, n_reference, n_distinct)
    )
    chosen = override.threshold if override is not None else None
    return method, m.DEFAULT_THRESHOLDS[method] if chosen is None else float(chosen)


def _computed(
    kind: ColumnKind,
    method: MethodName,
    threshold: float,
    score: float,
    missing: tuple[float, float],
    unseen: list[str],
    notes: list[str],
    change: NumericalChange | CategoricalChange,
) -> ColumnDrift:
    return ColumnDrift(
        type=kind,
        method=method,
        score=None if math.isnan(score) else score,
        threshold=threshold,
        drifted=m.is_drift(method, score, threshold),
        missing_reference=missing[0],
        missing_current=missing[1],
        unseen_categories=unseen,
        note="; ".join(notes) or None,
        change=change,
    )


def _not_computed(
    kind: ColumnKind, method: MethodName, threshold: float, missing: tuple[float, float], n_ref: int
) -> ColumnDrift:
    side = "reference" if n_ref == 0 else "current"
    return ColumnDrift(
        type=kind,
        method=method,
        score=None,
        threshold=threshold,
        drifted=False,
        missing_reference=missing[0],
        missing_current=missing[1],
        unseen_categories=[],
        status="not_computed",
        note=f"not computed: no {side} values left after dropping missing values",
    )


def _dataset_verdict(
    features: dict[str, ColumnDrift],
    distributions: dict[str, Distribution],
    share_threshold: float,
    n_reference: int,
    n_current: int,
) -> DriftReport:
    computed = [f for f in features.values() if f.status == "computed"]
    n_drifted = sum(f.drifted for f in computed)
    p_value_columns = [f for f in computed if f.method in m.P_VALUE_METHODS and f.score is not None]
    n_tests = len(p_value_columns)
    bonferroni = sum(
        m.is_drift(f.method, f.score, f.threshold / n_tests) for f in p_value_columns if f.score is not None
    )
    share = n_drifted / len(computed) if computed else 0.0
    return DriftReport(
        dataset_drift=bool(computed) and share >= share_threshold,
        drift_share=share,
        share_threshold=share_threshold,
        n_reference=n_reference,
        n_current=n_current,
        features=features,
        n_columns=len(computed),
        n_drifted=n_drifted,
        n_p_value_tests=n_tests,
        n_drifted_bonferroni=bonferroni,
        distributions=distributions,
    )


def _insufficient(
    n_reference: int, n_current: int, min_rows: int, share_threshold: float
) -> DriftReport | None:
    if n_reference >= min_rows and n_current >= min_rows:
        return None
    return DriftReport(
        dataset_drift=False,
        drift_share=0.0,
        share_threshold=share_threshold,
        n_reference=n_reference,
        n_current=n_current,
        features={},
        status="insufficient_data",
        message=f"{min(n_reference, n_current)} rows on one side, fewer than the minimum of {min_rows}",
    )


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _n_rows(columns: Mapping[str, Column]) -> int:
    sizes = {column.size for column in columns.values()}
    if len(sizes) > 1:
        raise DataUnreadable(f"columns have different lengths: {sorted(sizes)}")
    return sizes.pop() if sizes else 0


def _kind(name: str, kind: str) -> ColumnKind:
    try:
        return KIND_ALIASES[kind]
    except KeyError:
        raise m.DriftMethodError(f"column {name!r}: unknown column type {kind!r}") from None
