"""Powertools' idempotency record, written when the SDK retries its own PutItem after a lost answer (on
moto, with the local stack's fault injector losing the first answer): Powertools alone takes the record
for another invocation's and refuses to run until the function's timeout has passed; the retry-safe
persistence recognises it as its own and runs once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from botocore.config import Config
from moto import mock_aws

from sluice.adapters.idempotency import RetrySafePersistence
from sluice.tools.local.faults import READ_TIMEOUT, FaultInjector, injecting
from sluice.tools.local.lambda_runtime.runtime import LambdaContext

TABLE = "idempotency"


class FirstPutTimesOut(FaultInjector):
    """The first PutItem is applied and its answer lost; nothing else fails."""

    def _draw(self) -> str | None:
        return READ_TIMEOUT if not self.faults else None


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield boto3.client(  # a function's role: a principal the injector faults
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="AKIAINGESTROLE",
            aws_secret_access_key="secret",
            config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
        )


def ingest_with(persistence: DynamoDBPersistenceLayer) -> tuple[Any, list[str]]:
    config = IdempotencyConfig(event_key_jmespath="key")
    context: Any = LambdaContext("ingest", "arn:aws:lambda:us-east-1:1:function:ingest", timeout_seconds=300)
    config.register_lambda_context(context)
    ran: list[str] = []

    @idempotent_function(data_keyword_argument="upload", persistence_store=persistence, config=config)
    def ingest(upload: dict[str, Any]) -> dict[str, Any]:
        ran.append(upload["key"])
        return {"status": "dataset"}

    return ingest, ran


def test_an_in_progress_record_whose_answer_was_lost_is_recognised_as_its_own(dynamodb: Any) -> None:
    ingest, ran = ingest_with(RetrySafePersistence(table_name=TABLE, boto3_client=dynamodb))
    injector = FirstPutTimesOut(1.0, kill=False, time_scale=0.0)
    with injecting(injector):
        assert ingest(upload={"key": "m/data/a.csv"}) == {"status": "dataset"}
    assert ran == ["m/data/a.csv"]
    # the SDK's retry met the condition the first attempt's write now fails: the persistence caught it
    assert [(f.kind, f.operation) for f in injector.faults] == [(READ_TIMEOUT, "dynamodb:PutItem")]
    # and a second delivery of the same upload is still answered from the record, not run again
    assert ingest(upload={"key": "m/data/a.csv"}) == {"status": "dataset"} and ran == ["m/data/a.csv"]


def test_powertools_alone_refuses_its_own_record_until_the_timeout(dynamodb: Any) -> None:
    ingest, ran = ingest_with(DynamoDBPersistenceLayer(table_name=TABLE, boto3_client=dynamodb))
    with (
        injecting(FirstPutTimesOut(1.0, kill=False, time_scale=0.0)),
        pytest.raises(IdempotencyAlreadyInProgressError),
    ):
        ingest(upload={"key": "m/data/a.csv"})
    assert ran == []
