"""Registry writes that must happen once, on moto (with the local stack's DynamoDB transaction tokens): a
dataset and its `dataset_registered` event are written together or not at all, and an event recorded
once per marker stays one event however often it is written — also when the SDK retried the write after
its answer was lost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from sluice.adapters.registry.store import Registry
from sluice.domain.registry.records import (
    AuditEvent,
    DatasetRecord,
    EventType,
    Trigger,
    VersionStatus,
    new_event_id,
)
from sluice.errors import PromotionConflict
from sluice.tools.local.dynamodb_tokens import idempotent_transactions
from sluice.tools.local.faults import READ_TIMEOUT, SDK_RETRY, FaultInjector, injecting
from tests.unit.registry_table import create_registry_table

REGION = "us-east-1"


class FirstAnswerLost(FaultInjector):
    """The first call is applied and its answer lost; nothing else fails."""

    def _draw(self) -> str | None:
        return READ_TIMEOUT if not self.faults else None


@pytest.fixture
def registry() -> Iterator[Registry]:
    with mock_aws(), idempotent_transactions():
        create_registry_table(boto3.client("dynamodb", region_name=REGION))
        dynamodb: Any = boto3.client(
            "dynamodb",
            region_name=REGION,
            aws_access_key_id="AKIAINGESTROLE",  # a function's role: faulted
            aws_secret_access_key="secret",
            config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
        )
        yield Registry("registry", dynamodb)


def dataset() -> DatasetRecord:
    return DatasetRecord(
        model="m",
        sha256="a" * 64,
        uri="s3://b/datasets/m/a/data.csv",
        source_key="m/data/a.csv",
        n_rows=10,
        size_bytes=100,
        spec_sha256="b" * 64,
        validation_uri="s3://b/datasets/m/a/validation.json",
        created_at="2026-12-01T00:00:00.000000Z",
    )


def event(kind: EventType = EventType.DATASET_REGISTERED) -> AuditEvent:
    return AuditEvent(model="m", type=kind, id=new_event_id(), details={})


def test_a_dataset_and_its_event_are_written_once_even_when_the_answer_was_lost(registry: Registry) -> None:
    injector = FirstAnswerLost(1.0, time_scale=0.0, kill=False)
    with injecting(injector):
        created = registry.put_dataset(dataset(), event())
    # the first attempt was applied; the SDK's retry, with the same token, succeeded without a change
    assert created is True and [f.outcome for f in injector.faults] == [SDK_RETRY]
    assert registry.put_dataset(dataset(), event()) is False  # the same content again: nothing written
    assert [e.type for e in registry.list_events("m")] == [EventType.DATASET_REGISTERED]
    assert len(registry.list_datasets("m")) == 1


def test_an_event_recorded_once_per_marker_is_one_event(registry: Registry) -> None:
    assert registry.record_once("QUARANTINED#x", event(EventType.DATA_QUARANTINED)) is True
    assert registry.record_once("QUARANTINED#x", event(EventType.DATA_QUARANTINED)) is False
    assert registry.record_once("QUARANTINED#y", event(EventType.DATA_QUARANTINED)) is True
    assert [e.type for e in registry.list_events("m")] == [EventType.DATA_QUARANTINED] * 2


def test_a_final_decision_made_again_is_recorded_once_and_production_is_never_decided(
    registry: Registry,
) -> None:
    version = registry.allocate_version(
        "m",
        "run-1",
        trigger=Trigger.UPLOAD,
        execution_arn="arn:x",
        dataset_sha256="a" * 64,
        dataset_uri="s3://b/d",
        spec_sha256="b" * 64,
    )
    rejected = registry.get_version("m", version).model_copy(
        update={"status": VersionStatus.REJECTED, "reason": "gates failed"}
    )
    registry.decide(rejected, event(EventType.REJECTED))
    registry.decide(rejected, event(EventType.REJECTED))  # the step run again: nothing changes
    assert [e.type for e in registry.list_events("m")].count(EventType.REJECTED) == 1
    assert registry.get_version("m", version).status is VersionStatus.REJECTED
    # a version in production is never decided otherwise
    promoted = registry.get_version("m", version).model_copy(update={"status": VersionStatus.PRODUCTION})
    registry.promote(promoted, expected=None, event=event(EventType.PROMOTED))
    with pytest.raises(PromotionConflict):
        registry.decide(promoted.model_copy(update={"status": VersionStatus.FAILED}), event(EventType.FAILED))
