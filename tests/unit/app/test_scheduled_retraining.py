"""The scheduled retraining a spec may ask for (`retraining: {schedule_days: N}`), on in-memory fakes: the
drift check starts one (trigger `schedule`) when the model's last training start is older than that,
with or without drift, under the same single-flight and cool-down rules as a drift retraining."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sluice.app.monitoring.act import act_on_drift
from sluice.domain.registry.records import AuditEvent, EventType, Trigger, new_event_id
from tests.unit.app.drift_world import LOANS_SPEC, MODEL, NOW, SETTINGS, register_model
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_drift_act import assessment

WEEKLY = LOANS_SPEC.replace("retrain_on_drift: true", "retrain_on_drift: false") + (
    "retraining: {schedule_days: 7}\n"
)


def training_started(fakes: FakePorts, at: datetime, trigger: Trigger = Trigger.UPLOAD) -> None:
    fakes.registry.append_event(
        AuditEvent(
            model=MODEL,
            type=EventType.TRAINING_STARTED,
            id=new_event_id(),
            time=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            trigger=trigger,
        )
    )


@pytest.mark.parametrize(("days_ago", "due"), [(None, True), (8, True), (2, False)])
def test_a_retraining_starts_on_schedule_when_the_last_training_is_older(
    fakes: FakePorts, days_ago: int | None, due: bool
) -> None:
    # Given a weekly schedule (and no retraining on drift), and the last training `days_ago` (or never)
    spec = register_model(fakes, WEEKLY)
    if days_ago is not None:
        training_started(fakes, NOW - timedelta(days=days_ago))
    # When the check acts on traffic without drift
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=0.0), NOW)
    # Then a retraining with trigger schedule starts exactly when the schedule is due
    assert check.dataset_drift is False
    assert (check.retraining is not None) is due
    assert [i["trigger"] for i in fakes.executions.inputs()] == (["schedule"] if due else [])


def test_a_spec_without_a_schedule_never_retrains_on_schedule(fakes: FakePorts) -> None:
    # Given a spec with a retraining section but no schedule, never trained
    spec = register_model(fakes, LOANS_SPEC + "retraining: {window_days: 7}\n")
    # When the check acts on traffic without drift, Then nothing retrains
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=0.0), NOW)
    assert check.retraining is None and fakes.executions.inputs() == []


def test_a_due_scheduled_retraining_waits_while_a_training_runs(fakes: FakePorts) -> None:
    # Given a weekly schedule, last started 8 days ago, and that training still running
    spec = register_model(fakes, WEEKLY)
    training_started(fakes, NOW - timedelta(days=8))
    fakes.executions.start("loans-upload-run", {"model": MODEL, "trigger": "upload"})
    # When the check acts on traffic without drift
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=0.0), NOW)
    # Then the running one holds the scheduled retraining back, and the check says so
    assert check.retraining is None and len(fakes.executions.inputs()) == 1
    assert check.retrain_skipped == "a training run is already running (loans-upload-run)"


def test_a_scheduled_retraining_holds_a_drift_retraining_back_for_the_cool_down(fakes: FakePorts) -> None:
    # Given the schedule started a retraining an hour ago (finished since), for a spec retraining on drift
    spec = register_model(fakes, LOANS_SPEC + "retraining: {schedule_days: 7}\n")
    an_hour_ago = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    training_started(fakes, NOW - timedelta(hours=1), Trigger.SCHEDULE)
    # When drift is found
    check = act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=1.0), NOW)
    # Then the cool-down holds the drift retraining back, saying what started the last one
    assert check.dataset_drift is True and check.retraining is None
    assert check.retrain_skipped == f"cool-down: schedule started a retraining at {an_hour_ago}"
