"""The fault injector on moto: a faulted attempt fails as the service fails it (its code, status and
protocol, parsed by botocore), botocore's own retries meet it, a read timeout loses the answer of a call
that was handled, a connection reset one that never arrived, the deployer is never faulted, a killed
invocation answers Lambda's timeout, and DynamoDB's transaction tokens make a retried transaction
succeed once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from moto import mock_aws

from sluice.tools.local.dynamodb_tokens import idempotent_transactions
from sluice.tools.local.faults import (
    CONNECTION_RESET,
    INVOCATION_KILLED,
    READ_TIMEOUT,
    SDK_RETRY,
    SERVER_ERROR,
    SURFACED,
    THROTTLING,
    TIMED_OUT,
    FaultInjector,
    injecting,
    invoked_by,
)
from sluice.tools.local.lambda_runtime.runtime import HandlerRuntime, LambdaContext
from sluice.tools.local.template import FunctionCode

REGION = "us-east-1"
BUCKET = "chaos-bucket"
PRINCIPAL_KEY = "AKIAFUNCTIONROLE"  # a key other than the deployer's: one of the stack's principals


def client(service: str, key: str = PRINCIPAL_KEY, attempts: int = 3) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(), idempotent_transactions():
        ddb = client("dynamodb", key="testing")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client("s3", key="testing").create_bucket(Bucket=BUCKET)
        client("s3", key="testing").put_object(Bucket=BUCKET, Key="k", Body=b"x")
        yield


def every_attempt(kind: str) -> FaultInjector:
    return FaultInjector(1.0, seed=1, time_scale=0.0, kinds=(kind,), kill=False)


CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "dynamodb": ("get_item", {"TableName": "t", "Key": {"PK": {"S": "a"}}}),
    "s3": ("get_object", {"Bucket": BUCKET, "Key": "k"}),
    "sns": ("list_topics", {}),
    "firehose": ("list_delivery_streams", {}),
    "stepfunctions": ("list_state_machines", {}),
    "lambda": ("list_functions", {}),
    "ecs": ("list_clusters", {}),
}
THROTTLE_CODES = {
    "dynamodb": {("ThrottlingException", 400), ("ProvisionedThroughputExceededException", 400)},
    "s3": {("SlowDown", 503)},
    "sns": {("Throttled", 429)},
    "firehose": {("ServiceUnavailableException", 503), ("ThrottlingException", 400)},
    "stepfunctions": {("ThrottlingException", 400)},
    "lambda": {("TooManyRequestsException", 429)},
    "ecs": {("ThrottlingException", 400)},
}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_throttled_attempt_fails_as_the_service_throttles_and_botocore_retries_it(
    aws: None, service: str
) -> None:
    injector = every_attempt(THROTTLING)
    method, params = CALLS[service]
    with injecting(injector), pytest.raises(ClientError) as raised:
        getattr(client(service), method)(**params)
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) in THROTTLE_CODES[service]
    assert error["ResponseMetadata"]["RetryAttempts"] == 2  # botocore tried three times
    assert len(injector.faults) == 3 and {f.attempt for f in injector.faults} == {1, 2, 3}
    assert {f.operation for f in injector.faults} == {
        f"{client(service).meta.service_model.service_name}:"
        f"{client(service).meta.method_to_api_mapping[method]}"
    }


@pytest.mark.parametrize(
    ("service", "codes"),
    [
        ("dynamodb", {("InternalServerError", 500)}),
        ("s3", {("InternalError", 500), ("ServiceUnavailable", 503)}),
        ("sns", {("InternalError", 500)}),
        ("lambda", {("ServiceException", 500)}),
        ("firehose", {("InternalFailure", 500), ("ServiceUnavailable", 503)}),
    ],
)
def test_a_server_error_fails_with_the_services_5xx(
    aws: None, service: str, codes: set[tuple[str, int]]
) -> None:
    method, params = CALLS[service]
    with injecting(every_attempt(SERVER_ERROR)), pytest.raises(ClientError) as raised:
        getattr(client(service), method)(**params)
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) in codes


def test_a_head_request_fails_without_a_body_as_s3_answers_it(aws: None) -> None:
    with injecting(every_attempt(THROTTLING)), pytest.raises(ClientError) as raised:
        client("s3").head_object(Bucket=BUCKET, Key="k")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_a_read_timeout_loses_the_answer_of_a_write_that_happened(aws: None) -> None:
    item = {"PK": {"S": "written"}}
    with injecting(every_attempt(READ_TIMEOUT)), pytest.raises(ReadTimeoutError):
        client("dynamodb", attempts=1).put_item(TableName="t", Item=item)
    assert "Item" in client("dynamodb", key="testing").get_item(TableName="t", Key=item)


def test_a_connection_reset_never_reaches_the_service(aws: None) -> None:
    item = {"PK": {"S": "never"}}
    with injecting(every_attempt(CONNECTION_RESET)), pytest.raises(ConnectionClosedError):
        client("dynamodb", attempts=1).put_item(TableName="t", Item=item)
    assert "Item" not in client("dynamodb", key="testing").get_item(TableName="t", Key=item)


def test_the_deployer_is_never_faulted(aws: None) -> None:
    injector = every_attempt(THROTTLING)
    with injecting(injector):
        client("s3", key="testing").get_object(Bucket=BUCKET, Key="k")
    assert injector.faults == []


def test_faults_at_a_rate_are_retried_by_the_sdk_and_logged_one_json_line_each(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    injector = FaultInjector(0.3, seed=7, time_scale=0.0, kinds=(THROTTLING, SERVER_ERROR), kill=False)
    s3 = client("s3", attempts=5)
    with injecting(injector):
        for _ in range(100):
            s3.get_object(Bucket=BUCKET, Key="k")["Body"].read()
    assert 10 < len(injector.faults) < 60
    assert {f.outcome for f in injector.faults} == {SDK_RETRY}
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith('{"fault"')]
    assert len(lines) == len(injector.faults)
    assert '"principal": "key AKIAFUNCTIONROLE", "operation": "s3:GetObject"' in lines[0]
    rows = injector.table()
    assert sum(r["faults"] for r in rows) == len(injector.faults) == sum(r[SDK_RETRY] for r in rows)


def test_a_transaction_retried_after_its_answer_was_lost_succeeds_once(aws: None) -> None:
    class FirstAttemptTimesOut(FaultInjector):
        def _draw(self) -> str | None:
            return READ_TIMEOUT if not self.faults else None

    injector = FirstAttemptTimesOut(1.0, time_scale=0.0, kill=False)
    put = {
        "Put": {
            "TableName": "t",
            "Item": {"PK": {"S": "once"}},
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }
    with injecting(injector):
        answer = client("dynamodb").transact_write_items(TransactItems=[put])
    # the first attempt was applied and its answer lost; the retry with the same token succeeded
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert [f.outcome for f in injector.faults] == [SDK_RETRY]
    # the same token again with other items is refused, as DynamoDB refuses it
    other = {"Put": {"TableName": "t", "Item": {"PK": {"S": "other"}}}}
    ddb = client("dynamodb", key="testing")
    with pytest.raises(ClientError, match="TransactionCanceled"):  # a new token: the item exists now
        ddb.transact_write_items(TransactItems=[put], ClientRequestToken="fixed")
    ddb.transact_write_items(TransactItems=[other], ClientRequestToken="fixed-2")
    ddb.transact_write_items(TransactItems=[other], ClientRequestToken="fixed-2")  # a repeat: success
    with pytest.raises(ClientError, match="IdempotentParameterMismatch"):
        ddb.transact_write_items(TransactItems=[put], ClientRequestToken="fixed-2")


HANDLER = """
import boto3


def handler(event, context):
    s3 = boto3.client("s3", region_name="us-east-1")
    done = 0
    for _ in range(20):
        try:
            s3.get_object(Bucket="chaos-bucket", Key="k")["Body"].read()
        except Exception:  # a handler that swallows everything still cannot stop a timeout
            pass
        done += 1
    return {"done": done}
"""


def test_an_invocation_killed_mid_way_answers_lambdas_timeout_and_starts_cold(
    aws: None, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(HANDLER)
    code = FunctionCode(logical_id="Fn", folder=tmp_path, handler="app.handler")
    runtime = HandlerRuntime(output_to_stderr=False)
    env = {"AWS_ACCESS_KEY_ID": PRINCIPAL_KEY, "AWS_SECRET_ACCESS_KEY": "secret"}
    context = LambdaContext(
        function_name="fn", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:fn", timeout_seconds=30
    )
    injector = FaultInjector(0.0, seed=3, time_scale=0.0)  # no call faults: only the kill
    injector._draw_kill = lambda: True  # type: ignore[method-assign]
    with injecting(injector), invoked_by("events"):  # invoked asynchronously (EventBridge)
        outcome = runtime.run(code, {}, env, context)
    assert outcome.timed_out and outcome.error is not None
    assert outcome.error["errorMessage"].endswith("Task timed out after 30.00 seconds")
    assert context.get_remaining_time_in_millis() == 0  # its deadline was reached
    killed = [f for f in injector.faults if f.kind == INVOCATION_KILLED]
    assert len(killed) == 1 and killed[0].function == "Fn"
    assert "Fn" not in runtime._modules  # the next invocation starts cold
    # a synchronous caller's invocation (the API, the deployer) is never killed
    with injecting(injector):
        assert runtime.run(code, {}, env, context).payload == {"done": 20}
    assert os.environ.get("AWS_ACCESS_KEY_ID") != PRINCIPAL_KEY  # the runtime restored the environment
    assert outcome.error["errorType"] == TIMED_OUT
    assert injector.counts() == {(INVOCATION_KILLED, "function Fn", SURFACED): 1}  # nobody retried it here
