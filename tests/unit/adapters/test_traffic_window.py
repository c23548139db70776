"""The traffic store reads a window without reading what cannot be in it: objects written before the
window starts are not fetched at all, and a label counts only when it was sent inside the window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.adapters.traffic import CLOCK_SKEW, TrafficStore

MODEL = "loans"


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


def test_objects_written_before_the_window_are_not_read(s3: Any) -> None:
    # Given a captured request and its label, written now
    store = TrafficStore("artifacts", s3)
    now = datetime.now(UTC)
    store.write(MODEL, "r1", [{"request_id": "r1", "instance": 0, "time": now.isoformat(), "outputs": {}}])
    store.put_feedback(MODEL, "r1", 0, 1)
    asked = fetches(s3)
    # When a window starting well after them (beyond the clock skew allowed) is read
    later = now + CLOCK_SKEW + timedelta(minutes=1)
    # Then nothing is fetched and nothing is found
    assert store.captured(MODEL, later, later + timedelta(hours=1)) == []
    assert store.feedback(MODEL, later, later + timedelta(hours=1)) == {}
    assert asked == []
    # While a window holding them reads and finds both
    start = now - timedelta(minutes=1)
    assert [r["request_id"] for r in store.captured(MODEL, start, now + timedelta(hours=1))] == ["r1"]
    assert store.feedback(MODEL, start, now + timedelta(hours=1)) == {("r1", 0): 1}
    assert len(asked) == 2


def test_a_label_counts_only_when_it_was_sent_in_the_window(s3: Any) -> None:
    # Given two labels stored today: one sent an hour ago, one now
    store = TrafficStore("artifacts", s3)
    now = datetime.now(UTC)
    day = f"feedback/{MODEL}/dt={now:%Y-%m-%d}"
    early = {"request_id": "old", "instance": 0, "label": 0, "time": (now - timedelta(hours=1)).isoformat()}
    s3.put_object(Bucket="artifacts", Key=f"{day}/old-0.json", Body=json.dumps(early).encode())
    store.put_feedback(MODEL, "new", 0, 1)
    # When the last ten minutes are read / Then only the label sent in them counts
    assert store.feedback(MODEL, now - timedelta(minutes=10), now + timedelta(minutes=1)) == {("new", 0): 1}
    # And the whole day holds both
    assert len(store.feedback(MODEL, now - timedelta(hours=2), now + timedelta(minutes=1))) == 2
