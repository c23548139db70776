"""Shapley values of one prediction against a weighted background (interventional: a feature outside a
coalition takes the background row's value), computed with the served ONNX model.

Explained output: for a classifier, the probability of the class the served model predicts for the
instance (its `label`, which may be decided at a threshold); for a regressor, the value. The value of
a coalition S is v(S) = Σ_b w_b f(x_S, b_rest); `base_value` is v(∅), the weighted mean output on the
background, and v(all) = f(x), so base_value + Σ contributions = f(x) (efficiency).

Up to EXACT_MAX_FEATURES features every coalition is evaluated, batched into one ONNX Runtime run. A
coalition's row with background row b depends only on the features where x and b differ, so b costs
2^|differing| rows rather than 2^d. Above that, a seeded permutation estimate (antithetic pairs) whose
error bound — 1.96 standard errors of the largest contribution's estimate — comes with the answer; it
is additive too, each permutation's steps summing to f(x) − f(b).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from sluice.domain.data.features import Feed
from sluice.domain.explain.background import Background
from sluice.domain.scoring.onnx_model import OnnxModel

EXACT_MAX_FEATURES = 12
PERMUTATION_PAIRS = 16  # antithetic pairs per background row above EXACT_MAX_FEATURES
PERMUTATION_SEED = 0
Method = Literal["exact", "permutation"]


@dataclass(frozen=True)
class Explanation:
    """One instance's Shapley values: `contributions` in the model's input order; `output` is f(x);
    `error_bound` is set for a permutation estimate (None: exact); `model_rows` is what it cost."""

    output: float
    base_value: float
    contributions: dict[str, float]
    method: Method
    error_bound: float | None
    model_rows: int
    explained_class: str | int | None = None  # classifiers: whose probability


def _column(model: OnnxModel, feed: Feed, column: int | None) -> npt.NDArray[np.float64]:
    outputs = model.run(feed)
    if column is None:
        assert outputs.values is not None
        return outputs.values.astype(np.float64)
    assert outputs.probabilities is not None
    return outputs.probabilities[:, column].astype(np.float64)


def _same(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_]:
    """Elementwise equality where two missing numbers (NaN) are the same value."""
    equal = a == b
    if a.dtype.kind == "f":
        equal = equal | (np.isnan(a) & np.isnan(b))
    return np.asarray(equal, dtype=bool)


def explained_output(model: OnnxModel, instance: Feed) -> tuple[float, int | None, str | int | None]:
    """What is explained for the (one-row) instance, as /predict answers it: the output (the predicted
    class's probability, or the value), the probability column (None: a regressor) and the class."""
    outputs = model.run(instance)
    if outputs.values is not None:
        return float(outputs.values[0]), None, None
    assert outputs.labels is not None and outputs.probabilities is not None
    label = outputs.labels[0]
    label = label.item() if isinstance(label, np.generic) else label
    column = [str(c) for c in model.classes or []].index(str(label))
    return float(outputs.probabilities[0, column]), column, label


@dataclass(frozen=True)
class _Explained:
    output: float  # f(x) from a one-row run: a batch may round float32 outputs differently
    column: int | None
    label: str | int | None


def explain_instance(model: OnnxModel, background: Background, instance: Feed) -> Explanation:
    """Shapley values of `instance` (a one-row feed built to the model's inputs): exact up to
    EXACT_MAX_FEATURES inputs, else a seeded permutation estimate with its error bound."""
    output, column, label = explained_output(model, instance)
    names = list(model.inputs)
    explain = _exact if len(names) <= EXACT_MAX_FEATURES else _permutation
    return explain(model, background, instance, names, _Explained(output, column, label))


def _exact(
    model: OnnxModel, background: Background, instance: Feed, names: list[str], explained: _Explained
) -> Explanation:
    d, k = len(names), background.rows
    masks = np.arange(1 << d, dtype=np.int64)
    bits = np.int64(1) << np.arange(d, dtype=np.int64)
    differs = np.zeros(k, dtype=np.int64)
    for j, name in enumerate(names):
        differs |= np.where(_same(background.feed[name][:, 0], instance[name][:, 0]), 0, bits[j])
    # the rows to run: background row b with every subset of its differing features taken from x
    row_of = np.full((k, 1 << d), -1, dtype=np.int64)
    owners, subsets, offset = [], [], 0
    for b in range(k):
        own = masks[(masks & ~differs[b]) == 0]
        row_of[b, own] = offset + np.arange(own.size)
        offset += own.size
        owners.append(np.full(own.size, b))
        subsets.append(own)
    owner = np.concatenate(owners)
    subset = np.concatenate(subsets)
    feed: Feed = {}
    for j, name in enumerate(names):
        from_x = (subset & bits[j]) != 0
        feed[name] = np.where(from_x[:, None], instance[name], background.feed[name][owner]).astype(
            instance[name].dtype
        )
    outputs = _column(model, feed, explained.column)
    outputs[subset == differs[owner]] = explained.output  # the rows that are x itself
    # v(S) = Σ_b w_b f(x_{S ∩ D_b}, b): every coalition S, from the rows above
    values = background.weights @ outputs[row_of[np.arange(k)[:, None], masks[None, :] & differs[:, None]]]
    sizes = np.array([bin(int(m)).count("1") for m in masks])
    factorial = [math.factorial(n) for n in range(d + 1)]
    weight_of_size = np.array([factorial[s] * factorial[d - s - 1] / factorial[d] for s in range(d)])
    contributions: dict[str, float] = {}
    for j, name in enumerate(names):
        without = masks[(masks & bits[j]) == 0]
        gains = values[without | bits[j]] - values[without]
        contributions[name] = float(weight_of_size[sizes[without]] @ gains)
    return Explanation(
        output=explained.output,
        base_value=float(values[0]),
        contributions=contributions,
        method="exact",
        error_bound=None,
        model_rows=int(subset.size),
        explained_class=explained.label,
    )


def _permutation(
    model: OnnxModel, background: Background, instance: Feed, names: list[str], explained: _Explained
) -> Explanation:
    d, k = len(names), background.rows
    rng = np.random.default_rng(PERMUTATION_SEED)
    orders = []
    for _ in range(PERMUTATION_PAIRS):
        order = rng.permutation(d)
        orders += [order, order[::-1]]  # antithetic: the reversed order cancels much of the noise
    n = len(orders)
    # for each background row b, each order, each step t = 0..d: features order[:t] from x
    from_x = np.zeros((k, n, d + 1, d), dtype=bool)
    for p, order in enumerate(orders):
        for t in range(1, d + 1):
            from_x[:, p, t, order[:t]] = True
    owner = np.repeat(np.arange(k), n * (d + 1))
    flat = from_x.reshape(-1, d)
    feed: Feed = {
        name: np.where(flat[:, j : j + 1], instance[name], background.feed[name][owner]).astype(
            instance[name].dtype
        )
        for j, name in enumerate(names)
    }
    outputs = _column(model, feed, explained.column).reshape(k, n, d + 1)
    outputs[:, :, d] = explained.output  # the rows that are x itself
    steps = np.diff(outputs, axis=2)  # [k, n, d]: the gain of the feature added at each step
    gains = np.zeros((k, n, d))
    for p, order in enumerate(orders):
        gains[:, p, order] = steps[:, p, :]
    # the two orders of a pair are not independent: a pair's mean is one sample
    pairs = gains.reshape(k, PERMUTATION_PAIRS, 2, d).mean(axis=2)
    weighted = np.einsum("k,kpd->pd", background.weights, pairs)  # per pair: Σ_b w_b gain
    estimate = weighted.mean(axis=0)
    spread = weighted.std(axis=0, ddof=1) / math.sqrt(PERMUTATION_PAIRS)
    base = float(background.weights @ outputs[:, 0, 0])
    return Explanation(
        output=explained.output,
        base_value=base,
        contributions={name: float(estimate[j]) for j, name in enumerate(names)},
        method="permutation",
        error_bound=float(1.96 * spread.max()),
        model_rows=int(flat.shape[0]),
        explained_class=explained.label,
    )
