"""A model's incidents in the registry, on moto's DynamoDB: of two checks racing to open, repeat or resolve
the same incident, only one write succeeds (the other's condition on the revision it read fails), and an
opening or a resolution is audited once, with the write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from sluice.adapters.registry.store import Registry
from sluice.domain.registry.incidents import Finding, IncidentKind, IncidentState, opened
from sluice.domain.registry.records import AuditEvent, EventType, new_event_id
from tests.unit.registry_table import create_registry_table

REGION = "us-east-1"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DRIFT = Finding(kind=IncidentKind.DRIFT, present=True, summary="drifted: income")


@pytest.fixture
def checks() -> Iterator[tuple[Registry, Registry]]:
    """Two checks' registries (each its own client) on the one table."""
    with mock_aws():
        create_registry_table(boto3.client("dynamodb", region_name=REGION))
        yield (
            Registry("registry", boto3.client("dynamodb", region_name=REGION)),
            Registry("registry", boto3.client("dynamodb", region_name=REGION)),
        )


def event(kind: EventType) -> AuditEvent:
    return AuditEvent(model="loans", type=kind, id=new_event_id(), details={"kind": "drift"})


def test_two_checks_racing_to_open_an_incident_open_it_once(checks: tuple[Registry, Registry]) -> None:
    # Given two checks that both read no drift incident for loans
    first, second = checks
    assert first.list_incidents("loans") == second.list_incidents("loans") == []
    # When both open it, each expecting none
    won = first.record_incident(
        opened("loans", 1, DRIFT, NOW, "s3://r.json"), None, event(EventType.INCIDENT_OPENED)
    )
    lost = second.record_incident(
        opened("loans", 1, DRIFT, NOW + timedelta(seconds=1), "s3://r2.json"),
        None,
        event(EventType.INCIDENT_OPENED),
    )
    # Then only the first opened it; the incident and one opening event are stored
    assert (won, lost) == (True, False)
    (stored,) = second.list_incidents("loans")
    assert stored.state is IncidentState.OPEN and stored.opened_at == NOW.isoformat() and stored.revision == 1
    assert stored.report == "s3://r.json" and stored.resolved_at is None
    assert [e.type for e in second.list_events("loans")] == [EventType.INCIDENT_OPENED]


def test_two_checks_racing_to_repeat_or_resolve_write_once(checks: tuple[Registry, Registry]) -> None:
    # Given an open drift incident, read by two checks a day later
    first, second = checks
    first.record_incident(opened("loans", 1, DRIFT, NOW, None), None, event(EventType.INCIDENT_OPENED))
    (read_by_first,) = first.list_incidents("loans")
    (read_by_second,) = second.list_incidents("loans")
    later = NOW + timedelta(hours=24)
    # When both announce it again, on the revision each read
    repeats = [
        registry.record_incident(read.announced(IncidentState.REPEAT, 1, later, DRIFT, None), read.revision)
        for registry, read in ((first, read_by_first), (second, read_by_second))
    ]
    # Then one repeat is recorded
    assert repeats == [True, False]
    (repeated,) = second.list_incidents("loans")
    assert (repeated.state, repeated.announcements, repeated.revision) == (IncidentState.REPEAT, 2, 2)
    # When both then resolve it, on the revision each read, with its event
    resolutions = [
        registry.record_incident(
            repeated.announced(IncidentState.RESOLVED, 1, later, DRIFT, None),
            repeated.revision,
            event(EventType.INCIDENT_RESOLVED),
        )
        for registry in (first, second)
    ]
    # Then one resolution is recorded, audited once
    assert resolutions == [True, False]
    (resolved,) = first.list_incidents("loans")
    assert resolved.state is IncidentState.RESOLVED and not resolved.is_open
    assert [e.type for e in first.list_events("loans")] == [
        EventType.INCIDENT_OPENED,
        EventType.INCIDENT_RESOLVED,
    ]
