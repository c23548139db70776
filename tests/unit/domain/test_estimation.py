"""Performance estimated without labels, as pure functions: an estimation basis and captured records
in, estimates with bands, gate verdicts and sentences out. (NannyML's agreement:
test_estimation_nannyml.py.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sluice.domain.monitoring.drift.live import live_metric
from sluice.domain.monitoring.estimation.basis import Calibration, Estimation, EstimationBasis
from sluice.domain.monitoring.estimation.cbpe import classifier_rows, estimate_classifier
from sluice.domain.monitoring.estimation.fit import fit_estimation
from sluice.domain.monitoring.estimation.notes import estimate_notes
from sluice.domain.monitoring.estimation.window import Estimator, estimate_window, not_estimable
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.spec.model_spec import Task, parse_spec
from sluice.domain.training.export import export_onnx
from sluice.domain.training.pipeline import fit_pipeline, split_holdout, target_array
from tests.unit.domain.test_estimation_nannyml import REGRESSION_SPEC, _regression_table

BINARY = EstimationBasis(
    method="cbpe",
    task="binary",
    reference_rows=1000,
    classes=[0, 1],
    calibration=[None],
    sampling={"accuracy": [0.4], "roc_auc": [0.3, 0.25], "f1": [0.5, 0.3]},
)
LOANS = """
name: loans
task: binary
target: default
features: [{name: debt_ratio, type: numeric}]
algorithm: {name: logistic_regression}
metric: roc_auc
gates: {min_metric: 0.9}
"""


def record(
    i: int, prediction: Any, probabilities: list[float] | None = None, **inputs: Any
) -> dict[str, Any]:
    outputs: dict[str, Any] = {"prediction": prediction}
    if probabilities is not None:
        outputs |= {"probabilities": probabilities, "classes": [0, 1]}
    return {"request_id": "r", "instance": i, "inputs": inputs, "outputs": outputs}


def test_uncalibrated_accuracy_is_the_mean_probability_of_the_answered_class() -> None:
    # Given a model deciding at 0.3 (it answered 1 at P(1) = .35 and .4) and a row without probabilities
    ones = [0.9, 0.35, 0.2, 0.4]
    records = [record(i, int(p >= 0.3), [1 - p, p]) for i, p in enumerate(ones)] + [record(9, 1)]
    # When CBPE estimates it with a basis that leaves probabilities as they are
    rows = classifier_rows(BINARY, records)
    assert rows is not None
    estimate = estimate_classifier(BINARY, *rows)
    # Then each of the four rows counts the probability of the class it answered (.9, .35, .8, .4)
    assert estimate.rows == 4
    assert estimate.values["accuracy"] == pytest.approx((0.9 + 0.35 + 0.8 + 0.4) / 4)
    # And the expected confusion matrix gives precision (.9 + .35 + .4) / 3 and recall TP / (TP + FN)
    assert estimate.values["precision"] == pytest.approx(1.65 / 3)
    assert estimate.values["recall"] == pytest.approx(1.65 / 1.85)
    # And each band is the estimate ± 3 sampling errors from the reference's components, within [0, 1]
    assert estimate.sampling_error["accuracy"] == pytest.approx(0.4 / 2)
    assert estimate.band["accuracy"] == (pytest.approx(0.6125 - 0.6), 1.0)
    assert estimate.sampling_error["roc_auc"] == pytest.approx(0.3 / np.sqrt(4 * 0.25))


def test_the_calibration_learnt_at_training_is_applied() -> None:
    # Given a calibration that halves every P(1) (points (0, 0) and (1, .5)) and rows answering 1 at .8
    halved = BINARY.model_copy(update={"calibration": [Calibration(x=[0.0, 1.0], y=[0.0, 0.5])]})
    rows = classifier_rows(halved, [record(i, 1, [0.2, 0.8]) for i in range(10)])
    assert rows is not None
    # When CBPE estimates accuracy
    estimate = estimate_classifier(halved, *rows)
    # Then it uses the calibrated .4, not the model's .8
    assert estimate.values["accuracy"] == pytest.approx(0.4)


def test_the_estimate_of_a_calibrated_multiclass_model_is_close_to_its_labelled_accuracy() -> None:
    # Given a calibrated three-class model: each row's label is drawn from its own probabilities
    rng = np.random.default_rng(7)
    n = 3000
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], n)
    classes = np.array(["a", "b", "c"])
    truths = [str(rng.choice(classes, p=p)) for p in probabilities]
    records = [
        {
            "request_id": "r",
            "instance": i,
            "outputs": {"prediction": str(classes[p.argmax()]), "probabilities": p.tolist()},
        }
        for i, p in enumerate(probabilities)
    ]
    basis = EstimationBasis(
        method="cbpe", task="multiclass", reference_rows=n, classes=["a", "b", "c"], calibration=[None] * 3
    )
    # When accuracy is estimated without the labels and measured with them
    rows = classifier_rows(basis, records)
    assert rows is not None
    estimate = estimate_classifier(basis, *rows)
    measured = live_metric(Task.MULTICLASS, records, {("r", i): t for i, t in enumerate(truths)})
    # Then they differ by less than four standard errors of the labelled accuracy
    tops = probabilities.max(axis=1)
    tolerance = 4 * float(np.sqrt(np.sum(tops * (1 - tops)))) / n
    assert measured is not None
    assert abs(estimate.values["accuracy"] - measured["accuracy"]) < tolerance


def test_the_estimate_of_the_spec_metric_is_judged_against_its_gate() -> None:
    # Given a spec gating roc_auc at 0.9 and 40 rows the model ranks poorly (P(1) unrelated to anything)
    spec = parse_spec(LOANS)
    records = [record(i, int(p >= 0.5), [1 - p, p]) for i, p in enumerate(np.linspace(0.3, 0.7, 40))]
    # When the window is estimated
    estimation = estimate_window(spec, Estimator(basis=BINARY), records)
    # Then the estimated roc_auc is below the gate
    estimate = estimation.estimate
    assert estimate is not None and estimate.primary == "roc_auc"
    assert estimate.values["roc_auc"] < 0.9 and estimate.below_gate is True
    assert (estimate.gate, estimate.limit) == ("min_metric", 0.9)
    # And the notes say it, beside the realized value where labels measured it
    notes = estimate_notes(estimation, {"roc_auc": 0.61, "labelled_rows": 12})
    low, high = estimate.band["roc_auc"]
    assert notes[0] == (
        f"Estimated ROC AUC {estimate.values['roc_auc']:.3g} ({low:.3g}–{high:.3g}) without labels on 40 captured "
        "rows (CBPE); realized 0.61 on 12 labelled rows."
    )
    assert (
        notes[-1]
        == "The estimated ROC AUC is worse than the spec's min_metric 0.9, before any label arrives."
    )
    # And on fewer than 30 rows it is not judged
    few = estimate_window(spec, Estimator(basis=BINARY), records[:10]).estimate
    assert few is not None and few.below_gate is False


def test_no_estimate_without_a_basis_or_usable_rows_and_the_notes_say_why() -> None:
    spec = parse_spec(LOANS)
    # A version trained before estimation existed
    assert estimate_notes(not_estimable(3), None) == [
        "No performance estimate: v3 was trained before Sluice estimated performance without labels (it has no "
        "estimation.json); its next retraining will have one."
    ]
    # A classifier's rows without probabilities
    estimation = estimate_window(spec, Estimator(basis=BINARY), [record(0, 1)])
    assert estimation.estimate is None and "probabilities" in (estimation.unavailable or "")
    assert estimate_notes(Estimation(), None) == []
    # An empty window
    assert estimate_window(spec, Estimator(basis=BINARY), []).unavailable == "no captured rows in the window"


def test_dle_estimates_a_regressors_mae_and_rmse_from_its_loss_models() -> None:
    # Given a regressor trained with its loss models, and traffic shifted towards rows with large errors
    spec = parse_spec(REGRESSION_SPEC.replace("metric: mae", "metric: mae\ngates: {max_metric: 0.8}"))
    table = _regression_table(3000, seed=1, noisy_share=0.2)
    split = split_holdout(spec, table)
    onnx_model = export_onnx(fit_pipeline(spec, split.train), spec, version="1")
    fitted = fit_estimation(spec, onnx_model, split.holdout, version="1")
    assert fitted is not None and sorted(fitted.loss_models) == ["mae", "rmse"]
    traffic = _regression_table(1000, seed=4, noisy_share=0.7)
    predicted = OnnxModel(onnx_model).run_table(traffic).values
    assert predicted is not None
    records = [
        {
            "inputs": {c: traffic.columns[c][i] for c in ("x", "noise", "segment")},
            "outputs": {"prediction": float(p)},
        }
        for i, p in enumerate(predicted)
    ]
    # When the window is estimated without labels
    estimate = estimate_window(spec, Estimator(fitted.basis, fitted.loss_models), records).estimate
    # Then MAE and RMSE are within 10% of the realized errors, and the MAE breaks the spec's max_metric
    errors = target_array(spec, traffic) - predicted.astype(np.float64)
    assert estimate is not None and estimate.method == "dle" and estimate.rows == 1000
    assert estimate.values["mae"] == pytest.approx(np.mean(np.abs(errors)), rel=0.1)
    assert estimate.values["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)), rel=0.1)
    assert estimate.gate == "max_metric" and estimate.below_gate is True
    low, high = estimate.band["mae"]
    assert 0 <= low < estimate.values["mae"] < high
