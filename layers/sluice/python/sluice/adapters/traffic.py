"""Captured traffic and ground-truth feedback on S3: `capture/<model>/dt=YYYY-MM-DD/*.jsonl.gz` and
`feedback/<model>/dt=YYYY-MM-DD/<request_id>-<instance>.json`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sluice.adapters import aws_call, client


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
        """One gzip JSON-lines object per invocation."""
        now = datetime.now(UTC)
        key = f"capture/{model}/dt={now:%Y-%m-%d}/{now:%H%M%S%f}-{request_id}.jsonl.gz"
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
            )

    def put_feedback(self, model: str, request_id: str, instance: int, label: Any) -> str:
        now = datetime.now(UTC)
        key = f"feedback/{model}/dt={now:%Y-%m-%d}/{request_id}-{instance}.json"
        body = json.dumps(
            {"request_id": request_id, "instance": instance, "label": label, "time": now.isoformat()}
        )
        with aws_call(f"feedback to s3://{self.bucket}/{key}"):
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json"
            )
        return f"s3://{self.bucket}/{key}"

    def _keys(self, prefix: str) -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        with aws_call(f"list s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]

    def _get(self, key: str) -> bytes:
        with aws_call(f"get s3://{self.bucket}/{key}"):
            data: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def captured(self, model: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Captured records of `model` whose time is in [start, end)."""
        records: list[dict[str, Any]] = []
        for day in _days(start, end):
            for key in self._keys(f"capture/{model}/dt={day:%Y-%m-%d}/"):
                for line in gzip.decompress(self._get(key)).decode().splitlines():
                    record = json.loads(line)
                    if start <= datetime.fromisoformat(record["time"]) < end:
                        records.append(record)
        return records

    def feedback(self, model: str, start: datetime, end: datetime) -> dict[tuple[str, int], Any]:
        """Labels sent for `model` in the window, keyed by (request_id, instance)."""
        labels: dict[tuple[str, int], Any] = {}
        for day in _days(start, end):
            for key in self._keys(f"feedback/{model}/dt={day:%Y-%m-%d}/"):
                item = json.loads(self._get(key))
                labels[(str(item["request_id"]), int(item.get("instance", 0)))] = item["label"]
        return labels
