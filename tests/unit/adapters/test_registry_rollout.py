"""The registry's live-rollout items on moto's DynamoDB: the alias carries one rollout at a time, on the
condition that production has not moved; counts from many containers add up; a stop ends only the
rollout it names; and a version's artifacts can be pointed at a rewritten card."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from sluice.adapters.registry.store import Registry
from sluice.domain.registry.records import (
    Artifact,
    AuditEvent,
    EventType,
    ModelVersion,
    Trigger,
    VersionStatus,
    new_event_id,
    utc_now,
)
from sluice.domain.rollout.live import RolloutState, RolloutStatus, VersionTally
from sluice.errors import PromotionConflict, RolloutBusy
from tests.unit.registry_table import create_registry_table

MODEL = "loans"


@pytest.fixture
def registry() -> Iterator[Registry]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_registry_table(dynamodb)
        yield Registry("registry", dynamodb)


def version(number: int, status: VersionStatus = VersionStatus.CANDIDATE) -> ModelVersion:
    now = utc_now()
    return ModelVersion(
        model=MODEL, version=number, status=status, trigger=Trigger.UPLOAD, created_at=now, updated_at=now
    )


def event(number: int) -> AuditEvent:
    return AuditEvent(model=MODEL, type=EventType.ROLLOUT_STARTED, id=new_event_id(), version=number)


def rollout(number: int, production: int = 1) -> RolloutState:
    return RolloutState(
        mode="canary",
        version=number,
        production_version=production,
        weight=0.2,
        started_at="2026-12-01T12:00:00.000000Z",
        deadline="2026-12-02T12:00:00.000000Z",
    )


def in_production(registry: Registry) -> None:
    registry.promote(version(1), expected=None, event=event(1))


def test_a_rollout_goes_on_the_alias_once_and_only_against_the_expected_production(
    registry: Registry,
) -> None:
    # Given version 1 in production
    in_production(registry)
    # When version 2 starts a canary against it
    registry.start_rollout(version(2, VersionStatus.CANARY), rollout(2), event(2))
    # Then the alias carries it and the version is recorded as canary
    alias = registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1 and alias.rollout == rollout(2)
    assert registry.get_version(MODEL, 2).status is VersionStatus.CANARY
    # And a second rollout is busy, while one against another production version is a conflict
    with pytest.raises(RolloutBusy, match="version 2's canary rollout is running"):
        registry.start_rollout(version(3, VersionStatus.CANARY), rollout(3), event(3))
    with pytest.raises(PromotionConflict, match="expected production version 7, found 1"):
        registry.start_rollout(version(3, VersionStatus.CANARY), rollout(3, production=7), event(3))


def test_stopping_ends_only_the_running_rollout_it_names(registry: Registry) -> None:
    # Given version 2 in a canary beside version 1
    in_production(registry)
    registry.start_rollout(version(2, VersionStatus.CANARY), rollout(2), event(2))
    # When another version's rollout is stopped / Then nothing changes
    assert registry.stop_rollout(MODEL, 3, RolloutStatus.ROLLED_BACK, "no") is False
    # When version 2's is stopped / Then it ends with the reason, once
    assert registry.stop_rollout(MODEL, 2, RolloutStatus.ROLLED_BACK, "rolled back: errors") is True
    assert registry.stop_rollout(MODEL, 2, RolloutStatus.ROLLED_BACK, "again") is False
    alias = registry.get_alias(MODEL)
    assert alias is not None and alias.rollout is not None
    assert (alias.rollout.status, alias.rollout.reason) == (RolloutStatus.ROLLED_BACK, "rolled back: errors")
    # And a new rollout may start now
    registry.start_rollout(version(3, VersionStatus.CANARY), rollout(3), event(3))


def test_counts_from_many_containers_add_up(registry: Registry) -> None:
    # Given two containers' tallies of the candidate and one of production
    first, second, production = VersionTally(), VersionTally(), VersionTally()
    for ms in (1.0, 2.0, 40.0):
        first.add(milliseconds=ms, instances=2)
    second.add(milliseconds=None, error=True)
    production.add(milliseconds=3.0, instances=5, agreed=4, abs_diff=0.25)
    # When each adds its counts
    registry.add_rollout_counts(MODEL, 2, "candidate", first)
    registry.add_rollout_counts(MODEL, 2, "candidate", second)
    registry.add_rollout_counts(MODEL, 2, "production", production)
    # Then the registry holds their sums, by role, latency buckets included
    counts = registry.rollout_counts(MODEL, 2)
    assert counts["candidate"] == first.merged(second)
    assert counts["production"] == production
    assert registry.rollout_counts(MODEL, 3) == {}


def test_a_versions_artifacts_can_point_at_a_rewritten_card(registry: Registry) -> None:
    # Given version 1 in production
    in_production(registry)
    # When its card and page are rewritten
    new_card = Artifact(uri="s3://a/models/loans/1/card.json", sha256="b" * 64)
    page = Artifact(uri="s3://a/models/loans/1/card.html", sha256="c" * 64)
    registry.set_version_artifacts(MODEL, 1, {"card": new_card, "card_html": page})
    # Then the version records both, and keeps its status
    record = registry.get_version(MODEL, 1)
    assert record.artifacts == {"card": new_card, "card_html": page}
    assert record.status is VersionStatus.PRODUCTION
