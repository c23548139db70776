"""Drift of live traffic, as pure functions: captured records and labels in, reports and numbers out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sluice.domain.drift.live import (
    captured_inputs,
    check_input_drift,
    check_prediction_drift,
    live_metric,
    prediction_text,
    report_notes,
)
from sluice.domain.drift.report import ColumnDrift
from sluice.domain.reference import PREDICTION_COLUMN
from sluice.domain.spec import Task, parse_spec
from sluice.domain.table import RawTable

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


def record(request_id: str, instance: int, prediction: Any, **inputs: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "instance": instance,
        "inputs": inputs,
        "outputs": {"prediction": prediction},
    }


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
