"""How a column's values moved between the reference and the current data, as plain statistics (medians,
quartiles, range, category shares) computed on the same values the drift test compared. These are the
numbers a sentence about the column is built from (`sluice.domain.monitoring.drift.explain`), kept in the report
so that programs need not parse the sentence."""

from __future__ import annotations

import numpy as np

from sluice.domain.monitoring.drift.methods import FloatArray, ValueCounts, value_shares
from sluice.domain.monitoring.drift.report import CategoricalChange, NumericalChange

QUARTILES = (0.25, 0.5, 0.75)
# Quartiles of a longer column come from an evenly strided sample of about this many values: their
# standard error is then under 0.005 standard deviations, below the 2–3 significant digits a sentence
# shows, and 15 columns of a million values cost tens of milliseconds instead of a third of a second.
QUANTILE_SAMPLE = 100_000
MOVED_SHARES_KEPT = 5  # categories whose shares the report keeps, those that moved most


def numerical_change(reference: FloatArray, current: FloatArray) -> NumericalChange:
    """Quartiles of both sides (of a strided sample past QUANTILE_SAMPLE values) and the exact share of
    current values outside the reference's range; both arrays hold values only (no NaN), neither empty."""
    ref_q1, ref_median, ref_q3 = _quartiles(reference)
    cur_q1, cur_median, cur_q3 = _quartiles(current)
    low, high = float(reference.min()), float(reference.max())
    return NumericalChange(
        median_reference=ref_median,
        median_current=cur_median,
        median_change=(cur_median - ref_median) / abs(ref_median) if ref_median else None,
        quartiles_reference=(ref_q1, ref_q3),
        quartiles_current=(cur_q1, cur_q3),
        min_reference=low,
        max_reference=high,
        below_reference=float(np.count_nonzero(current < low)) / current.size,
        above_reference=float(np.count_nonzero(current > high)) / current.size,
    )


def categorical_change(counts: ValueCounts) -> CategoricalChange:
    """The shares of the categories that moved most (ties in the counts' order) and the current share of
    categories absent from the reference; each side's counts must not all be zero."""
    ref_shares, cur_shares = value_shares(counts)
    order = np.argsort(-np.abs(cur_shares - ref_shares), kind="stable")[:MOVED_SHARES_KEPT]
    return CategoricalChange(
        shares={str(counts.keys[i]): (float(ref_shares[i]), float(cur_shares[i])) for i in order},
        unseen_share=float(cur_shares[counts.reference == 0].sum()),
    )


def _quartiles(values: FloatArray) -> tuple[float, float, float]:
    sample = values[:: -(-values.size // QUANTILE_SAMPLE)]  # a stride of ceil(size / QUANTILE_SAMPLE)
    q1, median, q3 = (float(q) for q in np.quantile(sample, QUARTILES))
    return q1, median, q3
