"""Captured requests and feedback sent to Amazon Data Firehose delivery streams, which buffer them into
large gzip JSON-lines objects in the artifact bucket (`capture/<model>/dt=…/hour=…/`,
`feedback/<model>/dt=…/hour=…/`; the streams' prefixes and partitioning are in template.yaml).

Firehose bills each record it ingests rounded up to 5 KB, so one request's lines travel together in as
few records as its limits allow: at most DEAGGREGATION_LIMIT lines (the streams split records back into
lines with multi-record deaggregation, JSON type, capped at 500 per record) and RECORD_BYTES each."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sluice.adapters import aws_call, client
from sluice.errors import StackError

# PutRecordBatch's limits (Firehose quotas): records and bytes per call, bytes per record (before
# base64). https://docs.aws.amazon.com/firehose/latest/dev/limits.html
BATCH_RECORDS = 500
BATCH_BYTES = 4 * 1024 * 1024
RECORD_BYTES = 1000 * 1024
DEAGGREGATION_LIMIT = 500  # lines one record may carry to be split back by the stream
ATTEMPTS = 3  # tries of a record Firehose reports as failed (FailedPutCount) before giving up


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def pack_lines(lines: list[bytes], what: str) -> list[bytes]:
    """Firehose records of `lines` (JSON objects without newlines), in order: each carries at most
    DEAGGREGATION_LIMIT lines joined by newlines, and at most RECORD_BYTES. Raises StackError naming
    the line (by `what` and its index) when one alone is larger than a record may be."""
    packed: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for i, line in enumerate(lines):
        if len(line) > RECORD_BYTES:
            raise StackError(
                f"{what} line {i} is {len(line)} bytes: Firehose takes records of at most {RECORD_BYTES}"
            )
        if current and (len(current) == DEAGGREGATION_LIMIT or size + 1 + len(line) > RECORD_BYTES):
            packed.append(b"\n".join(current))
            current, size = [], 0
        size += len(line) + (1 if current else 0)
        current.append(line)
    if current:
        packed.append(b"\n".join(current))
    return packed


def sent_size(record: bytes) -> int:
    """A record's bytes in the request: base64, as the JSON protocol sends blobs."""
    return 4 * -(-len(record) // 3)


def batches(records: list[bytes]) -> Iterator[list[bytes]]:
    """`records` in order, cut into PutRecordBatch calls within BATCH_RECORDS and BATCH_BYTES (counted
    as sent, base64-encoded: the safe reading of the 4 MiB per call quota)."""
    batch: list[bytes] = []
    size = 0
    for record in records:
        if batch and (len(batch) == BATCH_RECORDS or size + sent_size(record) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += sent_size(record)
    if batch:
        yield batch


def pack_capture(model: str, request_id: str, records: list[dict[str, Any]]) -> list[bytes]:
    """One request's capture records as Firehose records (see `pack_lines`)."""
    return pack_lines([_line(r) for r in records], f"capture of {model} request {request_id}")


def pack_feedback(model: str, request_id: str, instance: int, label: Any) -> list[bytes]:
    """One label as a Firehose record, stamped with the time it was received."""
    record = {
        "model": model,
        "request_id": request_id,
        "instance": instance,
        "label": label,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    return pack_lines([_line(record)], f"feedback of {model} {request_id}")


class FirehoseTraffic:
    """PredictFunction's capture and feedback sinks: two Firehose delivery streams (DirectPut)."""

    def __init__(
        self,
        capture_stream: str,
        feedback_stream: str,
        firehose: Any | None = None,
        *,
        attempts: int = ATTEMPTS,
        backoff_seconds: float = 0.05,
    ) -> None:
        self.capture_stream = capture_stream
        self.feedback_stream = feedback_stream
        self._firehose = firehose
        self._attempts = attempts
        self._backoff = backoff_seconds

    @property
    def firehose(self) -> Any:
        # Created on first use: a request that is not captured never pays for the client.
        if self._firehose is None:
            self._firehose = client("firehose")
        return self._firehose

    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None:
        """Send one request's capture records (one JSON line each) to the capture stream. Raises
        StackError when a line is too large for Firehose or some records are still refused after
        `attempts` tries."""
        self.put_records(self.capture_stream, pack_capture(model, request_id, records))

    def put_feedback(self, model: str, request_id: str, instance: int, label: Any) -> None:
        """Send one label to the feedback stream, stamped with the time it was received."""
        self.put_records(self.feedback_stream, pack_feedback(model, request_id, instance, label))

    def put_records(self, stream: str, records: list[bytes]) -> None:
        """Send Firehose records to `stream` in as few PutRecordBatch calls as its quotas allow, each
        retried for the records its answer lists as failed. Raises StackError when some are still
        refused after `attempts` tries."""
        for batch in batches(records):
            self._put_batch(stream, batch)

    def _put_batch(self, stream: str, batch: list[bytes]) -> None:
        """One PutRecordBatch, then again with only the records its answer lists as failed."""
        pending = batch
        errors: set[str] = set()
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._backoff * attempt)
            with aws_call(f"put {len(pending)} record(s) to firehose stream {stream}"):
                answer = self.firehose.put_record_batch(
                    DeliveryStreamName=stream, Records=[{"Data": data} for data in pending]
                )
            if not answer.get("FailedPutCount"):
                return
            failed = [
                (data, result)
                for data, result in zip(pending, answer["RequestResponses"], strict=True)
                if result.get("ErrorCode")
            ]
            errors = {str(result["ErrorCode"]) for _, result in failed}
            pending = [data for data, _ in failed]
        raise StackError(
            f"firehose stream {stream} refused {len(pending)} of {len(batch)} record(s) after "
            f"{self._attempts} attempts: {', '.join(sorted(errors))}",
            code=sorted(errors)[0] if errors else "",
        )
