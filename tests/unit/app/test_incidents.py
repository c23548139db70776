"""One alert per incident, on in-memory fakes: what `handle_incidents` announces of a model's incidents
over successive checks (the check's time is driven, not the clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from sluice.app.monitoring.assess import DriftAssessment
from sluice.app.monitoring.incidents import IncidentsOfCheck, handle_incidents
from sluice.domain.monitoring.drift.live import LiveMetric
from sluice.domain.registry.incidents import Incident
from sluice.domain.registry.records import EventType
from sluice.domain.spec.model_spec import ModelSpec
from sluice.errors import StackError
from tests.unit.app.drift_world import LOANS_SPEC, NOW, assessment, register_model
from tests.unit.app.fake_registry import InMemoryRegistry
from tests.unit.app.fakes import FakePorts, InMemoryNotifier

REPORTS = ("s3://artifacts/drift/loans/r.json", "s3://artifacts/drift/loans/r.html")
GATED = LOANS_SPEC + "gates: {min_metric: 0.8}\n"


@pytest.fixture(scope="module")
def drifted() -> DriftAssessment:
    return assessment(_spec(), shift=1.0)


@pytest.fixture(scope="module")
def steady() -> DriftAssessment:
    return assessment(_spec(), shift=0.0)


def _spec() -> ModelSpec:
    return register_model(FakePorts(), GATED)


def check(
    fakes: FakePorts, found: DriftAssessment, at: datetime, repeat_hours: float = 24
) -> IncidentsOfCheck:
    return handle_incidents(
        fakes.deps(), found, min_rows=50, repeat_hours=repeat_hours, reports=REPORTS, now=at
    )


def subjects(fakes: FakePorts) -> list[str]:
    return [subject for subject, _ in fakes.notifier.published]


def test_three_drifting_checks_alert_once_and_a_recovered_one_resolves_once(
    fakes: FakePorts, drifted: DriftAssessment, steady: DriftAssessment
) -> None:
    # Given a model whose traffic drifted, checked three times an hour apart
    states = [check(fakes, drifted, NOW + timedelta(hours=h)).states for h in range(3)]
    # Then one alert went out (the first check opened the incident), the others found it ongoing
    assert subjects(fakes) == ["Sluice: drift in loans"]
    assert states == [{"drift": "open"}, {"drift": "ongoing"}, {"drift": "ongoing"}]
    # When a check finds the traffic recovered
    recovered = check(fakes, steady, NOW + timedelta(hours=3))
    # Then one "resolved" message goes out, and the registry's audit trail has the opening and resolution
    assert recovered.states == {"drift": "resolved"}
    assert subjects(fakes) == ["Sluice: drift in loans", "Sluice: drift in loans resolved"]
    resolved = fakes.notifier.published[1][1]
    assert resolved["state"] == "resolved" and resolved["opened_at"] == NOW.isoformat()
    assert fakes.notifier.attributes[1] == {
        "model": "loans",
        "kind": "drift",
        "severity": "medium",
        "state": "resolved",
        "event": "incident_resolved",
    }
    events = [e for e in fakes.registry.list_events("loans") if e.type.value.startswith("incident")]
    assert [(e.type, e.details["kind"]) for e in events] == [
        (EventType.INCIDENT_OPENED, "drift"),
        (EventType.INCIDENT_RESOLVED, "drift"),
    ]
    # And further recovered checks say nothing
    check(fakes, steady, NOW + timedelta(hours=4))
    assert len(fakes.notifier.published) == 2


def test_an_open_incident_is_announced_again_after_the_repeat_hours_only(
    fakes: FakePorts, drifted: DriftAssessment
) -> None:
    # Given a drift incident opened at NOW, announced again every 24 hours
    check(fakes, drifted, NOW)
    # When checks keep finding it just before and at 24 hours, then until 47 hours, then at 48
    check(fakes, drifted, NOW + timedelta(hours=23, minutes=59))
    at_24 = check(fakes, drifted, NOW + timedelta(hours=24))
    check(fakes, drifted, NOW + timedelta(hours=47))
    at_48 = check(fakes, drifted, NOW + timedelta(hours=48))
    # Then it was announced at 0, 24 and 48 hours: the repeats say since when and how often
    assert (at_24.states, at_48.states) == ({"drift": "repeat"}, {"drift": "repeat"})
    assert subjects(fakes) == ["Sluice: drift in loans"] + ["Sluice: drift in loans continues"] * 2
    last = fakes.notifier.published[-1][1]
    assert last["since"] == (
        "open since 2026-12-01 12:00 UTC (2 days ago); announced 3 times, last 0 minutes ago"
    )
    assert fakes.notifier.attributes[-1]["state"] == "repeat"
    # And a repeat is no decision: the audit trail has only the opening
    assert [e.type for e in fakes.registry.list_events("loans")] == [EventType.INCIDENT_OPENED]


def test_a_check_with_insufficient_data_neither_opens_nor_closes(
    fakes: FakePorts, drifted: DriftAssessment
) -> None:
    # Given an insufficient check (too few rows for a verdict, no labels): nothing opens
    no_verdict = replace(
        drifted,
        report=drifted.report.model_copy(update={"status": "insufficient_data", "dataset_drift": False}),
    )
    no_verdict = replace(no_verdict, live_metric=None)
    assert check(fakes, no_verdict, NOW).states == {} and fakes.notifier.published == []
    # When an incident is open and the next check has too little data
    check(fakes, drifted, NOW + timedelta(hours=1))
    later = check(fakes, no_verdict, NOW + timedelta(hours=2))
    # Then it stays open, unannounced
    assert later.states == {} and subjects(fakes) == ["Sluice: drift in loans"]
    assert fakes.registry.list_incidents("loans")[0].state.value == "open"


def test_the_live_metric_under_its_gate_is_its_own_incident_of_high_severity(
    fakes: FakePorts, steady: DriftAssessment
) -> None:
    # Given traffic like the reference whose labels put accuracy under the gate (0.8), checked twice
    worse: LiveMetric = {"accuracy": 0.6, "labelled_rows": 40}
    check(fakes, replace(steady, live_metric=worse), NOW)
    check(fakes, replace(steady, live_metric=worse), NOW + timedelta(hours=1))
    # When labels show it back above its gate
    better: LiveMetric = {"accuracy": 0.9, "labelled_rows": 40}
    check(fakes, replace(steady, live_metric=better), NOW + timedelta(hours=2))
    # Then one opening and one resolution, of kind live_metric and severity high
    assert subjects(fakes) == [
        "Sluice: live metric under its gate in loans",
        "Sluice: live metric under its gate in loans resolved",
    ]
    assert {(a["kind"], a["severity"]) for a in fakes.notifier.attributes} == {("live_metric", "high")}
    assert fakes.notifier.published[0][1]["summary"] == "live accuracy 0.6, gate min_metric 0.8"


class ReadBeforeTheOtherWrote:
    """The shared registry as a check sees it when another check writes the incident between its read
    and its write: reading incidents answers what was there before; everything else is the registry."""

    def __init__(self, shared: InMemoryRegistry) -> None:
        self._shared = shared
        self._stale = dict(shared.incidents)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared, name)

    def list_incidents(self, model: str) -> list[Incident]:
        return [i for (m, _), i in sorted(self._stale.items()) if m == model]


def racing(fakes: FakePorts) -> FakePorts:
    return FakePorts(registry=cast(InMemoryRegistry, ReadBeforeTheOtherWrote(fakes.registry)))


def test_of_two_racing_checks_only_the_one_whose_write_won_announces(
    fakes: FakePorts, drifted: DriftAssessment, steady: DriftAssessment
) -> None:
    # Given a check that read the registry (no incident yet), and another check that opens the incident
    # before the first one writes
    late = racing(fakes)
    check(fakes, drifted, NOW)
    # When the first check, having read no incident, opens it too
    lost = check(late, drifted, NOW)
    # Then its conditional write fails and it announces nothing: one alert in all
    assert lost.states == {} and late.notifier.published == [] and len(fakes.notifier.published) == 1
    # And likewise when two checks race to resolve it: one "resolved" message
    late = racing(fakes)
    check(fakes, steady, NOW + timedelta(hours=1))
    assert check(late, steady, NOW + timedelta(hours=1)).states == {} and late.notifier.published == []
    assert subjects(fakes) == ["Sluice: drift in loans", "Sluice: drift in loans resolved"]


class FailingOnce(InMemoryNotifier):
    """SNS refusing the first publish (an outage the SDK's retries did not outlast)."""

    def publish(self, subject: str, message: dict[str, Any], attributes: Any = None) -> str | None:
        if not self.attributes:
            self.attributes.append({})
            raise StackError("publish to the topic: throttled", code="Throttling")
        return super().publish(subject, message, attributes)


def test_an_announcement_that_could_not_be_published_is_made_by_the_next_check(
    drifted: DriftAssessment,
) -> None:
    # Given SNS refuses the message that opens the drift incident
    fakes = FakePorts(notifier=FailingOnce())
    with pytest.raises(StackError):
        check(fakes, drifted, NOW)
    # When the check runs again (the invocation's retry)
    again = check(fakes, drifted, NOW + timedelta(minutes=1))
    # Then it opens the incident and announces it: the alert is not lost
    assert again.states == {"drift": "open"} and subjects(fakes) == ["Sluice: drift in loans"]
