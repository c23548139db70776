"""AWS-like latency on moto: the draws are seeded per operation (the same in another process, different
for another seed, with the figure's median and p99); a stack principal's call sleeps its draw after the
service answered and before the caller gets the answer, each SDK attempt its own; the deployer's calls
are not delayed; a call from another process is delayed once, where moto's server takes it; and no lock
is held while a call sleeps. Every sleep goes through an injected sleeper: nothing here waits."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice.tools.local.environ import invocation_environ
from sluice.tools.local.faults import THROTTLING, FaultInjector, injecting
from sluice.tools.local.latency import (
    FIGURES,
    LATENCY_ENV,
    OTHER_PROCESS,
    AwsLatency,
    LatencyModel,
    delaying,
    figure_for,
    latency_from_env,
)

REGION = "us-east-1"
PRINCIPAL_KEY = "AKIAFUNCTIONROLE"  # with IAM off, any key but the deployer's is a stack principal's
TABLE = "t"
ITEM = {"PK": {"S": "a"}}


def client(service: str, key: str = PRINCIPAL_KEY, attempts: int = 1, endpoint: str | None = None) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


class Sleeper:
    """Records what it is asked to sleep, sleeping nothing; `during` runs inside each sleep."""

    def __init__(self, during: Any = None) -> None:
        self.slept: list[float] = []
        self.during = during

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.during is not None:
            self.during()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        client("dynamodb", key="testing").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


# ---------------------------------------------------------------------------------------------- draws
def test_draws_are_the_same_for_a_seed_in_another_process_and_differ_for_another_seed() -> None:
    operations = ("dynamodb:GetItem", "firehose:PutRecordBatch", "s3:GetObject")
    here = {op: [LatencyModel(7).nth(op, n) for n in range(20)] for op in operations}
    # the same seed, fresh: the same sequence
    fresh = LatencyModel(7)
    assert {op: [fresh.next(op) for _ in range(20)] for op in operations} == here
    # another process with another hash seed: the same sequence, to the bit
    script = (
        "import json; from sluice.tools.local.latency import LatencyModel; m = LatencyModel(7); "
        f"print(json.dumps({{op: [m.next(op) for _ in range(20)] for op in {list(operations)!r}}}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == here
    # another seed: other delays
    other = LatencyModel(8)
    for op in operations:
        assert [other.next(op) for _ in range(20)] != here[op]


def test_each_operation_has_its_own_sequence_whatever_else_is_drawn_between() -> None:
    alone, mixed = LatencyModel(3), LatencyModel(3)
    expected = [alone.next("dynamodb:GetItem") for _ in range(10)]
    drawn = []
    for _ in range(10):
        mixed.next("s3:PutObject")
        drawn.append(mixed.next("dynamodb:GetItem"))
        mixed.next("sns:Publish")
    assert drawn == expected


@pytest.mark.parametrize("operation", ["dynamodb:GetItem", "s3:GetObject", "firehose:PutRecordBatch"])
def test_the_draws_have_the_figures_median_and_p99(operation: str) -> None:
    model = LatencyModel(11)
    draws = [model.next(operation) * 1000 for _ in range(20_000)]
    figure = FIGURES[operation]
    assert statistics.median(draws) == pytest.approx(figure.median_ms, rel=0.05)
    assert statistics.quantiles(draws, n=100)[98] == pytest.approx(figure.p99_ms, rel=0.1)
    assert min(draws) > 0


def test_an_operation_without_a_figure_takes_its_services_else_the_default() -> None:
    assert figure_for("dynamodb:BatchGetItem") is FIGURES["dynamodb:*"]
    assert figure_for("kms:Decrypt").median_ms == 20


def test_the_switch_in_the_environment_is_a_seed_or_off() -> None:
    assert latency_from_env({}) is None
    assert latency_from_env({LATENCY_ENV: "off"}) is None
    latency = latency_from_env({LATENCY_ENV: "7"})
    assert latency is not None and latency.seed == 7
    with pytest.raises(ValueError, match=LATENCY_ENV):
        latency_from_env({LATENCY_ENV: "fast"})


# ---------------------------------------------------------------------------------------------- calls
def test_a_principals_call_sleeps_its_draw_after_the_service_answered(aws: None) -> None:
    written: list[bool] = []
    sleeper = Sleeper(
        during=lambda: written.append(
            "Item" in client("dynamodb", key="testing").get_item(TableName=TABLE, Key=ITEM)
        )
    )
    latency = AwsLatency(5, sleep=sleeper)
    with delaying(latency):
        client("dynamodb").put_item(TableName=TABLE, Item=ITEM)
        client("dynamodb").get_item(TableName=TABLE, Key=ITEM)
    # each call slept the first draw of its operation's sequence
    assert sleeper.slept == [
        latency.model.nth("dynamodb:PutItem", 0),
        latency.model.nth("dynamodb:GetItem", 0),
    ]
    # the write had happened when its caller was still waiting for the answer (the deployer's read, made
    # during the sleep, found it; and was itself not delayed)
    assert written[0] is True
    tallies = latency.tallies()
    assert set(tallies) == {
        (f"key {PRINCIPAL_KEY}", "dynamodb:PutItem"),
        (f"key {PRINCIPAL_KEY}", "dynamodb:GetItem"),
    }
    assert tallies[(f"key {PRINCIPAL_KEY}", "dynamodb:GetItem")].seconds == sleeper.slept[1]


def test_the_deployers_calls_are_not_delayed(aws: None) -> None:
    sleeper = Sleeper()
    latency = AwsLatency(5, sleep=sleeper)
    with delaying(latency):
        client("dynamodb", key="testing").get_item(TableName=TABLE, Key=ITEM)
        client("s3", key="testing").list_buckets()
    assert sleeper.slept == [] and latency.tallies() == {}


def test_with_iam_off_a_handlers_call_is_its_functions(aws: None) -> None:
    sleeper = Sleeper()
    latency = AwsLatency(5, sleep=sleeper)
    with delaying(latency), invocation_environ({"AWS_LAMBDA_FUNCTION_NAME": "sluice-local-PredictFunction"}):
        client("dynamodb", key="testing").get_item(TableName=TABLE, Key=ITEM)  # the runtime's key
    assert list(latency.tallies()) == [("function sluice-local-PredictFunction", "dynamodb:GetItem")]
    assert sleeper.slept == [latency.model.nth("dynamodb:GetItem", 0)]


def test_each_sdk_attempt_is_a_round_trip_of_its_own_faulted_or_not(aws: None) -> None:
    sleeper = Sleeper()
    latency = AwsLatency(5, sleep=sleeper)
    throttled = FaultInjector(1.0, seed=1, time_scale=0.0, kinds=(THROTTLING,), kill=False)
    with injecting(throttled), delaying(latency), pytest.raises(ClientError):
        client("dynamodb", attempts=3).get_item(TableName=TABLE, Key=ITEM)
    assert len(throttled.faults) == 3
    assert sleeper.slept == [latency.model.nth("dynamodb:GetItem", n) for n in range(3)]


def test_a_disabled_latency_counts_the_calls_and_delays_none(aws: None) -> None:
    sleeper = Sleeper()
    latency = AwsLatency(5, sleep=sleeper, enabled=False)
    with delaying(latency):
        client("dynamodb").get_item(TableName=TABLE, Key=ITEM)
    assert sleeper.slept == []
    assert latency.table() == [
        {
            "principal": f"key {PRINCIPAL_KEY}",
            "operation": "dynamodb:GetItem",
            "calls": 1,
            "added_ms": 0.0,
            "per_call_ms": 0.0,
        }
    ]


def test_no_lock_is_held_while_a_call_sleeps(aws: None) -> None:
    # The first call's sleep waits until a second call, from another thread, has been answered: were a
    # lock held across the sleep, the second call could not finish and the first would time out.
    second_answered = threading.Event()
    waited: list[bool] = []

    def first_sleep() -> None:
        if threading.current_thread() is first:
            waited.append(second_answered.wait(timeout=30))

    latency = AwsLatency(5, sleep=Sleeper(during=first_sleep))
    with delaying(latency):
        first = threading.Thread(
            target=lambda: client("dynamodb").get_item(TableName=TABLE, Key=ITEM), daemon=True
        )
        first.start()
        while latency.tallies() == {}:  # the first call is in its sleep
            threading.Event().wait(0.001)
        client("dynamodb").put_item(TableName=TABLE, Item=ITEM)
        second_answered.set()
        first.join(timeout=30)
    assert waited == [True]
    assert latency.tallies()[(f"key {PRINCIPAL_KEY}", "dynamodb:PutItem")].calls == 1


# ---------------------------------------------------------------------------------------------- other processes
AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=AKIAPERSON/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=00"


@pytest.fixture
def server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


def test_a_call_from_another_process_is_delayed_once_where_moto_takes_it(server: str) -> None:
    sleeper = Sleeper()
    latency = AwsLatency(9, sleep=sleeper)
    with delaying(latency, endpoint_url=server):
        # this process's calls reach the server marked as judged here: the deployer's not delayed, a
        # principal's once (on the client's side)
        client("s3", key="testing", endpoint=server).create_bucket(Bucket="latency-bucket")
        client("s3", endpoint=server).put_object(Bucket="latency-bucket", Key="k", Body=b"x")
        # a request no botocore of this process sent (as from the CLI, the Fargate task, curl)
        request = urllib.request.Request(
            f"{server}/latency-bucket/k", headers={"Authorization": AUTHORIZATION.format("s3")}
        )
        assert urllib.request.urlopen(request, timeout=30).read() == b"x"
    assert set(latency.tallies()) == {
        (f"key {PRINCIPAL_KEY}", "s3:PutObject"),
        (OTHER_PROCESS, "s3:GetObject"),
    }
    assert sleeper.slept == [latency.model.nth("s3:PutObject", 0), latency.model.nth("s3:GetObject", 0)]


def test_a_call_to_another_stacks_server_is_left_to_that_server(server: str) -> None:
    # latency on for the in-process mock (AWS's hostnames): a call to a local server is not this
    # stack's, so it is not judged here, and the server (whose stack it is) delays it as another process's
    sleeper = Sleeper()
    latency = AwsLatency(9, sleep=sleeper)
    with delaying(latency):
        client("s3", key="testing", endpoint=server).list_buckets()
    assert list(latency.tallies()) == [(OTHER_PROCESS, "s3:ListAllMyBuckets")]


# ---------------------------------------------------------------------------------------------- Firehose
def test_firehose_delivers_a_buffer_after_an_s3_puts_round_trip_and_no_producer_waits_for_it() -> None:
    from pathlib import Path

    from sluice.tools.local.firehose.buffers import buffered_delivery
    from sluice.tools.local.firehose.streams import template_streams
    from sluice.tools.local.latency import FIREHOSE_DELIVERY
    from sluice.tools.local.template import load_sam

    sleeper = Sleeper()
    latency = AwsLatency(4, sleep=sleeper)
    with mock_aws(), buffered_delivery() as delivery, delaying(latency):
        client("s3", key="testing").create_bucket(Bucket="artifacts")
        firehose = client("firehose", key="testing")
        root = Path(__file__).resolve().parents[3]
        names = template_streams(firehose, load_sam(root / "template.yaml"), bucket="artifacts")
        record = json.dumps({"model": "m", "request_id": "r", "instance": 0}).encode() + b"\n"
        firehose.put_record_batch(DeliveryStreamName=names["CaptureStream"], Records=[{"Data": record}])
        assert sleeper.slept == []  # the producer (here the deployer) got its answer; nothing written yet
        # When the buffer's interval has passed (its timer, run now)
        (buffer,) = delivery._buffers.values()
        assert buffer.timer is not None
        buffer.timer.cancel()
        buffer.timer.function(*buffer.timer.args)
        # Then Firehose's PutObject took its round trip, and the object is there
        assert list(latency.tallies()) == [(FIREHOSE_DELIVERY, "s3:PutObject")]
        assert sleeper.slept == [latency.model.nth("s3:PutObject", 0)]
        listed = client("s3", key="testing").list_objects_v2(Bucket="artifacts", Prefix="capture/")
        assert len(listed.get("Contents", [])) == 1
