"""What the local stack changes in moto for speed only changes nothing else: a cancelled DynamoDB
transaction leaves the table as moto's own rollback leaves it (sluice.tools.local.dynamodb_tokens), and a
state machine definition parsed once serves every execution (sluice.tools.local.distributed_map)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice.tools.local.distributed_map import distributed_map_patches
from sluice.tools.local.dynamodb_tokens import transactions_roll_back_their_items
from sluice.tools.local.events import MOTO_CONFIG
from sluice.tools.local.executions import ENDED, execution_end_signals
from tests.unit.registry_table import create_registry_table

REGION = "us-east-1"
Rollback = Callable[[], AbstractContextManager[Any]]
WAYS: dict[str, Rollback] = {"moto's copies": nullcontext, "the items": transactions_roll_back_their_items}


def s(value: str) -> dict[str, str]:
    return {"S": value}


@pytest.fixture(params=sorted(WAYS))
def dynamodb(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A registry table (PK + SK) and a table keyed by PK alone, rolled back either way."""
    with mock_aws(), WAYS[request.param]():
        client = boto3.client("dynamodb", region_name=REGION)
        create_registry_table(client)
        client.create_table(
            TableName="flat",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(3):
            client.put_item(
                TableName="registry", Item={"PK": s("M#a"), "SK": s(f"V#{n}"), "n": {"N": str(n)}}
            )
            client.put_item(TableName="flat", Item={"PK": s(f"K#{n}"), "n": {"N": str(n)}})
        yield client


def contents(client: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        table: sorted(client.scan(TableName=table)["Items"], key=json.dumps) for table in ("registry", "flat")
    }


def writes() -> list[dict[str, Any]]:
    """A put of a new item and of an existing one, an update, a delete, in both tables."""
    return [
        {"Put": {"TableName": "registry", "Item": {"PK": s("M#a"), "SK": s("V#9"), "n": {"N": "9"}}}},
        {"Put": {"TableName": "registry", "Item": {"PK": s("M#new"), "SK": s("META")}}},
        {
            "Update": {
                "TableName": "registry",
                "Key": {"PK": s("M#a"), "SK": s("V#0")},
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": "registry", "Key": {"PK": s("M#a"), "SK": s("V#1")}}},
        {"Put": {"TableName": "flat", "Item": {"PK": s("K#0"), "n": {"N": "100"}}}},
        {"Delete": {"TableName": "flat", "Key": {"PK": s("K#1")}}},
        {"Put": {"TableName": "flat", "Item": {"PK": s("K#new")}}},
    ]


def test_a_transaction_whose_last_condition_fails_changes_nothing(dynamodb: Any) -> None:
    # Given both tables, and a transaction whose writes come before a condition that fails
    before = contents(dynamodb)
    failing = {
        "ConditionCheck": {
            "TableName": "flat",
            "Key": {"PK": s("K#2")},
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }
    # When it is sent / Then it is cancelled, and both tables are as they were
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(TransactItems=[*writes(), failing])
    assert contents(dynamodb) == before


def test_a_transaction_naming_an_item_twice_changes_nothing(dynamodb: Any) -> None:
    before = contents(dynamodb)
    twice = {"Delete": {"TableName": "registry", "Key": {"PK": s("M#a"), "SK": s("V#9")}}}
    with pytest.raises(ClientError, match="ValidationException"):
        dynamodb.transact_write_items(TransactItems=[*writes(), twice])
    assert contents(dynamodb) == before


def test_a_transaction_that_succeeds_writes_every_item(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=writes())
    after = contents(dynamodb)
    registry = {(i["PK"]["S"], i["SK"]["S"]): i.get("n", {}).get("N") for i in after["registry"]}
    assert registry == {
        ("M#a", "V#0"): "1",
        ("M#a", "V#2"): "2",
        ("M#a", "V#9"): "9",
        ("M#new", "META"): None,
    }
    flat = {i["PK"]["S"]: i.get("n", {}).get("N") for i in after["flat"]}
    assert flat == {"K#0": "100", "K#2": "2", "K#new": None}


PASS_MACHINE = {
    "StartAt": "Double",
    "States": {
        "Double": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"}, "End": True}
    },
}


def test_a_definition_is_parsed_once_and_serves_each_execution_with_its_own_input() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # Given the patches of a local stack, and a definition parsed once
    with mock_aws(config=MOTO_CONFIG), distributed_map_patches(), execution_end_signals():
        definition = json.dumps(PASS_MACHINE)
        first = AmazonStateLanguageParser.parse(definition)
        # Then the same parse serves it again
        assert AmazonStateLanguageParser.parse(definition) is first
        # And executions of a state machine with it each answer their own input
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="double", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        runs = [
            sfn.start_execution(stateMachineArn=arn, name=f"n{n}", input=json.dumps({"n": n}))["executionArn"]
            for n in (1, 2, 3)
        ]
        outputs = [json.loads(ended(sfn, run)["output"]) for run in runs]
        assert outputs == [{"twice": 2}, {"twice": 4}, {"twice": 6}]


def ended(sfn: Any, execution_arn: str) -> dict[str, Any]:
    """The execution once it is no longer running (woken by the end of each execution)."""
    while True:
        seen = ENDED.count
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        assert ENDED.wait_after(seen, 30), f"{execution_arn} still running"
