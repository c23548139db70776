"""The drift check's second half, on in-memory fakes: what `act_on_drift` does with an assessment
(reports, metrics, the alert, at most one retraining), and the whole scheduled check."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from sluice.app.monitoring.act import ModelCheck, act_on_drift
from sluice.app.monitoring.check import check_production_models
from sluice.domain.monitoring.drift.live import LiveMetric
from sluice.domain.monitoring.estimation.basis import PerformanceEstimate
from sluice.domain.monitoring.estimation.window import not_estimable
from sluice.domain.registry.records import AuditEvent, EventType, Trigger, new_event_id
from sluice.domain.spec.model_spec import ModelSpec
from sluice.entrypoints.outcomes import report_drift_check
from sluice.errors import StackError
from sluice.observability import metrics
from tests.unit.app.drift_world import (
    LOANS_SPEC,
    MODEL,
    NOW,
    SETTINGS,
    assessment,
    captured,
    loan_rows,
    newer_upload,
    put_in_production,
    reference_bytes,
    register_model,
    serve,
)
from tests.unit.app.fakes import FakePorts

# ACT


def emf_lines(emitted: pytest.CaptureFixture[str]) -> dict[str, list[dict[str, Any]]]:
    """The EMF lines printed so far, by metric name."""
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for line in emitted.readouterr().out.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            (directive,) = document["_aws"]["CloudWatchMetrics"]
            by_metric.setdefault(directive["Metrics"][0]["Name"], []).append(document)
    return by_metric


def test_reports_are_stored_as_json_and_html(fakes: FakePorts) -> None:
    # Given an assessment of drifted traffic
    spec = register_model(fakes, LOANS_SPEC)
    found = assessment(spec, shift=1.0)
    # When the check acts on it
    check = act_on_drift(fakes.deps(), SETTINGS, found, NOW)
    # Then the JSON and HTML reports are under drift/<model>/, stamped with the check's time
    assert check.report_uri == "s3://artifacts/drift/loans/20261201T120000Z.json"
    assert check.html_uri == "s3://artifacts/drift/loans/20261201T120000Z.html"
    document = fakes.artifacts.json("drift/loans/20261201T120000Z.json")
    assert document["model"] == "loans" and document["version"] == 1 and document["dataset_drift"] is True
    assert document["window"] == {"start": "2026-11-30T12:00:00+00:00", "end": "2026-12-01T12:00:00+00:00"}
    assert document["prediction_drift"]["drifted"] is True
    assert document["live_metric"] == {"accuracy": 0.9, "labelled_rows": 10}
    html = fakes.artifacts.get_bytes(check.html_uri).decode()
    assert fakes.artifacts.content_types[check.html_uri] == "text/html"
    assert "Drift: loans v1" in html and "Predictions: drifted" in html and "Live accuracy 0.9" in html
    # And the check reports what the assessment found
    assert check.status == "ok" and check.rows == 200 and check.dataset_drift is True
    assert check.drifted_features == ["debt_ratio", "income"] and check.live_metric == found.live_metric


def test_metrics_are_emitted_per_model_and_feature(
    fakes: FakePorts, emitted: pytest.CaptureFixture[str]
) -> None:
    # Given an assessment of drifted traffic
    spec = register_model(fakes, LOANS_SPEC)
    found = assessment(spec, shift=1.0)
    # When the check acts on it and the entry point reports the check
    report_drift_check(act_on_drift(fakes.deps(), SETTINGS, found, NOW))
    # Then EMF lines in the Sluice namespace carry DriftScore per model and feature, and the model's
    # share, verdict and rows
    lines = [json.loads(line) for line in emitted.readouterr().out.splitlines() if line.startswith("{")]
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Sluice"
        by_metric.setdefault(directive["Metrics"][0]["Name"], []).append(line)
    assert sorted(line["feature"] for line in by_metric["DriftScore"]) == ["debt_ratio", "income", "segment"]
    assert {line["model"] for line in lines} == {"loans"}
    assert by_metric["DatasetDrift"][0]["DatasetDrift"] == [1.0]
    assert by_metric["DriftShare"][0]["DriftShare"] == [pytest.approx(2 / 3)]
    assert by_metric["RowsChecked"][0]["RowsChecked"] == [200.0]
    # And the ROC AUC of the classifier judging the columns together, per model
    (together,) = by_metric["MultivariateDriftAUC"]
    assert together["model"] == "loans" and together["MultivariateDriftAUC"][0] > 0.9
    # And DatasetDrift by service alone (what DriftAlarm watches) waits for the invocation's flush
    assert metrics.metric_set["DatasetDrift"]["Value"] == [1.0]


def test_live_quality_is_emitted_per_model_and_version_and_below_the_gate_counted(
    fakes: FakePorts, emitted: pytest.CaptureFixture[str]
) -> None:
    # Given a spec whose gate asks for accuracy 0.95, and an assessment that measured 0.9 live on 40
    # labelled rows and estimated 0.93 (0.9–0.96) without labels on 200, below the gate
    spec = register_model(fakes, LOANS_SPEC + "gates: {min_metric: 0.95}\n")
    live: LiveMetric = {"accuracy": 0.9, "labelled_rows": 40}
    estimate = PerformanceEstimate(
        method="cbpe",
        values={"accuracy": 0.93, "roc_auc": 0.8},
        sampling_error={"accuracy": 0.01, "roc_auc": 0.02},
        band={"accuracy": (0.9, 0.96), "roc_auc": (0.74, 0.86)},
        rows=200,
        primary="accuracy",
        gate="min_metric",
        limit=0.95,
        below_gate=True,
    )
    found = assessment(spec, shift=0.0, live=live, estimate=estimate)
    # When the check acts on it and the entry point reports the check
    check = act_on_drift(fakes.deps(), SETTINGS, found, NOW)
    report_drift_check(check)
    # Then EMF lines carry the live metric by model, version and metric name, the labelled rows and
    # the below-minimum flag by model and version
    by_metric = emf_lines(emitted)
    (line,) = by_metric["LiveMetric"]
    assert (line["model"], line["version"], line["metric"], line["LiveMetric"]) == (
        "loans",
        "1",
        "accuracy",
        [0.9],
    )
    assert [(m["version"], m["LabelledRows"]) for m in by_metric["LabelledRows"]] == [("1", [40.0])]
    assert [m["LiveMetricBelowMinimum"] for m in by_metric["LiveMetricBelowMinimum"]] == [[1.0]]
    # And each estimate by model, version and metric, its rows, and the estimate's below-gate flag
    assert sorted((m["metric"], m["EstimatedMetric"]) for m in by_metric["EstimatedMetric"]) == [
        ("accuracy", [0.93]),
        ("roc_auc", [0.8]),
    ]
    assert [m["EstimatedRows"] for m in by_metric["EstimatedRows"]] == [[200.0]]
    assert [m["EstimatedMetricBelowGate"] for m in by_metric["EstimatedMetricBelowGate"]] == [[1.0]]
    # And both flags by service alone (what LiveQualityAlarm and EstimatedQualityAlarm watch)
    assert metrics.metric_set["LiveMetricBelowMinimum"]["Value"] == [1.0]
    assert metrics.metric_set["EstimatedMetricBelowGate"]["Value"] == [1.0]
    # And the check, the JSON and the HTML say what was compared and put the estimate beside the truth
    assert check.live_gate is not None and check.live_gate.below_minimum is True
    assert check.estimated == estimate
    document = fakes.artifacts.json("drift/loans/20261201T120000Z.json")
    assert document["estimated"] == {
        "accuracy": 0.93,
        "roc_auc": 0.8,
        "rows": 200,
        "band": {"accuracy": [0.9, 0.96], "roc_auc": [0.74, 0.86]},
        "sampling_error": {"accuracy": 0.01, "roc_auc": 0.02},
        "method": "cbpe",
        "primary": "accuracy",
        "gate": "min_metric",
        "limit": 0.95,
        "below_gate": True,
    }
    assert document["live_gate"] == {
        "metric": "accuracy",
        "value": 0.9,
        "gate": "min_metric",
        "limit": 0.95,
        "labelled_rows": 40,
        "min_rows": 30,
        "below_minimum": True,
    }
    html = fakes.artifacts.get_bytes(check.html_uri or "").decode()
    assert (
        "Estimated accuracy 0.93 (0.9–0.96) without labels on 200 captured rows (CBPE); realized 0.9 on 40 "
        "labelled rows." in html
    )
    assert "Estimated ROC AUC 0.8 (0.74–0.86) without labels." in html
    assert "The estimated accuracy is worse than the spec&#x27;s min_metric 0.95, before any label" in html
    assert "Live accuracy 0.9 is worse than the spec&#x27;s min_metric 0.95 on 40 labelled rows." in html


def test_too_few_labelled_rows_are_not_below_the_gate_and_no_estimate_no_line(
    fakes: FakePorts, emitted: pytest.CaptureFixture[str]
) -> None:
    # Given the same gate, an accuracy of 0.5 on only 10 labelled rows, and no estimate (no probabilities)
    spec = register_model(fakes, LOANS_SPEC + "gates: {min_metric: 0.95}\n")
    found = assessment(spec, shift=0.0, live={"accuracy": 0.5, "labelled_rows": 10})
    # When the check acts on it and the entry point reports the check
    check = act_on_drift(fakes.deps(), SETTINGS, found, NOW)
    report_drift_check(check)
    # Then the flag is 0, per version and by service, and no estimate is emitted
    by_metric = emf_lines(emitted)
    assert [m["LiveMetricBelowMinimum"] for m in by_metric["LiveMetricBelowMinimum"]] == [[0.0]]
    assert metrics.metric_set["LiveMetricBelowMinimum"]["Value"] == [0.0]
    assert "EstimatedMetric" not in by_metric and check.estimated is None
    assert check.live_gate is not None and check.live_gate.below_minimum is False


def test_a_version_trained_before_estimation_existed_is_checked_and_the_report_says_why_no_estimate(
    fakes: FakePorts, emitted: pytest.CaptureFixture[str]
) -> None:
    # Given an assessment of a version whose training stored no estimation basis
    spec = register_model(fakes, LOANS_SPEC)
    found = replace(assessment(spec, shift=0.0), estimation=not_estimable(1))
    # When the check acts on it and the entry point reports the check
    check = act_on_drift(fakes.deps(), SETTINGS, found, NOW)
    report_drift_check(check)
    # Then the check is done, without an estimate or its metrics, and both reports say why
    assert check.status == "ok" and check.estimated is None
    assert "EstimatedMetric" not in emf_lines(emitted)
    document = fakes.artifacts.json("drift/loans/20261201T120000Z.json")
    assert document["estimated"] is None
    assert document["estimated_unavailable"].startswith("v1 was trained before Sluice estimated performance")
    html = fakes.artifacts.get_bytes(check.html_uri or "").decode()
    assert "No performance estimate: v1 was trained before Sluice estimated performance" in html


def test_drift_alerts_and_starts_one_retraining(fakes: FakePorts) -> None:
    # Given an assessment of drifted traffic for a model whose spec allows retraining on drift
    spec = register_model(fakes, LOANS_SPEC)
    # When the check acts on it
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # Then a drift incident opens: people are alerted once with the drifted features, what the columns
    # together showed and the reports, the message's attributes saying which model, kind, severity, state
    assert check.multivariate is not None
    assert fakes.notifier.published == [
        (
            "Sluice: drift in loans",
            {
                "event": "incident_open",
                "model": "loans",
                "version": 1,
                "kind": "drift",
                "severity": "medium",
                "state": "open",
                "opened_at": "2026-12-01T12:00:00+00:00",
                "since": "open since 2026-12-01 12:00 UTC (0 minutes ago); announced once, last 0 minutes ago",
                "summary": "drifted: debt_ratio, income",
                "drifted": ["debt_ratio", "income"],
                "multivariate": check.multivariate.model_dump(mode="json"),
                "report": check.report_uri,
                "html": check.html_uri,
            },
        )
    ]
    assert fakes.notifier.attributes == [
        {"model": "loans", "kind": "drift", "severity": "medium", "state": "open", "event": "incident_open"}
    ]
    assert check.alerted is True and check.incidents == {"drift": "open"}
    # And one retraining started, on the latest dataset, with trigger drift
    (started,) = fakes.executions.inputs()
    assert started["model"] == "loans" and started["trigger"] == "drift"
    assert started["dataset_sha256"] == "d" * 64 and started["spec_sha256"] == spec.sha256
    assert check.retraining == fakes.executions.list()[0]["executionArn"] and check.retrain_skipped is None
    assert [
        e.trigger for e in fakes.registry.list_events("loans") if e.type is EventType.TRAINING_STARTED
    ] == [Trigger.DRIFT]


def test_live_quality_under_the_gate_retrains_without_input_drift(fakes: FakePorts) -> None:
    # Given traffic like the reference (no input drift) whose labels say the model is now worse than
    # its gate: the relationship between inputs and label changed (concept drift)
    spec = register_model(fakes, LOANS_SPEC + "gates: {min_metric: 0.95}\n")
    live: LiveMetric = {"accuracy": 0.6, "labelled_rows": 40}
    # When the check acts on it
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=0.0, live=live), NOW)
    # Then no input-drift alert goes out but a live-metric incident opens (high severity), and one
    # retraining starts with trigger drift
    assert check.dataset_drift is False and check.alerted is False
    assert [subject for subject, _ in fakes.notifier.published] == [
        "Sluice: live metric under its gate in loans"
    ]
    assert fakes.notifier.attributes[0]["severity"] == "high" and check.incidents == {"live_metric": "open"}
    (started,) = fakes.executions.inputs()
    assert started["trigger"] == "drift"
    assert check.retraining == fakes.executions.list()[0]["executionArn"]


def test_no_drift_no_alert_no_retraining(fakes: FakePorts) -> None:
    # Given an assessment of traffic like the reference
    spec = register_model(fakes, LOANS_SPEC)
    # When the check acts on it
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=0.0), NOW)
    # Then the reports are stored, but nobody is alerted and nothing retrains
    assert check.dataset_drift is False and check.report_uri is not None
    assert fakes.notifier.published == [] and check.alerted is False
    assert fakes.executions.inputs() == [] and check.retraining is None and check.retrain_skipped is None


def test_no_second_retraining_while_one_is_running(fakes: FakePorts) -> None:
    # Given drift that already started a retraining, still running
    spec = register_model(fakes, LOANS_SPEC)
    first = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # When the check acts on drift again
    second = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # Then it starts nothing, naming the running execution, and does not alert again (the incident is open)
    assert first.retraining is not None and second.retraining is None
    name = first.retraining.rsplit(":", 1)[-1]
    assert second.retrain_skipped == f"a training run is already running ({name})"
    assert second.alerted is False and second.incidents == {"drift": "ongoing"}
    assert len(fakes.notifier.published) == 1
    assert len(fakes.executions.inputs()) == 1


def test_no_retraining_during_the_cool_down(fakes: FakePorts) -> None:
    # Given drift started a retraining an hour ago (finished since), and a manual run two days ago
    spec = register_model(fakes, LOANS_SPEC)
    an_hour_ago = (NOW - timedelta(hours=1)).isoformat()
    for time, trigger in (
        (an_hour_ago, Trigger.DRIFT),
        ((NOW - timedelta(days=2)).isoformat(), Trigger.MANUAL),
    ):
        fakes.registry.append_event(
            AuditEvent(
                model="loans", type=EventType.TRAINING_STARTED, id=new_event_id(), time=time, trigger=trigger
            )
        )
    # When the check acts on drift
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # Then the cool-down holds the retraining back, saying since when
    assert (
        check.retraining is None
        and check.retrain_skipped == f"cool-down: drift started a retraining at {an_hour_ago}"
    )
    assert fakes.executions.inputs() == [] and check.alerted is True


def test_retraining_again_once_the_cool_down_passed(fakes: FakePorts) -> None:
    # Given drift started a retraining 25 hours ago, with a cool-down of 24
    spec = register_model(fakes, LOANS_SPEC)
    fakes.registry.append_event(
        AuditEvent(
            model="loans",
            type=EventType.TRAINING_STARTED,
            id=new_event_id(),
            time=(NOW - timedelta(hours=25)).isoformat(),
            trigger=Trigger.DRIFT,
        )
    )
    # When the check acts on drift
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # Then a retraining starts
    assert check.retraining is not None and len(fakes.executions.inputs()) == 1


def test_no_retraining_when_the_spec_forbids_it(fakes: FakePorts) -> None:
    # Given a model whose spec says retrain_on_drift: false
    spec = register_model(fakes, LOANS_SPEC.replace("retrain_on_drift: true", "retrain_on_drift: false"))
    # When the check acts on drift
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # Then people are alerted, but nothing retrains, and the check says why
    assert check.alerted is True and fakes.executions.inputs() == []
    assert check.retrain_skipped == "the spec does not allow retraining on drift (retrain_on_drift: false)"


def test_no_retraining_without_a_dataset(fakes: FakePorts) -> None:
    # Given a model with a spec but no accepted dataset
    spec = register_model(fakes, LOANS_SPEC, dataset=False)
    # When the check acts on drift
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # Then nothing retrains, and the check says why
    assert check.retraining is None and check.retrain_skipped == "no dataset to retrain on"
    assert fakes.executions.inputs() == []


# The whole check


def test_every_production_model_is_checked_and_one_failure_stops_no_other(
    fakes: FakePorts, loans: ModelSpec, emitted: pytest.CaptureFixture[str]
) -> None:
    # Given loans in production with shifted traffic and a newer upload, a second model whose reference
    # sample is gone, and a third model with no production version
    serve(fakes, MODEL, captured(loan_rows(200, seed=2, shift=1.0)))
    newer_upload(fakes, loans)
    broken = register_model(fakes, LOANS_SPEC.replace("name: loans", "name: broken"))
    version = put_in_production(fakes, broken, reference_bytes(broken, loan_rows(400, seed=1)))
    del fakes.artifacts.objects[version.artifacts["reference"].uri]
    register_model(fakes, LOANS_SPEC.replace("name: loans", "name: unserved"))
    # When the scheduled check runs
    checks = check_production_models(fakes.deps(), SETTINGS, NOW, report=report_drift_check)
    # Then the broken model is reported as an error naming the missing object, and counted
    by_model = {c.model: c for c in checks}
    assert set(by_model) == {"broken", "loans"}
    assert by_model["broken"].status == "error" and by_model["broken"].version == 1
    assert by_model["broken"].error == f"{version.artifacts['reference'].uri} does not exist"
    assert metrics.metric_set["DriftCheckErrors"]["Value"] == [1.0]
    # And the other model was checked and acted on in full
    assert by_model["loans"].status == "ok" and by_model["loans"].dataset_drift is True
    assert by_model["loans"].retraining is not None
    assert [subject for subject, _ in fakes.notifier.published] == ["Sluice: drift in loans"]


def test_a_model_whose_check_fails_on_aws_is_checked_again_by_failing_the_invocation(
    fakes: FakePorts, loans: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given loans in production with shifted traffic and a newer upload, and a second model whose
    # traffic cannot be read (S3 throttled it past the SDK's retries)
    serve(fakes, MODEL, captured(loan_rows(200, seed=2, shift=1.0)))
    newer_upload(fakes, loans)
    throttled = register_model(fakes, LOANS_SPEC.replace("name: loans", "name: throttled"))
    put_in_production(fakes, throttled, reference_bytes(throttled, loan_rows(400, seed=1)))
    window = fakes.traffic.window

    def read(model: str, *args: Any, **kwargs: Any) -> Any:
        if model == "throttled":
            raise StackError("list s3://artifacts/capture/throttled/: SlowDown", code="SlowDown")
        return window(model, *args, **kwargs)

    monkeypatch.setattr(fakes.traffic, "window", read)
    # When the scheduled check runs / Then it fails, naming the model, so that it runs again
    reported: list[ModelCheck] = []
    with pytest.raises(StackError, match="drift check of throttled failed on AWS") as raised:
        check_production_models(fakes.deps(), SETTINGS, NOW, report=reported.append)
    assert raised.value.code == "SlowDown"
    # And both models' checks were reported before it failed (their metrics are still emitted)
    assert [(c.model, c.status) for c in reported] == [("loans", "ok"), ("throttled", "error")]
    # And the other model was checked and acted on in full before that
    assert [subject for subject, _ in fakes.notifier.published] == ["Sluice: drift in loans"]
    assert len(fakes.executions.inputs()) == 1
