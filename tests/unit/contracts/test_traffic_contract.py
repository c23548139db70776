"""The traffic ports' contract (TrafficSink, where PredictFunction sends captured requests and labels;
Traffic, where a window of them is read back), kept alike by the in-memory traffic of the use-case tests
and the Firehose streams into the artifact bucket read back by the traffic store (on moto, the streams
created from template.yaml and delivered by the local stack's Firehose emulation): every record of the
window counted, by version, the sample bounded, and each labelled record joined with its latest label."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from sluice.adapters.firehose import FirehoseTraffic
from sluice.adapters.traffic import TrafficStore
from sluice.app.ports import Traffic, TrafficSink
from sluice.tools.local.firehose.buffers import buffered_delivery
from sluice.tools.local.firehose.streams import template_streams
from sluice.tools.local.template import load_sam
from tests.unit.app.fakes import InMemoryTraffic
from tests.unit.contracts.conftest import IMPLEMENTATIONS, aws_client

BUCKET = "artifacts"
ROOT = Path(__file__).resolve().parents[3]
MODEL = "loans"


@dataclass
class World:
    """Both ports, and `deliver`: what the streams' buffer interval does (nothing, in memory)."""

    sink: TrafficSink
    traffic: Traffic
    deliver: Callable[[], None]


@pytest.fixture(params=IMPLEMENTATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        fake = InMemoryTraffic()
        yield World(fake, fake, lambda: None)
        return
    with mock_aws(), buffered_delivery() as delivery:
        s3 = aws_client("s3")
        s3.create_bucket(Bucket=BUCKET)
        firehose = aws_client("firehose")
        names = template_streams(firehose, load_sam(ROOT / "template.yaml"), bucket=BUCKET)
        sink = FirehoseTraffic(names["CaptureStream"], names["FeedbackStream"], firehose, backoff_seconds=0)

        def deliver() -> None:
            delivery.flush()  # the streams' buffer interval passes: they write their objects

        yield World(sink, TrafficStore(BUCKET, s3), deliver)


def captured(
    request_id: str, instances: int, version: int, at: datetime, model: str = MODEL
) -> list[dict[str, Any]]:
    """One request's capture records, one per instance, as PredictFunction writes them."""
    return [
        {
            "model": model,
            "version": version,
            "request_id": request_id,
            "instance": i,
            "time": at.isoformat(),
            "inputs": {"income": 1000 * i},
            "outputs": {"prediction": i % 2},
        }
        for i in range(instances)
    ]


def window_now() -> tuple[datetime, datetime, datetime]:
    now = datetime.now(UTC)
    return now, now - timedelta(hours=1), now + timedelta(hours=1)


def test_a_window_counts_every_record_and_bounds_its_sample(world: World) -> None:
    now, start, end = window_now()
    # Given requests of two versions captured now, one an hour before the window, one of another model
    world.sink.write(MODEL, "r1", captured("r1", 3, 1, now))
    world.sink.write(MODEL, "r2", captured("r2", 2, 2, now))
    world.sink.write(MODEL, "old", captured("old", 4, 1, start - timedelta(minutes=30)))
    world.sink.write("prices", "p1", captured("p1", 5, 1, now, model="prices"))
    world.deliver()
    # When the window is read with room for every record, and for two
    whole = world.traffic.window(MODEL, start, end, max_rows=100)
    small = world.traffic.window(MODEL, start, end, max_rows=2)
    # Then both count the window's records exactly, by version, and nothing is labelled
    for read in (whole, small):
        assert (read.rows, read.rows_by_version, read.sampled_from) == (5, {1: 3, 2: 2}, 5)
        assert read.labelled == [] and read.label_count == 0 and read.unmatched_labels == 0
    # And the whole sample holds each record as captured, the small one two of them
    assert sorted((r["request_id"], r["instance"]) for r in whole.sample) == [
        ("r1", 0),
        ("r1", 1),
        ("r1", 2),
        ("r2", 0),
        ("r2", 1),
    ]
    written = captured("r1", 3, 1, now) + captured("r2", 2, 2, now)
    assert all(record in written for record in whole.sample + small.sample)
    assert len(small.sample) == 2 and small.is_sample and not whole.is_sample


def test_a_window_of_one_version_samples_that_version_only(world: World) -> None:
    now, start, end = window_now()
    # Given requests of versions 1 and 2
    world.sink.write(MODEL, "r1", captured("r1", 3, 1, now))
    world.sink.write(MODEL, "r2", captured("r2", 2, 2, now))
    world.deliver()
    # When version 2's window is read
    read = world.traffic.window(MODEL, start, end, max_rows=100, version=2)
    # Then its sample is version 2's records, the counts still every version's
    assert sorted((r["request_id"], r["version"]) for r in read.sample) == [("r2", 2), ("r2", 2)]
    assert (read.sampled_from, read.rows, read.rows_by_version) == (2, 5, {1: 3, 2: 2})


def test_labelled_records_are_joined_with_their_latest_label(world: World) -> None:
    now, start, end = window_now()
    # Given a request of two instances, the first labelled twice and a label for a request never captured
    world.sink.write(MODEL, "r1", captured("r1", 2, 1, now))
    world.sink.put_feedback(MODEL, "r1", 0, "no")
    world.sink.put_feedback(MODEL, "r1", 0, "yes")
    world.sink.put_feedback(MODEL, "ghost", 0, "yes")
    world.deliver()
    # When the window is read for labelled records only
    read = world.traffic.window(MODEL, start, end, max_rows=0)
    # Then the labelled instance comes with its latest label, the ghost label is counted unmatched
    assert read.labels == {("r1", 0): "yes"}
    assert [(r["request_id"], r["instance"]) for r in read.labelled] == [("r1", 0)]
    assert (read.label_count, read.unmatched_labels, read.rows, read.sample) == (2, 1, 2, [])


def test_an_empty_window_reads_nothing(world: World) -> None:
    _, start, end = window_now()
    # Given nothing captured, When a window is read, Then it is empty
    read = world.traffic.window(MODEL, start, end, max_rows=10)
    assert (read.rows, read.rows_by_version, read.sample, read.labelled, read.labels) == (0, {}, [], [], {})
