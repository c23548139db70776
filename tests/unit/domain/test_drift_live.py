"""Drift of live traffic, as pure functions: captured records and labels in, reports and numbers out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.drift.live import (
    LiveGate,
    captured_inputs,
    check_input_drift,
    check_prediction_drift,
    live_gate,
    live_metric,
    prediction_text,
    report_notes,
)
from sluice.domain.monitoring.drift.report import ColumnDrift
from sluice.domain.monitoring.reference import PREDICTION_COLUMN
from sluice.domain.spec.model_spec import Metric, Task, parse_spec

SPEC = parse_spec(
    """
name: shop
task: multiclass
target: basket
features:
  - {name: spend, type: numeric}
  - {name: store, type: categorical, categories: ["1", "2", "3"]}
algorithm: {name: random_forest}
metric: accuracy
drift: {share_threshold: 0.6, columns: {spend: {method: wasserstein, threshold: 0.2}}}
"""
)


def record(
    request_id: str, instance: int, prediction: Any, probabilities: list[float] | None = None, **inputs: Any
) -> dict[str, Any]:
    outputs = {"prediction": prediction} | ({"probabilities": probabilities} if probabilities else {})
    return {"request_id": request_id, "instance": instance, "inputs": inputs, "outputs": outputs}


def binary_spec(metric: str, gates: str = "{}") -> str:
    return f"""
name: loans
task: binary
target: default
features: [{{name: income, type: numeric}}]
algorithm: {{name: logistic_regression}}
metric: {metric}
gates: {gates}
"""


def reference(rows: int = 300, *, predictions: list[str] | None = None) -> RawTable:
    rng = np.random.default_rng(3)
    columns = {
        "spend": [f"{v:.2f}" for v in rng.normal(40, 5, rows)],
        "store": [str(v) for v in rng.choice([1, 2, 3], rows)],
        "basket": ["small"] * rows,
    }
    if predictions is not None:
        columns[PREDICTION_COLUMN] = predictions
    return RawTable(source="reference.csv.gz", header=list(columns), columns=columns)


def test_a_feature_no_instance_sent_is_all_missing() -> None:
    # Given two captured instances that sent only `spend`
    records = [record("a", 0, "small", spend=1.5), record("a", 1, "big", spend=None)]
    # When they become a table of the spec's features
    table = captured_inputs(records, SPEC.feature_names, "capture/shop")
    # Then `store` is there, empty in every row, after the columns that were sent
    assert table.header == ["spend", "store"] and table.source == "capture/shop"
    assert table.columns == {"spend": ["1.5", ""], "store": ["", ""]}


def test_inputs_are_typed_and_judged_by_the_spec() -> None:
    # Given traffic whose store codes (sent as numbers) keep the reference's mix, and spend moved far up
    stores = reference().columns["store"][:200]
    spends = np.random.default_rng(4).normal(80, 5, 200)
    records = [
        record("r", i, "small", spend=float(v), store=int(s))
        for i, (v, s) in enumerate(zip(spends, stores, strict=True))
    ]
    # When the inputs are checked
    report = check_input_drift(SPEC, reference(), records, min_rows=50, source="capture/shop")
    # Then store is categorical as the spec says, spend uses the spec's method and threshold,
    # and one drifted column of two stays under the spec's share threshold (the default 0.5 would not)
    assert report.features["store"].type == "categorical" and report.features["store"].drifted is False
    assert report.features["spend"].method == "wasserstein" and report.features["spend"].threshold == 0.2
    assert report.features["spend"].drifted is True
    assert report.share_threshold == 0.6 and report.drift_share == 0.5 and report.dataset_drift is False


def test_too_few_rows_is_insufficient_data() -> None:
    # Given ten captured instances and a minimum of fifty
    records = [record("r", i, "small", spend=40.0, store="1") for i in range(10)]
    # When the inputs are checked
    report = check_input_drift(SPEC, reference(), records, min_rows=50, source="capture/shop")
    # Then there is no verdict
    assert report.status == "insufficient_data" and report.n_current == 10 and report.dataset_drift is False


def test_predictions_are_written_as_the_reference_writes_them() -> None:
    assert prediction_text(0.123456789) == "0.123457"
    assert prediction_text(2) == "2" and prediction_text("big") == "big" and prediction_text(None) == ""


def test_prediction_drift_of_a_classifier_is_categorical() -> None:
    # Given a reference where the model mostly predicted "small", and traffic where it predicts "big"
    table = reference(predictions=["small"] * 270 + ["big"] * 30)
    records = [record("r", i, "big" if i % 4 else "small") for i in range(200)]
    # When the predictions are checked
    report = check_prediction_drift(Task.MULTICLASS, table, records)
    # Then only the prediction column is judged, as categories, and it drifted
    assert report is not None and list(report.features) == [PREDICTION_COLUMN]
    assert report.features[PREDICTION_COLUMN].type == "categorical"
    assert report.features[PREDICTION_COLUMN].drifted is True


def test_prediction_drift_of_a_regressor_is_numerical() -> None:
    # Given a regressor's reference predictions and the same values served
    values = [f"{v:.6g}" for v in np.random.default_rng(5).normal(100, 10, 300)]
    records = [record("r", i, float(v)) for i, v in enumerate(values[:200])]
    # When the predictions are checked
    report = check_prediction_drift(Task.REGRESSION, reference(predictions=values), records)
    # Then they are judged as numbers, without drift
    assert report is not None and report.features[PREDICTION_COLUMN].type == "numerical"
    assert report.features[PREDICTION_COLUMN].drifted is False


def test_no_prediction_drift_without_reference_predictions() -> None:
    assert check_prediction_drift(Task.MULTICLASS, reference(), [record("r", 0, "small")]) is None


def test_live_accuracy_counts_labelled_predictions_only() -> None:
    # Given three captured predictions (one without an instance number: the first of its request),
    # labels for two of them, compared as text, and a label for a request never captured
    records = [record("a", 0, 1), record("a", 1, 0), {"request_id": "b", "outputs": {"prediction": "yes"}}]
    labels = {("a", 0): "1", ("b", 0): "no", ("c", 0): "1"}
    # When the live metric is computed
    metric = live_metric(Task.BINARY, records, labels)
    # Then one of the two labelled predictions was right
    assert metric == {"accuracy": 0.5, "labelled_rows": 2}


def test_live_rmse_for_regression() -> None:
    records = [record("a", 0, 10.0), record("a", 1, 12.0)]
    metric = live_metric(Task.REGRESSION, records, {("a", 0): 11, ("a", 1): "10"})
    assert metric == {"rmse": pytest.approx((5 / 2) ** 0.5), "labelled_rows": 2}


def test_no_live_metric_without_labels() -> None:
    assert live_metric(Task.BINARY, [record("a", 0, 1)], {}) is None


def test_notes_say_how_predictions_moved_and_how_right_they_were() -> None:
    # Given drifted predictions and a live accuracy
    drift = ColumnDrift(
        type="categorical",
        method="jensenshannon",
        score=0.31234,
        threshold=0.1,
        drifted=True,
        missing_reference=0.0,
        missing_current=0.0,
        unseen_categories=[],
    )
    # When the notes are written
    notes = report_notes(drift, {"accuracy": 0.87654, "labelled_rows": 12})
    # Then one line for each
    assert notes == [
        "Predictions: drifted (jensenshannon 0.312, threshold 0.1) against the model's own predictions "
        "on its reference sample.",
        "Live accuracy 0.8765 on 12 captured rows with feedback labels.",
    ]


def test_no_notes_without_a_prediction_score_or_labels() -> None:
    undefined = ColumnDrift(
        type="categorical",
        method="chisquare",
        score=None,
        threshold=0.05,
        drifted=False,
        missing_reference=0.0,
        missing_current=0.0,
        unseen_categories=[],
    )
    assert report_notes(undefined, None) == [] and report_notes(None, None) == []


# THE SPEC'S PRIMARY METRIC, LIVE


def scored_records() -> tuple[list[dict[str, Any]], dict[tuple[str, int], str]]:
    """Four labelled predictions of "no"/"yes" with the probability of "yes" at .9, .2, .4 and .6."""
    yes = [0.9, 0.2, 0.4, 0.6]
    records = [record("r", i, "yes" if p > 0.5 else "no", [round(1 - p, 6), p]) for i, p in enumerate(yes)]
    truths = ["yes", "no", "yes", "no"]
    return records, {("r", i): truth for i, truth in enumerate(truths)}


def test_live_roc_auc_from_the_captured_probabilities() -> None:
    # Given four labelled predictions: of the four (positive, negative) pairs, three rank the positive
    # higher ((.9, .2), (.9, .6), (.4, .2)) and one does not ((.4, .6)); two of four predictions are right
    records, labels = scored_records()
    # When the live metric is computed for a spec whose metric is roc_auc
    metric = live_metric(Task.BINARY, records, labels, Metric.ROC_AUC)
    # Then roc_auc is 3/4, beside the accuracy
    assert metric == {"accuracy": 0.5, "roc_auc": pytest.approx(0.75), "labelled_rows": 4}


def test_a_label_never_predicted_takes_the_column_left() -> None:
    # Given a binary model that predicted "no" every time, and labels of both classes
    records = [record("r", i, "no", [1 - p, p]) for i, p in enumerate([0.1, 0.3, 0.2, 0.4])]
    labels = {("r", 0): "no", ("r", 1): "yes", ("r", 2): "no", ("r", 3): "yes"}
    # When roc_auc is computed live
    metric = live_metric(Task.BINARY, records, labels, Metric.ROC_AUC)
    # Then "yes" is the second column, and both positives rank above both negatives
    assert metric is not None and metric["roc_auc"] == pytest.approx(1.0)


def test_no_live_roc_auc_when_a_label_has_no_known_column() -> None:
    # Given a three-class model that predicted only "a", labels of "b" and "c", and one unlabelled row
    records = [record("r", i, "a", [0.5, 0.3, 0.2]) for i in range(3)]
    labels = {("r", 0): "b", ("r", 1): "c"}
    # When roc_auc is asked for
    metric = live_metric(Task.MULTICLASS, records, labels, Metric.ROC_AUC)
    # Then it is left out (which column is "b" is unknown), and the accuracy is still there
    assert metric == {"accuracy": 0.0, "labelled_rows": 2}


def test_no_live_roc_auc_without_captured_probabilities() -> None:
    metric = live_metric(Task.BINARY, [record("r", 0, 1), record("r", 1, 0)], {("r", 0): 1}, Metric.ROC_AUC)
    assert metric == {"accuracy": 1.0, "labelled_rows": 1}


def test_live_mae_for_a_regressor_whose_metric_is_mae() -> None:
    records = [record("a", 0, 10.0), record("a", 1, 12.0)]
    metric = live_metric(Task.REGRESSION, records, {("a", 0): 11, ("a", 1): 10}, Metric.MAE)
    assert metric == {"rmse": pytest.approx((5 / 2) ** 0.5), "mae": pytest.approx(1.5), "labelled_rows": 2}


# THE GATE


@pytest.mark.parametrize(
    ("metric", "gates", "live", "below"),
    [
        ("accuracy", "{min_metric: 0.8}", {"accuracy": 0.7, "labelled_rows": 30}, True),
        ("accuracy", "{min_metric: 0.8}", {"accuracy": 0.8, "labelled_rows": 30}, False),
        ("accuracy", "{min_metric: 0.8}", {"accuracy": 0.7, "labelled_rows": 29}, False),
        ("log_loss", "{max_metric: 0.5}", {"accuracy": 0.9, "log_loss": 0.6, "labelled_rows": 40}, True),
        ("log_loss", "{max_metric: 0.5}", {"accuracy": 0.9, "log_loss": 0.4, "labelled_rows": 40}, False),
        ("accuracy", "{}", {"accuracy": 0.1, "labelled_rows": 40}, False),
    ],
)
def test_below_minimum_when_worse_than_the_gate_on_enough_labelled_rows(
    metric: str, gates: str, live: dict[str, float | int], below: bool
) -> None:
    # Given a spec's metric and gate, and a live metric on some labelled rows (30 are enough)
    spec = parse_spec(binary_spec(metric, gates))
    # When they are compared
    gate = live_gate(spec, live, min_rows=30)
    # Then it is below the minimum only when worse than the bound, on at least 30 rows
    assert gate is not None and gate.below_minimum is below and gate.metric == metric


def test_a_roc_auc_gate_is_never_compared_with_accuracy() -> None:
    # Given a roc_auc gate and a live metric that has accuracy only (roc_auc could not be computed)
    spec = parse_spec(binary_spec("roc_auc", "{min_metric: 0.9}"))
    # When they are compared
    gate = live_gate(spec, {"accuracy": 0.2, "labelled_rows": 100})
    # Then nothing is compared
    assert gate == LiveGate(
        metric="roc_auc",
        value=None,
        gate="min_metric",
        limit=0.9,
        labelled_rows=100,
        min_rows=30,
        below_minimum=False,
    )
    assert live_gate(spec, None) is None


# NOTES ON THE GATE


def test_notes_judge_the_gate() -> None:
    # Given a live accuracy on 40 rows and a gate it breaks
    metric: dict[str, float | int] = {"accuracy": 0.7, "labelled_rows": 40}
    spec = parse_spec(binary_spec("accuracy", "{min_metric: 0.8}"))
    # When the notes are written
    notes = report_notes(None, metric, live_gate(spec, metric))
    # Then the gate is judged
    assert notes[1:] == ["Live accuracy 0.7 is worse than the spec's min_metric 0.8 on 40 labelled rows."]


def test_notes_say_when_too_few_rows_were_labelled_to_judge() -> None:
    metric: dict[str, float | int] = {"accuracy": 0.7, "labelled_rows": 12}
    gate = live_gate(parse_spec(binary_spec("accuracy", "{min_metric: 0.8}")), metric)
    assert report_notes(None, metric, gate)[-1] == (
        "Live accuracy 0.7 not compared with the spec's min_metric 0.8: 12 labelled rows, fewer than 30."
    )


def thresholded_records() -> tuple[list[dict[str, Any]], dict[tuple[str, int], int]]:
    """A binary model deciding at 0.3, as captured: P(1) of .9, .35, .2 and .4, so it answered 1, 1, 0
    and 1 although .35 and .4 are not the largest probability of their rows; classes [0, 1]."""
    ones = [0.9, 0.35, 0.2, 0.4]
    records = [record("t", i, int(p >= 0.3), [round(1 - p, 6), p]) for i, p in enumerate(ones)]
    for r in records:
        r["outputs"]["classes"] = [0, 1]
    return records, {("t", 0): 1, ("t", 1): 1, ("t", 2): 0, ("t", 3): 0}


def test_a_thresholded_model_is_judged_on_the_classes_it_answered() -> None:
    # Given a model deciding at 0.3 whose first captured row predicts 1 at P(1) = .35 (argmax: class 0)
    records, labels = thresholded_records()
    # When its live F1 is computed
    metric = live_metric(Task.BINARY, records, labels, Metric.F1)
    # Then the columns come from the captured classes and the predictions are the answered ones:
    # 3 predicted positive, 2 of them right, both positives found → precision 2/3, recall 1, F1 0.8
    assert metric == {"accuracy": 0.75, "f1": pytest.approx(0.8), "labelled_rows": 4}
