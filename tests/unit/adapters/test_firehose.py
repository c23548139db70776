"""The Firehose sinks on moto, with the local stack's Firehose emulation (buffering, deaggregation,
dynamic partitioning, gzip): one request's lines travel in as few records as Firehose's limits allow,
calls stay within PutRecordBatch's limits, only refused records are sent again, and a line too large
for Firehose is an error naming it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.adapters.firehose import RECORD_BYTES, FirehoseTraffic
from sluice.errors import StackError
from sluice.tools.local.firehose.buffers import DeliveryBuffers, buffered_delivery
from sluice.tools.local.firehose.streams import template_streams
from sluice.tools.local.template import load_sam

BUCKET = "artifacts"
CAPTURE, FEEDBACK = "sluice-capture", "sluice-feedback"  # the template's names, for stack "sluice"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def world() -> Iterator[tuple[Any, Any, DeliveryBuffers]]:
    """moto with the artifact bucket and the two streams created from template.yaml's own declarations."""
    with mock_aws(), buffered_delivery() as delivery:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        firehose = boto3.client("firehose", region_name="us-east-1")
        names = template_streams(firehose, load_sam(ROOT / "template.yaml"), bucket=BUCKET)
        assert (names["CaptureStream"], names["FeedbackStream"]) == (CAPTURE, FEEDBACK)
        yield s3, firehose, delivery


def calls(firehose: Any) -> list[list[int]]:
    """The size of each record of every later PutRecordBatch call of this client."""
    seen: list[list[int]] = []
    firehose.meta.events.register(
        "provide-client-params.firehose.PutRecordBatch",
        lambda params, **_: seen.append([len(r["Data"]) for r in params["Records"]]),
    )
    return seen


def delivered(s3: Any, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every object under `prefix`, as its JSON lines."""
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: [
            json.loads(line)
            for line in gzip.decompress(
                s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
            ).splitlines()
        ]
        for o in objects
    }


def lines(model: str, request_id: str, count: int, pad: int = 0) -> list[dict[str, Any]]:
    return [{"model": model, "request_id": request_id, "instance": i, "pad": "x" * pad} for i in range(count)]


def test_a_request_travels_in_few_records_and_arrives_as_one_object_per_model(world: Any) -> None:
    s3, firehose, delivery = world
    sink = FirehoseTraffic(CAPTURE, FEEDBACK, firehose, backoff_seconds=0)
    sent = calls(firehose)
    # When a request of 1,200 instances and two small ones of another model are captured
    sink.write("loans", "big", lines("loans", "big", 1200))
    sink.write("prices", "p1", lines("prices", "p1", 1))
    sink.write("prices", "p2", lines("prices", "p2", 2))
    # Then the big one is one call of 3 records (500 lines per record at most), each small one 1 record
    assert [len(call) for call in sent] == [3, 1, 1]
    # And nothing is in the bucket until the buffer interval passes
    assert delivered(s3, "capture/") == {}
    assert delivery.flush() == 2
    # Then one gzip object per model under the contract's keys, every line once, in order
    objects = delivered(s3, "capture/")
    by_model = {key.split("/")[1]: rows for key, rows in objects.items()}
    assert [r["instance"] for r in by_model["loans"]] == list(range(1200))
    assert [(r["request_id"], r["instance"]) for r in by_model["prices"]] == [("p1", 0), ("p2", 0), ("p2", 1)]
    for key in objects:
        assert key.split("/")[2].startswith("dt=") and key.split("/")[3].startswith("hour=")
        assert key.split("/")[4].startswith(f"{CAPTURE}-1-") and key.endswith(".gz")


def test_calls_stay_within_put_record_batch_limits(world: Any) -> None:
    s3, firehose, delivery = world
    sink = FirehoseTraffic(CAPTURE, FEEDBACK, firehose, backoff_seconds=0)
    sent = calls(firehose)
    # When a request's lines are ~900 KiB each (one record each) / Then calls carry at most 4 MiB as
    # sent (base64: 1.2 MiB a record)
    sink.write("loans", "wide", lines("loans", "wide", 9, pad=900 * 1024))
    assert [len(call) for call in sent] == [3, 3, 3]
    assert all(
        sum(4 * -(-n // 3) for n in call) <= 4 * 1024 * 1024 and max(call) <= RECORD_BYTES for call in sent
    )
    delivery.flush()
    assert [r["instance"] for rows in delivered(s3, "capture/").values() for r in rows] == list(range(9))
    # When one line alone is over Firehose's 1,000 KiB / Then an error names it and nothing is sent
    with pytest.raises(StackError, match="request huge line 1 is"):
        sink.write(
            "loans", "huge", [lines("loans", "huge", 1)[0], *lines("loans", "huge", 1, pad=RECORD_BYTES)]
        )
    assert len(sent) == 3


def test_only_refused_records_are_sent_again_a_bounded_number_of_times(world: Any) -> None:
    s3, firehose, delivery = world
    sink = FirehoseTraffic(CAPTURE, FEEDBACK, firehose, backoff_seconds=0)
    sent = calls(firehose)
    # Given a stream that refuses the next record (FailedPutCount 1)
    delivery.refuse(CAPTURE, 1)
    # When a request of 3 records is captured / Then the refused one alone is sent again, and all arrive
    sink.write("loans", "r1", lines("loans", "r1", 1200))
    assert [len(call) for call in sent] == [3, 1]
    delivery.flush()
    assert sorted(r["instance"] for rows in delivered(s3, "capture/").values() for r in rows) == list(
        range(1200)
    )
    # Given a stream that keeps refusing / Then a StackError after 3 attempts, naming Firehose's error
    delivery.refuse(FEEDBACK, 100)
    with pytest.raises(
        StackError, match=r"refused 1 of 1 record.*after 3 attempts: ServiceUnavailableException"
    ):
        sink.put_feedback("loans", "r1", 0, 1)
    assert len(sent) == 5
    # And a label that gets through is one line with its receipt time, under feedback/<model>/
    delivery.refuse(FEEDBACK, 0)
    sink.put_feedback("loans", "r1", 0, "yes")
    delivery.flush()
    [labels] = delivered(s3, "feedback/loans/").values()
    assert [(f["model"], f["request_id"], f["instance"], f["label"]) for f in labels] == [
        ("loans", "r1", 0, "yes")
    ]
    assert labels[0]["time"].endswith("+00:00")


def test_a_missing_stream_is_a_stack_error(world: Any) -> None:
    _, firehose, _ = world
    sink = FirehoseTraffic("no-such-stream", FEEDBACK, firehose, backoff_seconds=0)
    with pytest.raises(StackError, match="ResourceNotFoundException"):
        sink.write("loans", "r1", lines("loans", "r1", 1))


def test_a_full_buffer_is_written_at_once_and_unpartitionable_records_go_to_the_error_prefix(
    world: Any,
) -> None:
    s3, firehose, delivery = world
    # Given a stream like the capture stream whose buffer holds 1 MB
    config = firehose.describe_delivery_stream(DeliveryStreamName=CAPTURE)["DeliveryStreamDescription"]
    destination = config["Destinations"][0]["ExtendedS3DestinationDescription"]
    firehose.create_delivery_stream(
        DeliveryStreamName="small",
        ExtendedS3DestinationConfiguration={
            **{k: destination[k] for k in ("BucketARN", "RoleARN", "Prefix", "ErrorOutputPrefix")},
            "BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 1},
            "CompressionFormat": "GZIP",
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": destination["ProcessingConfiguration"],
        },
    )
    sink = FirehoseTraffic("small", FEEDBACK, firehose, backoff_seconds=0)
    # When a bit more than 1 MB of one model's lines arrive / Then they are in the bucket without a flush
    sink.write("loans", "r1", lines("loans", "r1", 11, pad=100 * 1024))
    assert [len(rows) for rows in delivered(s3, "capture/loans/").values()] == [11]
    # When a record has no `model` to partition on / Then it goes, whole, to the error output
    firehose.put_record_batch(DeliveryStreamName="small", Records=[{"Data": b'{"request_id": "x"}'}])
    delivery.flush()
    [errors] = delivered(s3, "capture-errors/partitioning-failed/").values()
    assert [e["errorCode"] for e in errors] == ["DynamicPartitioning.MetadataExtractionFailed"]
    assert delivered(s3, "capture/").keys() == delivered(s3, "capture/loans/").keys()
