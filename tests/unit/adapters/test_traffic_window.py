"""The traffic store reads a window of the layout the Firehose streams deliver (gzip JSON lines under
capture|feedback/<model>/dt=YYYY-MM-DD/hour=HH/): only the hour partitions that can hold the window,
a record late into a later partition included, each record filtered by its own time."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.adapters.traffic import TrafficStore

MODEL = "loans"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="artifacts")
        yield client


def fetches(s3: Any) -> list[str]:
    """The keys every later GetObject of this client asks for."""
    asked: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: asked.append(params["Key"])
    )
    return asked


def deliver(s3: Any, kind: str, arrived: datetime, lines: list[dict[str, Any]], *, members: int = 1) -> str:
    """One object as the stream delivers it at `arrived`: `members` gzip members of JSON lines."""
    key = (
        f"{kind}/{MODEL}/dt={arrived:%Y-%m-%d}/hour={arrived:%H}/"
        f"sluice-{kind}-1-{arrived:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"
    )
    text = [json.dumps(line, separators=(",", ":")) + "\n" for line in lines]
    step = -(-len(text) // members)
    body = b"".join(gzip.compress("".join(text[i : i + step]).encode()) for i in range(0, len(text), step))
    s3.put_object(Bucket="artifacts", Key=key, Body=body)
    return key


def records(ids: range, at: datetime, version: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "request_id": f"r{i}",
            "instance": 0,
            "time": at.isoformat(),
            "model": MODEL,
            "version": version,
            "inputs": {"x": i},
            "outputs": {"prediction": i % 2},
        }
        for i in ids
    ]


def test_a_window_reads_its_partitions_and_a_late_one_filtering_each_record_by_its_time(s3: Any) -> None:
    # Given capture delivered before the window (hour 08), in it (hours 09 late and 10, two gzip
    # members), late into hour 11 (records of 10:58 delivered at 11:06), after it (11:03 records,
    # hour 11 too) and hours later (hour 14, out of reach of any buffer)
    store = TrafficStore("artifacts", s3)
    at = START.replace
    early = deliver(s3, "capture", at(hour=8, minute=10), records(range(0, 10), at(hour=8, minute=5)))
    deliver(s3, "capture", at(hour=9, minute=59), records(range(10, 20), at(hour=9, minute=57)))
    deliver(s3, "capture", at(minute=30), records(range(20, 120), at(minute=29), version=2), members=3)
    deliver(s3, "capture", at(hour=11, minute=6), records(range(120, 150), at(minute=58)))
    deliver(s3, "capture", at(hour=11, minute=6), records(range(150, 160), at(hour=11, minute=3)))
    late = deliver(s3, "capture", at(hour=14), records(range(160, 170), at(minute=40)))
    asked = fetches(s3)
    # When the window 10:00-11:00 is read with a sample of at most 50 rows
    window = store.window(MODEL, START, END, max_rows=50)
    # Then only the rows timed in the window count, wherever they were delivered
    assert window.rows == 130 and window.rows_by_version == {1: 30, 2: 100}
    assert len(window.sample) == 50 and window.sampled_from == 130
    assert {r["request_id"] for r in window.sample} <= {f"r{i}" for i in range(20, 150)}
    # And the partitions that cannot hold the window were never read: not before it (less the clock
    # skew), not beyond its end plus Firehose's largest buffer interval
    assert early not in asked and late not in asked
    assert len(asked) == 4 == window.objects
    # And the same objects give the same sample again; a version's sample holds only its rows
    assert store.window(MODEL, START, END, max_rows=50).sample == window.sample
    version_1 = store.window(MODEL, START, END, max_rows=50, version=1)
    assert len(version_1.sample) == 30 and {r["version"] for r in version_1.sample} == {1}
    assert not version_1.is_sample


def test_labels_join_the_window_latest_first_and_unmatched_ones_are_counted(s3: Any) -> None:
    # Given 20 captured rows, and labels: r1 sent twice (the later one says 0), r2, one for a request
    # never captured, and one sent before the window
    store = TrafficStore("artifacts", s3)
    deliver(s3, "capture", START + timedelta(minutes=20), records(range(20), START + timedelta(minutes=15)))

    def label(request_id: str, value: int, minutes: int) -> dict[str, Any]:
        sent = START + timedelta(minutes=minutes)
        return {
            "model": MODEL,
            "request_id": request_id,
            "instance": 0,
            "label": value,
            "time": sent.isoformat(),
        }

    deliver(s3, "feedback", START + timedelta(minutes=25), [label("r1", 1, 16), label("r2", 1, 17)])
    deliver(s3, "feedback", START + timedelta(minutes=50), [label("r1", 0, 40), label("ghost", 1, 41)])
    deliver(s3, "feedback", START - timedelta(minutes=1), [label("r3", 1, -2)])
    # When the window is read without a sample
    window = store.window(MODEL, START, END, max_rows=0)
    # Then both labelled rows come back with their latest labels; the label of no captured row is
    # counted as unmatched and the label sent before the window is not counted
    assert window.sample == [] and window.rows == 20
    assert [r["request_id"] for r in window.labelled] == ["r1", "r2"]
    assert window.labels == {("r1", 0): 0, ("r2", 0): 1}
    assert (window.label_count, window.unmatched_labels) == (3, 1)


def test_an_empty_window_reads_nothing(s3: Any) -> None:
    # Given no capture at all / When a window is read / Then it is empty and nothing was fetched
    asked = fetches(s3)
    window = TrafficStore("artifacts", s3).window(MODEL, START, END, max_rows=10)
    assert (window.rows, window.sample, window.labelled, asked) == (0, [], [], [])


def test_labelled_rows_only_without_a_label_reads_no_capture(s3: Any) -> None:
    # Given 20 captured rows in the window and no label sent
    deliver(s3, "capture", START + timedelta(minutes=20), records(range(20), START + timedelta(minutes=15)))
    asked = fetches(s3)
    # When a rollout check asks for the labelled rows only (max_rows 0)
    window = TrafficStore("artifacts", s3).window(MODEL, START, END, max_rows=0)
    # Then nothing is fetched and nothing is labelled; with a sample asked for, the capture is read
    assert (window.labelled, window.label_count, asked) == ([], 0, [])
    assert TrafficStore("artifacts", s3).window(MODEL, START, END, max_rows=5).rows == 20


def test_a_window_s_objects_are_listed_and_read_by_key_as_the_window_reads_them(s3: Any) -> None:
    # Given capture in the window's hour and late into the next, and feedback for one record
    store = TrafficStore("artifacts", s3)
    at = START.replace
    first = deliver(s3, "capture", at(minute=30), records(range(0, 50), at(minute=29)), members=2)
    late = deliver(s3, "capture", at(hour=11, minute=6), records(range(50, 60), at(minute=58)))
    deliver(
        s3,
        "feedback",
        at(minute=40),
        [{"request_id": "r3", "instance": 0, "label": 1, "time": at(minute=35).isoformat()}],
    )
    # When the window's objects are listed, its labels read, and the objects read back in a given order
    objects = store.window_objects(MODEL, START, END)
    labels = store.window_labels(MODEL, START, END)
    read = list(store.read_objects(list(reversed(objects))))
    # Then the objects are the window's, in key order, with their sizes
    sizes = {key: s3.head_object(Bucket="artifacts", Key=key)["ContentLength"] for key in (first, late)}
    assert objects == sorted(sizes.items())
    # And each is read whole (every gzip member), in the order asked, beside its key
    assert [key for key, _ in read] == [late, first]
    assert [len(body.splitlines()) for _, body in read] == [10, 50]
    # And the labels are the window's, by (request_id, instance)
    assert labels == {("r3", 0): 1}
