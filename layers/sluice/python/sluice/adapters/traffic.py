"""Reads captured traffic and feedback back from the artifact bucket, where the Firehose delivery
streams put them (adapters/firehose.py writes): `capture/<model>/dt=YYYY-MM-DD/hour=HH/<stream>-….gz`
and `feedback/<model>/dt=YYYY-MM-DD/hour=HH/<stream>-….gz`, gzip JSON lines, one line per captured
instance or label; dt/hour are when Firehose delivered the object, not the records' own times."""

from __future__ import annotations

import gzip
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sluice.adapters import aws_call, client
from sluice.domain.monitoring.capture_window import CapturedWindow, LabelKey, WindowTally, latest_labels
from sluice.errors import ArtifactCorrupt

# A record's object is delivered up to Firehose's largest buffer interval (900 s) after its time, into
# that later hour's partition; clocks may also disagree by this much.
MAX_BUFFER_INTERVAL = timedelta(seconds=900)
CLOCK_SKEW = timedelta(minutes=5)
READERS = 10  # concurrent GETs (boto3 clients are thread-safe; botocore pools 10 connections)
# Objects fetched (and decompressed) ahead of the one being read: at most this many, and at most this
# many compressed bytes between them beyond the first (~4-5× that decompressed, JSON lines gzip well).
# Many small objects keep every reader busy; a few large ones (Firehose buffers up to 128 MiB) cannot
# fill memory.
READ_AHEAD = 32
READ_AHEAD_BYTES = 64 * 2**20
GZIP_MAGIC = b"\x1f\x8b"


class TrafficStore:
    """Reads captured requests and their labels back by time window."""

    def __init__(self, bucket: str, s3: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3 or client("s3")

    def window(
        self, model: str, start: datetime, end: datetime, *, max_rows: int, version: int | None = None
    ) -> CapturedWindow:
        """The captured traffic of `model` in [start, end), read in bounded memory: a uniform sample of
        at most `max_rows` records (of `version` only, when given), exact counts, and every labelled
        record joined with the latest label sent in the window (see `CapturedWindow`). Labels are read
        first, whole; capture objects are then fetched READERS at a time, a bounded number of them
        held, and fed to the sample in key order, so the same objects give the same sample anywhere.
        With `max_rows` 0 (labelled rows only) and no label in the window, capture is not read at all:
        the rows it counts are then 0 (a rollout check every few minutes must not read a day of
        traffic for nothing)."""
        labels = latest_labels(self._lines("feedback", model, start, end), start, end)
        tally = WindowTally(model, start, end, max_rows, labels, version)
        if max_rows == 0 and not labels:
            return tally.result()
        for body in self._bodies(self._window_keys("capture", model, start, end)):
            tally.add_object(body)
        return tally.result()

    def window_objects(self, model: str, start: datetime, end: datetime) -> list[tuple[str, int]]:
        """The capture objects `window` reads for [start, end): (key, size), in key order."""
        return self._window_keys("capture", model, start, end)

    def window_labels(self, model: str, start: datetime, end: datetime) -> dict[LabelKey, Any]:
        """The labels sent in [start, end), the latest of each (request_id, instance)."""
        return latest_labels(self._lines("feedback", model, start, end), start, end)

    def read_objects(self, objects: Sequence[tuple[str, int]]) -> Iterator[tuple[str, bytes]]:
        """Each object's key and decompressed body, in the order given, READERS at a time and at most
        READ_AHEAD of them (READ_AHEAD_BYTES of the sizes given) waiting to be read."""
        keys = [key for key, _ in objects]
        yield from zip(keys, self._bodies(list(objects)), strict=True)

    def _window_keys(self, kind: str, model: str, start: datetime, end: datetime) -> list[tuple[str, int]]:
        """Keys (and sizes) of the `kind` objects of `model` that can hold a record of [start, end), in
        key order: those in the hour partitions Firehose may have delivered them to (its arrival hour,
        up to the largest buffer interval after a record's time, give or take clock skew)."""
        first = (start - CLOCK_SKEW).replace(minute=0, second=0, microsecond=0)
        last = end + MAX_BUFFER_INTERVAL + CLOCK_SKEW
        hours = []
        while first <= last:
            hours.append(f"{kind}/{model}/dt={first:%Y-%m-%d}/hour={first:%H}/")
            first += timedelta(hours=1)
        with ThreadPoolExecutor(max_workers=min(READERS, len(hours))) as pool:
            return sorted(key for keys in pool.map(self._list, hours) for key in keys)

    def _list(self, prefix: str) -> list[tuple[str, int]]:
        paginator = self._s3.get_paginator("list_objects_v2")
        with aws_call(f"list s3://{self.bucket}/{prefix}"):
            return [
                (item["Key"], int(item.get("Size", 0)))
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for item in page.get("Contents", [])
            ]

    def _fetch(self, key: str) -> bytes:
        """One object's JSON lines: gunzipped (every gzip member) when the object is gzip."""
        with aws_call(f"get s3://{self.bucket}/{key}"):
            data: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if data[:2] == GZIP_MAGIC:
            try:
                return gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise ArtifactCorrupt(f"s3://{self.bucket}/{key} is not a whole gzip file: {exc}") from exc
        return data

    def _bodies(self, objects: list[tuple[str, int]]) -> Iterator[bytes]:
        """The objects' decompressed bodies in key order, fetched (and gunzipped: zlib lets go of the
        GIL) READERS at a time, never more than READ_AHEAD of them, nor READ_AHEAD_BYTES of compressed
        bytes beyond the first, waiting to be read."""
        if not objects:
            return
        with ThreadPoolExecutor(max_workers=min(READERS, len(objects))) as pool:
            pending: deque[tuple[Future[bytes], int]] = deque()
            waiting = deque(objects)
            in_flight = 0
            try:
                while pending or waiting:
                    while waiting and (
                        not pending
                        or (len(pending) < READ_AHEAD and in_flight + waiting[0][1] <= READ_AHEAD_BYTES)
                    ):
                        key, size = waiting.popleft()
                        pending.append((pool.submit(self._fetch, key), size))
                        in_flight += size
                    future, size = pending.popleft()
                    in_flight -= size
                    yield future.result()
            finally:
                for future, _ in pending:
                    future.cancel()

    def _lines(self, kind: str, model: str, start: datetime, end: datetime) -> Iterator[bytes]:
        for body in self._bodies(self._window_keys(kind, model, start, end)):
            yield from body.split(b"\n")
