"""The adapters when a call gets no answer however often the SDK retries it (on moto, with the local
stack's fault injector resetting or timing out every attempt): each raises StackError, as for a refusal,
never a botocore exception the callers do not expect (the API would answer it 502, a step would fail
its run under a name no Retry knows)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.executions import Executions
from sluice.adapters.registry.store import Registry
from sluice.domain.registry.records import AuditEvent, EventType
from sluice.errors import StackError
from sluice.tools.local.faults import CONNECTION_RESET, READ_TIMEOUT, FaultInjector, injecting
from tests.unit.registry_table import create_registry_table

REGION = "us-east-1"


def role_client(service: str) -> Any:
    """A client signing as a function's role (a principal the injector faults), 2 attempts."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        aws_access_key_id="AKIASTEPROLE",
        aws_secret_access_key="secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    with mock_aws():
        admin: dict[str, Any] = {
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        s3 = boto3.client("s3", **admin)
        s3.create_bucket(Bucket="artifacts")
        s3.put_object(Bucket="artifacts", Key="a.csv", Body=b"x,y\n1,2\n")
        create_registry_table(boto3.client("dynamodb", **admin))
        yield {
            "artifacts": ArtifactStore("artifacts", role_client("s3")),
            "registry": Registry("registry", role_client("dynamodb")),
            "executions": Executions(
                f"arn:aws:states:{REGION}:123456789012:stateMachine:train", role_client("stepfunctions")
            ),
        }


def event() -> AuditEvent:
    return AuditEvent(model="m", type=EventType.TRAINING_STARTED, id="e1", execution_arn="arn:x")


CALLS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "head an object": lambda w: w["artifacts"].size("s3://artifacts/a.csv"),
    "read an object": lambda w: w["artifacts"].get_bytes("s3://artifacts/a.csv"),
    "copy an object": lambda w: w["artifacts"].copy_in("s3://artifacts/a.csv", "quarantine/a.csv"),
    "write if unchanged": lambda w: w["artifacts"].put_json_if_unchanged("index.json", {}, None),
    "a conditional put": lambda w: w["registry"].append_event(event()),
    "a transaction": lambda w: w["registry"].record_run_started("run-1", event()),
    "start an execution": lambda w: w["executions"].start("run-1", {}),
}


@pytest.mark.parametrize("kind", [CONNECTION_RESET, READ_TIMEOUT])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_call_that_never_gets_an_answer_is_a_stack_error(
    world: dict[str, Any], call: str, kind: str
) -> None:
    injector = FaultInjector(1.0, time_scale=0.0, kinds=(kind,), kill=False)
    with injecting(injector), pytest.raises(StackError):
        CALLS[call](world)
    assert len(injector.faults) == 2  # both attempts the SDK made
