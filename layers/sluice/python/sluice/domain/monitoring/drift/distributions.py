"""What the HTML report draws for a column: shares of the reference and the current values per bin (a
histogram on round bin edges, for numbers) or per category (bars, largest first). For drawing only:
the drift tests bin values their own way (`sluice.domain.monitoring.drift.methods`)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from sluice.domain.monitoring.drift import methods as m
from sluice.domain.monitoring.drift.methods import FloatArray, ValueCounts
from sluice.domain.monitoring.drift.report import Distribution
from sluice.domain.reports.charts import nice_step, plain_number, tick_decimals, tick_label

HISTOGRAM_BINS = 30  # about this many bins for numerical columns (the edges are round numbers)
MAX_BARS = 15  # categories drawn; the rest are summed as "other"
SAMPLE_SIZE = 20_000  # values per side the drawn range is taken from


def numerical_distribution(ref: FloatArray, cur: FloatArray, counts: ValueCounts | None) -> Distribution:
    """Bars per distinct value when `counts` holds at most MAX_BARS of them; otherwise a histogram of both
    sides on the same round bin edges (e.g. 10,000–12,000), spanning the 0.5th to 99.5th percentiles of
    both sides (from a strided sample, so a long tail does not squash the picture); values outside land
    in the end bins."""
    if counts is not None and len(counts.keys) <= MAX_BARS:
        return bars(counts, np.zeros(len(counts.keys), dtype=bool))
    ref_sample = ref[:: max(ref.size // SAMPLE_SIZE, 1)]
    cur_sample = cur[:: max(cur.size // SAMPLE_SIZE, 1)]
    low = float(min(np.quantile(ref_sample, 0.005), np.quantile(cur_sample, 0.005)))
    high = float(max(np.quantile(ref_sample, 0.995), np.quantile(cur_sample, 0.995)))
    if high <= low:
        high = low + 1.0
    step = nice_step(high - low, HISTOGRAM_BINS)
    first, last = int(np.floor(low / step + 1e-9)), int(np.ceil(high / step - 1e-9))
    edges = np.round(np.arange(first, max(last, first + 1) + 1) * step, tick_decimals(step))
    low, high = float(edges[0]), float(edges[-1])
    ref_shares = np.histogram(np.clip(ref, low, high), bins=edges)[0] / ref.size
    cur_shares = np.histogram(np.clip(cur, low, high), bins=edges)[0] / cur.size
    return Distribution(
        labels=[f"{tick_label(a, step)}–{tick_label(b, step)}" for a, b in pairwise(edges.tolist())],
        reference=ref_shares.tolist(),
        current=cur_shares.tolist(),
        edges=edges.tolist(),
    )


def bars(counts: ValueCounts, highlighted: np.ndarray) -> Distribution:
    """Bars of each value's share, numbers in their own order and categories largest first, the ones past
    MAX_BARS summed as "other (n)"; `highlighted` marks bars to draw apart (unseen categories)."""
    ref_shares, cur_shares = m.value_shares(counts)
    if counts.keys and isinstance(counts.keys[0], float):
        order = np.argsort(np.asarray(counts.keys), kind="stable")  # numbers in their own order
    else:
        order = np.argsort(-np.maximum(ref_shares, cur_shares), kind="stable")  # largest first
    shown = order[:MAX_BARS]
    labels = [_label(counts.keys[i]) for i in shown]
    ref_list = ref_shares[shown].tolist()
    cur_list = cur_shares[shown].tolist()
    marks = [bool(highlighted[i]) for i in shown]
    rest = order[MAX_BARS:]
    if rest.size:
        labels.append(f"other ({rest.size})")
        ref_list.append(float(ref_shares[rest].sum()))
        cur_list.append(float(cur_shares[rest].sum()))
        marks.append(bool(highlighted[rest].any()))
    return Distribution(labels=labels, reference=ref_list, current=cur_list, highlighted=marks)


def _label(key: float | str) -> str:
    if isinstance(key, str):
        return key
    return plain_number(key, 6)
