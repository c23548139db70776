"""The model card's global view of explanations: the mean |contribution| of each feature over a capped,
seeded sample of the holdout, computed at Evaluate with the exported ONNX model and the same background
the version stores."""

from __future__ import annotations

import numpy as np

from sluice.domain.data.features import feed_from_table
from sluice.domain.data.table import RawTable
from sluice.domain.explain.background import background_sample, read_background
from sluice.domain.explain.shapley import explain_instance
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.spec.model_spec import ModelSpec

HOLDOUT_CAP = 100  # holdout rows explained for the card (~2-3 ms each for the credit-risk forest)
HOLDOUT_SEED = 7


def mean_abs_contributions(
    onnx_model: bytes, spec: ModelSpec, train: RawTable, holdout: RawTable, cap: int = HOLDOUT_CAP
) -> dict[str, float]:
    """Each feature's mean |Shapley value| over up to `cap` holdout rows, largest first."""
    model = OnnxModel(onnx_model)
    background = read_background(background_sample(spec, train), model.inputs)
    rows = np.arange(holdout.n_rows)
    if holdout.n_rows > cap:
        rows = np.sort(np.random.default_rng(HOLDOUT_SEED).choice(holdout.n_rows, size=cap, replace=False))
    if rows.size == 0:
        return {}
    feed = feed_from_table(model.inputs, holdout.select(rows))
    totals = dict.fromkeys(model.inputs, 0.0)
    for i in range(rows.size):
        explanation = explain_instance(model, background, {n: v[i : i + 1] for n, v in feed.items()})
        for name, value in explanation.contributions.items():
            totals[name] += abs(value)
    means = {name: total / rows.size for name, total in totals.items()}
    return dict(sorted(means.items(), key=lambda item: -item[1]))
