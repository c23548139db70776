"""The trivial baseline a model must beat: a classifier that ignores its inputs (the training part's class
shares as its probabilities, its most common class as every label) or a regressor that always predicts
the training mean — scored on the holdout by the same code that scores the model."""

from __future__ import annotations

import numpy as np

from sluice.domain.data.table import RawTable
from sluice.domain.scoring.onnx_model import ModelOutputs
from sluice.domain.spec.model_spec import ModelSpec, Task
from sluice.domain.training.evaluation import score
from sluice.domain.training.pipeline import target_array


def baseline_metrics(spec: ModelSpec, train: RawTable, holdout: RawTable) -> dict[str, float | None]:
    """The trivial model's metrics on `holdout` (the task's metrics, as `evaluation.score` names them;
    None where a metric is undefined). Classification: every row gets the training part's class shares
    as probabilities and its most common class as label (ties: the first class in sorted order);
    classes seen only in the holdout get probability 0. Regression: every row gets the training mean.
    Empty `train` or `holdout`, or a classification with one class only: an empty dict."""
    if train.n_rows == 0 or holdout.n_rows == 0:
        return {}
    y_train = target_array(spec, train)
    y_holdout = target_array(spec, holdout)
    rows = holdout.n_rows
    if spec.task is Task.REGRESSION:
        mean = float(np.mean(y_train))
        outputs = ModelOutputs(labels=None, probabilities=None, values=np.full(rows, mean, dtype=np.float32))
        return score(spec.task, y_holdout, outputs, [])
    classes = np.unique(np.concatenate([y_train, y_holdout]))
    if len(classes) < 2:
        return {}
    shares = np.array([np.mean(y_train == c) for c in classes], dtype=np.float32)
    majority = classes[int(np.argmax(shares))]
    outputs = ModelOutputs(
        labels=np.full(rows, majority, dtype=classes.dtype),
        probabilities=np.tile(shares, (rows, 1)),
        values=None,
    )
    return score(spec.task, y_holdout, outputs, classes.tolist())
