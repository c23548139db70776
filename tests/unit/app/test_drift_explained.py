"""The stored drift report says in words what the check found and what it actually did: the next-step
sentence for each retraining outcome, the actions a person can take, and the same words on the HTML
page (`act_on_drift` on in-memory fakes)."""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Any

import pytest

from sluice.app.monitoring.act import act_on_drift
from sluice.domain.registry.records import AuditEvent, EventType, Trigger, new_event_id
from sluice.domain.spec.model_spec import ModelSpec
from tests.unit.app.drift_world import LOANS_SPEC, NOW, SETTINGS, assessment, register_model
from tests.unit.app.fakes import FakePorts

REPORT_KEY = "drift/loans/20261201T120000Z.json"


def explained(fakes: FakePorts, spec: ModelSpec, shift: float, **live: Any) -> dict[str, Any]:
    """Act on an assessment of `shift`ed traffic and return the stored report's explanation."""
    act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=shift, **live), NOW)
    explanation: dict[str, Any] = fakes.artifacts.json(REPORT_KEY)["explanation"]
    return explanation


def training_started(fakes: FakePorts, hours_ago: float, trigger: Trigger) -> str:
    time = (NOW - timedelta(hours=hours_ago)).isoformat()
    fakes.registry.append_event(
        AuditEvent(
            model="loans", type=EventType.TRAINING_STARTED, id=new_event_id(), time=time, trigger=trigger
        )
    )
    return time


def test_drift_that_started_a_retraining_is_explained_with_the_run_and_the_actions(
    fakes: FakePorts,
) -> None:
    # Given drifted traffic for a model allowed to retrain, with a dataset to retrain on
    spec = register_model(fakes, LOANS_SPEC)
    # When the check acts on it
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    document = fakes.artifacts.json(REPORT_KEY)
    words = document["explanation"]
    # Then the report's words hold the contract's keys: a headline, a sentence per drifted column, the
    # predictions, what happened, and what a person can do
    assert set(words) == {"headline", "columns", "predictions", "next", "actions", "multivariate"}
    assert words["headline"] == check.headline
    assert words["headline"].startswith(
        "Dataset drift: income and debt_ratio changed (2 of 3 columns drifted)"
    )
    assert set(words["columns"]) == {"income", "debt_ratio"}
    assert words["columns"]["income"].startswith("income: median rose from 49 to 80 (+61%)")
    assert words["predictions"] == "predicted default rate rose from 50% to 100%"
    # And what happened names the run the check really started
    assert check.retraining is not None
    run = check.retraining.rsplit(":", 1)[-1]
    assert words["next"] == (
        "An alert was sent to the subscribers of the alert topic. Retraining started because the inputs "
        f"drifted ({run}): the new version is compared with v1 on the same holdout and promoted only if it "
        "passes the spec's gates."
    )
    assert words["actions"][0].startswith("Check the upstream source of income and debt_ratio")
    assert "`sluice models show loans`" in words["actions"][1]
    assert "`sluice models rollback loans`" in words["actions"][2]
    # And the numbers behind each sentence are in the column's entry
    assert document["features"]["income"]["change"]["median_change"] == pytest.approx(0.61, abs=0.01)
    # And the HTML page puts the same words under the verdict and each column's sentence by its chart
    html = fakes.artifacts.get_bytes(check.html_uri or "").decode()
    verdict_at = html.index("Dataset drift detected")
    assert verdict_at < html.index(escape(words["headline"])) < html.index("<table>")
    assert html.count(escape(words["columns"]["income"])) == 2  # in the list at the top and by its chart
    assert html.index("id='col-income'") < html.rindex(escape(words["columns"]["income"]))
    assert escape(words["next"]) in html and escape(words["actions"][0]) in html


def test_a_retraining_held_by_a_running_one_says_so(fakes: FakePorts) -> None:
    # Given drift already started a retraining that is still running
    spec = register_model(fakes, LOANS_SPEC)
    first = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # When the check acts on drift again
    words = explained(fakes, spec, 1.0)
    # Then it says the drift is the incident announced before (no second alert) and that no new
    # retraining started, naming the running one
    run = (first.retraining or "").rsplit(":", 1)[-1]
    assert words["next"] == (
        "No new alert: this drift is the incident open since 2026-12-01 12:00 UTC (0 minutes ago); "
        "announced once, last 0 minutes ago; it is announced again every 24 hours while it lasts. "
        f"No new retraining: a training run is already running ({run})."
    )


def test_a_retraining_held_by_the_cool_down_says_since_when_and_how_to_retrain_now(
    fakes: FakePorts,
) -> None:
    # Given drift started a retraining an hour ago
    spec = register_model(fakes, LOANS_SPEC)
    time = training_started(fakes, 1, Trigger.DRIFT)
    # When the check acts on drift
    words = explained(fakes, spec, 1.0)
    # Then the cool-down is named with the earlier start, and retraining by hand is offered
    assert words["next"].endswith(f"Retraining held by the cool-down: drift started a retraining at {time}.")
    assert "If the shift is expected, retrain now: `sluice models train loans`." in words["actions"]


def test_a_spec_that_forbids_retraining_and_a_missing_dataset_are_said(fakes: FakePorts) -> None:
    # Given a model whose spec says retrain_on_drift: false
    spec = register_model(fakes, LOANS_SPEC.replace("retrain_on_drift: true", "retrain_on_drift: false"))
    # When the check acts on drift
    words = explained(fakes, spec, 1.0)
    # Then it says the spec does not allow it, and offers a retraining by hand
    assert words["next"].endswith("No retraining: the spec does not allow retraining on drift.")
    assert "If the shift is expected, retrain now: `sluice models train loans`." in words["actions"]


def test_no_dataset_to_retrain_on_puts_uploading_data_first(fakes: FakePorts) -> None:
    # Given a model with no accepted dataset
    spec = register_model(fakes, LOANS_SPEC, dataset=False)
    # When the check acts on drift
    words = explained(fakes, spec, 1.0)
    # Then it says there is nothing to retrain on, and the first action is to upload data
    assert words["next"].endswith("No retraining: there is no accepted dataset to retrain on.")
    assert words["actions"][0].startswith("Upload newer labelled data under `loans/data/` in the raw bucket")


def test_live_quality_under_the_gate_says_why_it_retrained_without_input_drift(fakes: FakePorts) -> None:
    # Given traffic like the reference whose labels put the model under its gate
    spec = register_model(fakes, LOANS_SPEC + "gates: {min_metric: 0.95}\n")
    # When the check acts on it
    words = explained(fakes, spec, 0.0, live={"accuracy": 0.6, "labelled_rows": 40})
    # Then no alert is said, a retraining for quality is, and rolling back is offered
    assert words["next"].startswith("No alert")
    assert "Retraining started because the live metric is worse than the spec's gate" in words["next"]
    assert any("`sluice models rollback loans`" in action for action in words["actions"])


def test_no_drift_says_nothing_happens_and_offers_no_action(fakes: FakePorts) -> None:
    # Given traffic like the reference
    spec = register_model(fakes, LOANS_SPEC)
    # When the check acts on it
    words = explained(fakes, spec, 0.0)
    # Then nothing drifted, nothing retrains and there is nothing to do
    assert words["headline"] == "No drift: no column changed (3 checked)."
    assert words["columns"] == {}
    assert words["next"] == "No alert: no column drifted. Nothing is retrained."
    assert words["actions"] == []
