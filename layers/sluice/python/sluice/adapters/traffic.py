"""Captured traffic and ground-truth feedback on S3: `capture/<model>/dt=YYYY-MM-DD/<request_id>.jsonl.gz`
(the number of instances in the object's metadata, so feedback can find a captured request with one
HEAD per day) and `feedback/<model>/dt=YYYY-MM-DD/<request_id>-<instance>.json`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters import aws_call, client, error_code

INSTANCES_METADATA = "instances"
# An object last written before a window starts holds no record of it (a record's time is taken before
# its PUT); this much allows for clocks that disagree.
CLOCK_SKEW = timedelta(minutes=5)
READERS = 16  # concurrent GETs when reading a window back (boto3 clients are thread-safe)


def _days(start: datetime, end: datetime) -> Iterator[date]:
    day = start.date()
    while day <= end.date():
        yield day
        day += timedelta(days=1)


class TrafficStore:
    """Writes and reads captured requests and feedback in the artifact bucket."""

    def __init__(self, bucket: str, s3: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3 or client("s3")

    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None:
        """One gzip JSON-lines object per invocation, named by its request id."""
        now = datetime.now(UTC)
        key = self._capture_key(model, now.date(), request_id)
        body = gzip.compress(
            "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode(), mtime=0
        )
        with aws_call(f"capture to s3://{self.bucket}/{key}"):
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
                Metadata={INSTANCES_METADATA: str(len(records))},
            )

    @staticmethod
    def _capture_key(model: str, day: date, request_id: str) -> str:
        return f"capture/{model}/dt={day:%Y-%m-%d}/{request_id}.jsonl.gz"

    def captured_instances(self, model: str, request_id: str, days: int = 2) -> int | None:
        """How many instances the captured request `request_id` of `model` had, looking at the last
        `days` days of capture (one HEAD each, newest first); None when it was not captured."""
        today = datetime.now(UTC).date()
        for back in range(days):
            key = self._capture_key(model, today - timedelta(days=back), request_id)
            try:
                head = self._s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                    continue
                with aws_call(f"head s3://{self.bucket}/{key}"):
                    raise
            count = head.get("Metadata", {}).get(INSTANCES_METADATA)
            return int(count) if count and count.isdigit() else 0
        return None

    def put_feedback(
        self, model: str, request_id: str, instance: int, label: Any, matched: bool | None = None
    ) -> str:
        """Store one label; `matched` says whether its request was found in captured traffic. The
        request id must already be checked (it becomes part of the key)."""
        now = datetime.now(UTC)
        key = f"feedback/{model}/dt={now:%Y-%m-%d}/{request_id}-{instance}.json"
        record = {"request_id": request_id, "instance": instance, "label": label, "time": now.isoformat()}
        body = json.dumps(record if matched is None else record | {"matched": matched})
        with aws_call(f"feedback to s3://{self.bucket}/{key}"):
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json"
            )
        return f"s3://{self.bucket}/{key}"

    def _keys(self, prefix: str, since: datetime) -> Iterator[str]:
        """Keys under `prefix` of objects written since `since` (less CLOCK_SKEW): the others cannot
        hold a record of a window starting then, and are not read."""
        paginator = self._s3.get_paginator("list_objects_v2")
        with aws_call(f"list s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["LastModified"] >= since - CLOCK_SKEW:
                        yield item["Key"]

    def _get(self, key: str) -> bytes:
        with aws_call(f"get s3://{self.bucket}/{key}"):
            data: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def _read(self, kind: str, model: str, start: datetime, end: datetime) -> Iterator[bytes]:
        """The bodies of `kind` (capture or feedback) objects of `model` that may hold records of the
        window, in key order, fetched READERS at a time (S3 answers each GET in tens of ms)."""
        keys = [
            key
            for day in _days(start, end)
            for key in self._keys(f"{kind}/{model}/dt={day:%Y-%m-%d}/", start)
        ]
        if len(keys) < 2:
            yield from map(self._get, keys)
            return
        with ThreadPoolExecutor(max_workers=min(READERS, len(keys))) as pool:
            yield from pool.map(self._get, keys)

    def captured(self, model: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Captured records of `model` whose time is in [start, end)."""
        records: list[dict[str, Any]] = []
        for body in self._read("capture", model, start, end):
            for line in gzip.decompress(body).decode().splitlines():
                record = json.loads(line)
                if start <= datetime.fromisoformat(record["time"]) < end:
                    records.append(record)
        return records

    def feedback(self, model: str, start: datetime, end: datetime) -> dict[tuple[str, int], Any]:
        """Labels sent for `model` in [start, end), keyed by (request_id, instance)."""
        labels: dict[tuple[str, int], Any] = {}
        for body in self._read("feedback", model, start, end):
            item = json.loads(body)
            sent = item.get("time")
            if sent is None or start <= datetime.fromisoformat(sent) < end:
                labels[(str(item["request_id"]), int(item.get("instance", 0)))] = item["label"]
        return labels
