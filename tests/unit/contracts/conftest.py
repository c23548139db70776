"""Port contracts: one set of assertions per port, run against its in-memory fake (what the use-case
tests in tests/unit/app use) and against its adapter on moto (what runs on AWS), so the two cannot drift.
Where they disagree the adapter is the truth and the fake follows it."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.adapters.registry.store import Registry as DynamoRegistry
from sluice.app.ports import Registry
from tests.unit.app.fake_registry import InMemoryRegistry
from tests.unit.registry_table import create_registry_table

REGION = "us-east-1"
IMPLEMENTATIONS = ["fake", "aws"]


@functools.cache
def aws_client(service: str) -> Any:
    """A client of `service`, made once (making one costs ~0.1 s) and used inside each test's own
    `mock_aws()`: moto keeps its state in its backends, which each test's context resets when it ends,
    not in the client. Call it inside `mock_aws()` only, so it signs with moto's credentials."""
    make: Any = boto3.client  # by name: the stubs type each service's client apart
    return make(service, region_name=REGION)


@pytest.fixture(params=IMPLEMENTATIONS)
def registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    """The Registry port, in memory or on moto's DynamoDB with its table as template.yaml declares it
    (torn down after the test). Its contract: test_registry_contract.py, test_registry_rollout_contract.py."""
    if request.param == "fake":
        yield InMemoryRegistry()
        return
    with mock_aws():
        dynamodb = aws_client("dynamodb")
        create_registry_table(dynamodb)
        yield DynamoRegistry("registry", dynamodb)
