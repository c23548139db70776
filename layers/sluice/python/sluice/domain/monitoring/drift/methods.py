"""Drift statistics on typed numpy arrays, computed the way Evidently 0.7 computes them.

Every function here takes the non-missing values of one column (reference and current) and returns a
score; which score means drift is decided by `is_drift`. The statistics come from scipy
(`scipy.stats`, `scipy.spatial.distance`); the binning and the small details around them (which
values are counted, how empty bins are filled, how the Z-test picks its "success" category) follow
`evidently/legacy/calculations/stattests/*.py` line for line, so the scores agree with Evidently's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial import distance

from sluice.domain.monitoring.drift.names import METHOD_NAMES, ColumnKind, MethodName
from sluice.errors import SluiceError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# Evidently: ks/chisquare/z return p-values (drift when small); the others return distances.
P_VALUE_METHODS: frozenset[MethodName] = frozenset({"ks", "chisquare", "z"})
DEFAULT_THRESHOLDS: dict[MethodName, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
# Methods that need an order on the values, so they make no sense for categories.
NUMERICAL_ONLY: frozenset[MethodName] = frozenset({"ks", "wasserstein"})

# Evidently's default-stattest rule (legacy/calculations/stattests/registry.py, _get_default_stattest).
SMALL_REFERENCE_ROWS = 1000  # reference (after dropping missing) at most this many rows: p-value tests
FEW_VALUES = 5  # numerical columns with at most this many distinct values are treated as categories
BINARY_VALUES = 2  # at most this many distinct values: Z-test for two proportions instead of chi-square
# Evidently's get_binned_data (stattests/utils.py): numerical columns whose *reference* has more than
# this many distinct values are binned with Sturges edges over both samples; others count each value.
BINNING_MIN_DISTINCT = 20
WASSERSTEIN_MIN_NORM = 0.001  # Evidently: norm = max(std(reference), 0.001)


class DriftMethodError(SluiceError, ValueError):
    """A drift method was asked for by a name that does not exist or cannot apply to the column."""


def check_method(name: str, kind: ColumnKind, column: str) -> MethodName:
    """The method name validated for a column of this kind; raises DriftMethodError naming both."""
    if name not in METHOD_NAMES:
        raise DriftMethodError(f"column {column!r}: unknown drift method {name!r}; use one of {METHOD_NAMES}")
    method: MethodName = name
    if kind == "categorical" and method in NUMERICAL_ONLY:
        raise DriftMethodError(
            f"column {column!r}: method {method!r} needs numbers; the column is categorical"
        )
    return method


def default_method(kind: ColumnKind, n_reference: int, n_distinct: int) -> MethodName:
    """Evidently 0.7's default method for a column (registry.py, `_get_default_stattest`).

    `n_reference` counts the reference's non-missing values; `n_distinct` counts distinct values over
    reference and current together. The rule, quoted from Evidently:

    - reference ≤ 1,000 rows: numerical with > 5 distinct values → "ks"; otherwise (numerical with
      ≤ 5 values, or categorical) "chisquare" when > 2 distinct values, else "z".
    - reference > 1,000 rows: numerical with > 5 distinct values → "wasserstein"; otherwise
      "jensenshannon".
    """
    many_values = kind == "numerical" and n_distinct > FEW_VALUES
    if n_reference <= SMALL_REFERENCE_ROWS:
        if many_values:
            return "ks"
        return "chisquare" if n_distinct > BINARY_VALUES else "z"
    return "wasserstein" if many_values else "jensenshannon"


def is_drift(method: MethodName, score: float, threshold: float) -> bool:
    """Evidently's verdict: KS p ≤ t; chi-square and Z p < t; distances ≥ t. NaN is never drift."""
    if math.isnan(score):
        return False
    if method == "ks":
        return score <= threshold
    if method in P_VALUE_METHODS:
        return score < threshold
    return score >= threshold


@dataclass(frozen=True)
class ValueCounts:
    """Counts of each distinct value (or category) in the reference and the current sample.

    `keys` are sortable labels of the values (numbers for numerical columns, strings for categories).
    Both count arrays are aligned with `keys` and cover every value seen on either side.
    """

    keys: list[float] | list[str]
    reference: IntArray
    current: IntArray


def numerical_value_counts(reference: FloatArray, current: FloatArray) -> ValueCounts:
    """Counts per distinct number over both samples (no NaN in the inputs)."""
    values, inverse = np.unique(np.concatenate([reference, current]), return_inverse=True)
    inverse = inverse.reshape(-1)
    ref_counts = np.bincount(inverse[: reference.size], minlength=values.size).astype(np.int64)
    cur_counts = np.bincount(inverse[reference.size :], minlength=values.size).astype(np.int64)
    return ValueCounts(keys=[float(v) for v in values], reference=ref_counts, current=cur_counts)


def distinct_count_capped(reference: FloatArray, current: FloatArray, cap: int) -> int:
    """Distinct values over both samples when there are at most `cap`; otherwise some count > cap.

    Method choice only asks "more than 5 distinct values?", so a peek at the first rows usually
    answers it without sorting a million values.
    """
    for sample in (reference, current):
        peek = np.unique(sample[:2048]).size
        if peek > cap:
            return peek
    return int(np.unique(np.concatenate([reference, current])).size)


def ks_p_value(reference: FloatArray, current: FloatArray) -> float:
    """Two-sample two-sided Kolmogorov–Smirnov p-value (scipy.stats.ks_2samp, as Evidently calls it)."""
    return float(stats.ks_2samp(reference, current).pvalue)


def ks_smallest_p_value(n_reference: int, n_current: int) -> float:
    """The smallest p-value KS can return for these sample sizes (both samples fully separated).

    With a handful of rows this is above 0.05, so KS cannot flag drift whatever the data is.
    """
    return float(stats.ks_2samp(np.zeros(n_reference), np.ones(n_current)).pvalue)


def chisquare_p_value(counts: ValueCounts) -> float:
    """Evidently's chi-square: observed current counts against reference counts scaled to the current size.

    A value absent from the reference has an expected count of 0, so the statistic is infinite and the
    p-value 0 (Evidently's result, kept for parity). A single value overall gives NaN (no degrees of
    freedom).
    """
    n_ref = int(counts.reference.sum())
    n_cur = int(counts.current.sum())
    expected = counts.reference * (n_cur / n_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(counts.current, expected).pvalue)


def z_p_value(counts: ValueCounts) -> float:
    """Evidently's Z-test for two proportions: the share of values other than the smallest key.

    Both samples holding the same single value gives p = 1, as in Evidently.
    """
    ref_present = counts.reference > 0
    cur_present = counts.current > 0
    if ref_present.sum() == 1 and cur_present.sum() == 1 and bool(np.all(ref_present == cur_present)):
        return 1.0
    first = int(np.argmin(_sort_rank(counts.keys)))
    n1 = int(counts.reference.sum())
    n2 = int(counts.current.sum())
    p1 = float(n1 - counts.reference[first]) / n1
    p2 = float(n2 - counts.current[first]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _sort_rank(keys: list[float] | list[str]) -> IntArray:
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    return rank


def wasserstein_normed(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """First Wasserstein distance divided by max(std(reference), 0.001); returns (distance, norm).

    Same formula as scipy.stats.wasserstein_distance (integral of |F_ref − F_cur| between merged
    sorted values), computed by merging the two sorted samples instead of binary searches, which is
    several times faster on a million rows. The 0.001 floor is Evidently's: a constant reference
    makes any shift look enormous, so callers report the norm beside the score.
    """
    norm = max(float(np.std(reference)), WASSERSTEIN_MIN_NORM)
    ref_sorted = np.sort(reference)
    cur_sorted = np.sort(current)
    merged = np.concatenate([ref_sorted, cur_sorted])
    order = np.argsort(merged, kind="stable")  # a merge of two sorted runs: linear
    values = merged[order]
    del merged
    ref_below = np.cumsum(order < ref_sorted.size)[:-1]  # reference values ≤ values[i]
    del order
    cur_below = np.arange(1, values.size, dtype=np.int64) - ref_below
    gaps = np.diff(values)
    cdf_gap = np.abs(ref_below / ref_sorted.size - cur_below / cur_sorted.size)
    return float(np.sum(np.multiply(cdf_gap, gaps))) / norm, norm


def sturges_shares(reference: FloatArray, current: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Share of each sample in each Sturges bin, the edges computed over both samples together.

    Evidently's `get_binned_data` (stattests/utils.py) bins this way for numerical columns whose
    reference has more than 20 distinct values.
    """
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    # The edges are uniform: np.histogram's fast path with (bins, range) counts exactly as with edges.
    n_bins = edges.size - 1
    value_range = (float(edges[0]), float(edges[-1]))
    ref_shares = np.histogram(reference, bins=n_bins, range=value_range)[0] / reference.size
    cur_shares = np.histogram(current, bins=n_bins, range=value_range)[0] / current.size
    return ref_shares.astype(np.float64), cur_shares.astype(np.float64)


def value_shares(counts: ValueCounts) -> tuple[FloatArray, FloatArray]:
    """Share of each sample taking each distinct value (Evidently's binning for categories and for
    numerical columns with at most 20 distinct reference values)."""
    ref_shares = counts.reference / counts.reference.sum()
    cur_shares = counts.current / counts.current.sum()
    return ref_shares.astype(np.float64), cur_shares.astype(np.float64)


def fill_empty_shares(shares: FloatArray) -> FloatArray:
    """Evidently's fill for empty bins before PSI: min(nonzero share)/10⁶ when that minimum is
    ≤ 0.0001, else 0.0001."""
    nonzero_min = float(shares[shares != 0].min())
    fill = nonzero_min / 10**6 if nonzero_min <= 0.0001 else 0.0001
    return np.where(shares == 0, fill, shares)


def jensenshannon_distance(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """Jensen–Shannon distance (natural log) between two share vectors, scipy.spatial.distance."""
    return float(distance.jensenshannon(ref_shares, cur_shares))


def psi_value(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """Population stability index over shares with no empty bins (see `fill_empty_shares`)."""
    return float(np.sum((ref_shares - cur_shares) * np.log(ref_shares / cur_shares)))
