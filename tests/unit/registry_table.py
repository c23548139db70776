"""The registry table as template.yaml declares it (PK/SK strings), for unit tests on moto."""

from __future__ import annotations

from typing import Any

REGISTRY_TABLE = "registry"


def create_registry_table(dynamodb: Any, name: str = REGISTRY_TABLE) -> None:
    """Create the registry's table (on-demand, keyed PK + SK) with the given DynamoDB client."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
