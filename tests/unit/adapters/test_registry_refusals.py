"""The registry's transactions cancelled for a reason other than their own conditions (a concurrent write
to the same items: TransactionConflict), on moto's DynamoDB with that one answer put in: each refusal
says what happened, never "expected production version 1, found 1", and a write recorded once is never
reported as recorded before when it was not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice.adapters.registry.store import Registry
from sluice.domain.registry.records import (
    AuditEvent,
    DatasetRecord,
    EventType,
    ModelVersion,
    Trigger,
    VersionStatus,
    new_event_id,
)
from sluice.domain.rollout.live import RolloutState
from sluice.errors import PromotionConflict, StackError
from tests.unit.registry_table import create_registry_table

MODEL = "loans"
T0 = "2026-12-01T12:00:00.000000Z"


class ConflictOnce:
    """A DynamoDB client whose next transaction is cancelled by a concurrent write (nothing applied);
    every other call goes to moto."""

    def __init__(self, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dynamodb, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        if not self.armed:
            return self._dynamodb.transact_write_items(**kwargs)
        self.armed = False
        codes = ["TransactionConflict"] + ["None"] * (len(kwargs["TransactItems"]) - 1)
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": code} for code in codes],
            },
            "TransactWriteItems",
        )


@pytest.fixture
def world() -> Iterator[tuple[Registry, ConflictOnce]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_registry_table(dynamodb)
        conflicting = ConflictOnce(dynamodb)
        yield Registry("registry", conflicting), conflicting


def version(number: int, status: VersionStatus = VersionStatus.CANDIDATE) -> ModelVersion:
    return ModelVersion(
        model=MODEL, version=number, status=status, trigger=Trigger.UPLOAD, created_at=T0, updated_at=T0
    )


def event(kind: EventType, number: int | None = None) -> AuditEvent:
    return AuditEvent(model=MODEL, type=kind, id=new_event_id(), version=number)


def test_a_promotion_cancelled_by_a_concurrent_write_says_so(world: tuple[Registry, ConflictOnce]) -> None:
    # Given version 1 in production
    registry, conflicting = world
    registry.promote(version(1), expected=None, event=event(EventType.PROMOTED, 1))
    # When version 2's promotion is cancelled by a concurrent write
    conflicting.armed = True
    with pytest.raises(PromotionConflict) as refused:
        registry.promote(version(2), expected=1, event=event(EventType.PROMOTED, 2))
    # Then the conflict names the reason and that production did not move
    message = str(refused.value)
    assert "production is still version 1" in message and "the alias: TransactionConflict" in message
    assert "found" not in message
    alias = registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1


def test_a_rollout_cancelled_by_a_concurrent_write_says_so(world: tuple[Registry, ConflictOnce]) -> None:
    # Given version 1 in production
    registry, conflicting = world
    registry.promote(version(1), expected=None, event=event(EventType.PROMOTED, 1))
    rollout = RolloutState(
        mode="canary", version=2, production_version=1, weight=0.2, started_at=T0, deadline=T0
    )
    # When version 2's canary start is cancelled by a concurrent write
    conflicting.armed = True
    with pytest.raises(PromotionConflict) as refused:
        registry.start_rollout(version(2, VersionStatus.CANARY), rollout, event(EventType.ROLLOUT_STARTED, 2))
    # Then the conflict names the reason, not a production that moved, nor a rollout that runs
    message = str(refused.value)
    assert "production is still version 1" in message and "the alias: TransactionConflict" in message
    assert "found" not in message


def test_a_decision_cancelled_by_a_concurrent_write_is_not_called_production(
    world: tuple[Registry, ConflictOnce],
) -> None:
    registry, conflicting = world
    conflicting.armed = True
    with pytest.raises(PromotionConflict) as refused:
        registry.decide(version(1, VersionStatus.REJECTED), event(EventType.REJECTED, 1))
    assert "in production" not in str(refused.value)
    assert "the version: TransactionConflict" in str(refused.value)


def test_a_write_recorded_once_is_not_reported_as_recorded_before_when_it_was_not(
    world: tuple[Registry, ConflictOnce],
) -> None:
    # Given a marker's transaction cancelled by a concurrent write
    registry, conflicting = world
    conflicting.armed = True
    # Then it is a StackError (retried by the caller), not "recorded before"
    with pytest.raises(StackError, match="the marker: TransactionConflict"):
        registry.record_once("BATCH#job-1", event(EventType.BATCH_STARTED))
    # And the next attempt records it
    assert registry.record_once("BATCH#job-1", event(EventType.BATCH_STARTED)) is True
    # And likewise a dataset with its event
    dataset = DatasetRecord(
        model=MODEL,
        sha256="a" * 64,
        uri="s3://artifacts/datasets/loans/a/data.csv",
        source_key="loans/data/a.csv",
        n_rows=1,
        size_bytes=1,
        spec_sha256="s" * 64,
        validation_uri="s3://artifacts/datasets/loans/a/validation.json",
        created_at=T0,
    )
    conflicting.armed = True
    with pytest.raises(StackError, match="the dataset: TransactionConflict"):
        registry.put_dataset(dataset, event(EventType.DATASET_REGISTERED))
    assert registry.put_dataset(dataset, event(EventType.DATASET_REGISTERED)) is True
