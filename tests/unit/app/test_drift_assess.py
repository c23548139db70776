"""The drift check's first half, on in-memory fakes: what `assess_model` finds in a window of captured
traffic (input drift, prediction drift, the live metric), writing nothing."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from sluice.app.monitoring.check import (
    assess_model,
)
from sluice.domain.monitoring.estimation.basis import EstimationBasis
from sluice.domain.monitoring.reference import PREDICTION_COLUMN
from sluice.domain.registry.records import TrafficWindow
from sluice.domain.spec.model_spec import ModelSpec
from tests.unit.app.drift_world import (
    LOANS_SPEC,
    MODEL,
    NOW,
    PRICES_SPEC,
    SETTINGS,
    captured,
    default_probabilities,
    label_all,
    loan_rows,
    put_in_production,
    reference_bytes,
    register_model,
    serve,
)
from tests.unit.app.fakes import FakePorts

# ASSESS


def test_no_traffic_is_insufficient_data(fakes: FakePorts, loans: ModelSpec) -> None:
    # Given a production version that served nothing in the window (only traffic older than it)
    serve(fakes, MODEL, captured(loan_rows(200, seed=2), hours_ago=30))
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    # Then there is no verdict, and no prediction drift is computed either
    assert found.report.status == "insufficient_data" and found.rows == 0
    assert found.report.dataset_drift is False and found.prediction_report is None
    assert found.window == TrafficWindow(start=NOW - timedelta(hours=24), end=NOW)


def test_traffic_like_the_reference_does_not_drift(fakes: FakePorts, loans: ModelSpec) -> None:
    # Given traffic from the reference's own distribution, and some traffic of another version
    serve(fakes, MODEL, captured(loan_rows(200, seed=2)) + captured(loan_rows(30, seed=3), version=7))
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    # Then only version 1's rows count, no feature drifted and neither did the predictions
    assert found.report.status == "ok" and found.rows == 200
    assert found.report.dataset_drift is False and found.drifted_features == []
    assert set(found.report.features) == {"income", "debt_ratio", "segment"}
    assert found.prediction_drift is not None and found.prediction_drift.drifted is False
    assert found.live_metric is None


def test_shifted_traffic_drifts_in_the_shifted_features(fakes: FakePorts, loans: ModelSpec) -> None:
    # Given traffic whose income and debt ratio moved up, with the segment mix unchanged
    serve(fakes, MODEL, captured(loan_rows(200, seed=2, shift=1.0)))
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    # Then the dataset drifted, naming exactly the shifted features
    assert found.report.dataset_drift is True
    assert found.drifted_features == ["debt_ratio", "income"]


def test_predictions_that_moved_are_prediction_drift(fakes: FakePorts, loans: ModelSpec) -> None:
    # Given shifted traffic, on which the model predicts defaults far more often than on its reference
    serve(fakes, MODEL, captured(loan_rows(200, seed=2, shift=1.0)))
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    # Then its predictions drifted, judged as categories (a classifier's labels)
    assert found.prediction_drift is not None
    assert found.prediction_drift.drifted is True and found.prediction_drift.type == "categorical"
    assert found.prediction_report is not None and list(found.prediction_report.features) == [
        PREDICTION_COLUMN
    ]


def test_a_reference_without_predictions_gives_no_prediction_drift(fakes: FakePorts) -> None:
    # Given a production version whose reference sample holds no predictions
    spec = register_model(fakes, LOANS_SPEC)
    put_in_production(fakes, spec, reference_bytes(spec, loan_rows(400, seed=1), predictions=False))
    serve(fakes, MODEL, captured(loan_rows(200, seed=2, shift=1.0)))
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    # Then the inputs are judged, the predictions are not
    assert found.report.dataset_drift is True and found.prediction_report is None


def test_live_accuracy_from_labels_that_match_captured_predictions(
    fakes: FakePorts, loans: ModelSpec
) -> None:
    # Given 60 captured predictions, four with feedback: three right and one wrong, and a label
    # for a request that was never captured
    records = captured(loan_rows(60, seed=2))
    serve(fakes, MODEL, records)
    for record, right in zip(records[:4], (True, True, True, False), strict=True):
        truth = record["outputs"]["prediction"] if right else 1 - record["outputs"]["prediction"]
        fakes.traffic.put_feedback(MODEL, record["request_id"], record["instance"], truth)
    fakes.traffic.put_feedback(MODEL, "never-served", 0, 1)
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    # Then the live accuracy is over the four labelled rows
    assert found.live_metric == {"accuracy": 0.75, "labelled_rows": 4}


def test_live_rmse_for_a_regression_model(fakes: FakePorts) -> None:
    # Given a regression model in production, two captured predictions and their true values
    spec = register_model(fakes, PRICES_SPEC)
    rng = np.random.default_rng(5)
    rows = [
        {"area": float(a), "price": float(3 * a), "prediction": 3 * float(a)}
        for a in rng.uniform(20, 200, 400)
    ]
    put_in_production(fakes, spec, reference_bytes(spec, rows))
    time = (NOW - timedelta(hours=1)).isoformat()
    served = [(50.0, 10.0), (60.0, 12.0)]  # (area, predicted price)
    records = [
        {
            "request_id": "r",
            "instance": i,
            "time": time,
            "model": "prices",
            "version": 1,
            "inputs": {"area": area},
            "outputs": {"prediction": predicted},
        }
        for i, (area, predicted) in enumerate(served)
    ]
    serve(fakes, "prices", records)
    fakes.traffic.put_feedback("prices", "r", 0, 11.0)
    fakes.traffic.put_feedback("prices", "r", 1, 10.0)
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, "prices", 1, NOW)
    # Then the live metric is the RMSE of those two: sqrt((1² + 2²) / 2)
    assert found.live_metric == {"rmse": pytest.approx((5 / 2) ** 0.5), "labelled_rows": 2}
    # And a version trained before estimation existed has no estimate, and the assessment says why
    assert found.estimation is not None and found.estimation.estimate is None
    assert "v1 was trained before Sluice estimated performance" in (found.estimation.unavailable or "")


def test_a_classifier_gets_its_primary_metric_live_and_an_estimate_from_every_row(
    fakes: FakePorts,
) -> None:
    # Given a classifier judged by roc_auc with a gate, whose training stored an estimation basis
    # that leaves its probabilities as they are (no calibration), 100 captured predictions with
    # probabilities, and labels for 40 of them, 30 agreeing with the prediction
    spec = register_model(
        fakes, LOANS_SPEC.replace("metric: accuracy", "metric: roc_auc\ngates: {min_metric: 0.99}")
    )
    basis = EstimationBasis(
        method="cbpe",
        task="binary",
        reference_rows=400,
        classes=[0, 1],
        calibration=[None],
        sampling={"accuracy": [0.4], "roc_auc": [0.3, 0.4]},
    )
    put_in_production(
        fakes, spec, reference_bytes(spec, loan_rows(400, seed=1)), basis.model_dump_json().encode()
    )
    records = captured(loan_rows(100, seed=2), probabilities=True)
    serve(fakes, MODEL, records)
    label_all(fakes, MODEL, records[:40], right=30)
    # When it is assessed
    found = assess_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    # Then the live metric has the accuracy and the spec's roc_auc, on the 40 labelled rows
    assert found.live_metric is not None
    assert found.live_metric["accuracy"] == 0.75 and found.live_metric["labelled_rows"] == 40
    assert 0.0 <= found.live_metric["roc_auc"] < 0.99
    # And the gate compares roc_auc with roc_auc: below the minimum
    assert found.live_gate is not None and found.live_gate.metric == "roc_auc"
    assert found.live_gate.value == found.live_metric["roc_auc"] and found.live_gate.below_minimum is True
    # And accuracy is estimated from the probabilities of all 100 rows, labelled or not: the mean
    # probability of the class each row predicted, with a band of ±3 sampling errors (0.4 / √100)
    tops = [max(default_probabilities(r["inputs"]["debt_ratio"])) for r in records]
    estimate = found.estimation.estimate if found.estimation else None
    assert estimate is not None and estimate.rows == 100 and estimate.method == "cbpe"
    assert estimate.values["accuracy"] == pytest.approx(sum(tops) / 100)
    assert estimate.band["accuracy"] == pytest.approx(
        (sum(tops) / 100 - 0.12, min(1.0, sum(tops) / 100 + 0.12))
    )
    # And the estimated roc_auc is judged against the spec's gate before any label
    assert estimate.primary == "roc_auc" and estimate.gate == "min_metric" and estimate.limit == 0.99
    assert estimate.below_gate is (estimate.values["roc_auc"] < 0.99)
