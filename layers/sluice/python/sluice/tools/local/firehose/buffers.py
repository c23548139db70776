"""Amazon Data Firehose on the local stack: what moto does not do.

moto (checked in its source, firehose/models.py and cloudformation/parsing.py):
- its CloudFormation has no AWS::KinesisFirehose::DeliveryStream (see `firehose_streams`);
- its PutRecordBatch writes each call at once as its own uncompressed object under
  `<prefix>YYYY/MM/DD/HH/`, with the `!{…}` expressions of the prefix left as they are: it ignores
  BufferingHints, CompressionFormat, dynamic partitioning and the record processors.

`buffered_delivery()` replaces that with Firehose's behaviour for S3 destinations: records are split
by multi-record deaggregation (JSON or delimited, at most 500 per record), partitioned by the
MetadataExtraction query (`{key: .field, …}` queries), followed by AppendDelimiterToRecord's delimiter,
buffered per stream and partition key and written as ONE object (gzip when CompressionFormat is GZIP)
under the prefix with `!{partitionKeyFromQuery:…}` and `!{timestamp:…}` (the oldest record's arrival,
UTC) resolved, named `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`, when the buffer reaches
SizeInMBs, when IntervalInSeconds has passed since its first record (a timer), on `flush()` (the
interval has passed, without waiting) and when the stack closes. Records that cannot be partitioned
go under ErrorOutputPrefix (`!{firehose:error-output-type}` = partitioning-failed) as Firehose's error
documents. `refuse()` makes the next PutRecordBatch answers list records as failed (FailedPutCount).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import gzip
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sluice.tools.local.latency import FIREHOSE_DELIVERY, round_trip
from sluice.tools.local.template import TemplateError

DEAGGREGATION_LIMIT = 500
_EXPRESSION = re.compile(r"!\{([a-zA-Z]+):([^}]*)\}")
_QUERY_FIELD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*\.([A-Za-z_][A-Za-z0-9_.]*)\s*")
_JAVA_TIME = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


# ------------------------------------------------------------------------------------------ delivery
class _Failed(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Buffer:
    bucket: str
    key_prefix: str  # the resolved prefix (its timestamp taken from `oldest`)
    records: list[bytes] = field(default_factory=list)
    size: int = 0
    timer: threading.Timer | None = None


@dataclass
class _Stream:
    name: str
    version: str
    bucket: str
    prefix: str
    error_prefix: str
    interval: float
    size_limit: int
    gzip: bool
    extension: str
    deaggregation: str | None  # JSON | DELIMITED | None
    split_on: bytes
    query: list[tuple[str, str]] | None
    delimiter: bytes

    @classmethod
    def of(cls, stream: Any) -> _Stream | None:
        destination = stream.destinations[0]
        config = destination.get("ExtendedS3") or destination.get("S3")
        if config is None:
            return None
        processors: dict[str, dict[str, str]] = {}
        processing = config.get("ProcessingConfiguration") or {}
        if processing.get("Enabled") in (True, "true"):
            for processor in processing.get("Processors", []):
                processors[processor["Type"]] = {
                    p["ParameterName"]: p["ParameterValue"] for p in processor.get("Parameters", [])
                }
        partitioned = (config.get("DynamicPartitioningConfiguration") or {}).get("Enabled") in (True, "true")
        deaggregation = processors.get("RecordDeAggregation", {})
        query = processors.get("MetadataExtraction", {}).get("MetadataExtractionQuery")
        hints = config.get("BufferingHints") or {}
        compression = config.get("CompressionFormat", "UNCOMPRESSED")
        return cls(
            name=stream.delivery_stream_name,
            version=str(stream.version_id),
            bucket=config["BucketARN"].split(":")[-1],
            prefix=config.get("Prefix", ""),
            error_prefix=config.get("ErrorOutputPrefix", ""),
            interval=float(hints.get("IntervalInSeconds", 300)),
            size_limit=int(hints.get("SizeInMBs", 5)) * 1024 * 1024,
            gzip=compression == "GZIP",
            extension=config.get("FileExtension") or (".gz" if compression == "GZIP" else ""),
            deaggregation=deaggregation.get("SubRecordType") if partitioned else None,
            split_on=base64.b64decode(deaggregation.get("Delimiter", "")),
            query=_parse_query(query) if partitioned and query else None,
            delimiter=codecs.decode(
                processors.get("AppendDelimiterToRecord", {}).get("Delimiter", "\\n"), "unicode_escape"
            ).encode()
            if "AppendDelimiterToRecord" in processors
            else b"",
        )


def _parse_query(query: str) -> list[tuple[str, str]]:
    """`{model: .model, day: .a.b}` → [(model, model), (day, a.b)]; the only JQ shape supported."""
    body = query.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise TemplateError(f"the local Firehose supports only {{key: .field}} queries, not {query!r}")
    fields = []
    for part in body[1:-1].split(","):
        match = _QUERY_FIELD.fullmatch(part)
        if match is None:
            raise TemplateError(f"the local Firehose supports only {{key: .field}} queries, not {query!r}")
        fields.append((match.group(1), match.group(2)))
    return fields


def _java_time(pattern: str, when: datetime) -> str:
    for java, strftime in _JAVA_TIME:
        pattern = pattern.replace(java, strftime)
    return when.strftime(pattern)


def _resolve_prefix(prefix: str, keys: dict[str, str], when: datetime, error_type: str = "") -> str:
    if "!{" not in prefix:  # a plain prefix: Firehose adds the arrival hour
        return f"{prefix}{when:%Y/%m/%d/%H}/"

    def value(match: re.Match[str]) -> str:
        namespace, name = match.group(1), match.group(2)
        if namespace == "timestamp":
            return _java_time(name, when)
        if namespace == "partitionKeyFromQuery":
            return keys[name]
        if namespace == "firehose" and name == "error-output-type":
            return error_type
        raise TemplateError(f"the local Firehose cannot resolve !{{{namespace}:{name}}}")

    return _EXPRESSION.sub(value, prefix)


class DeliveryBuffers:
    """Firehose's buffering for every S3 delivery stream of the process's moto backends."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._buffers: dict[tuple[int, str, tuple[tuple[str, str], ...] | str], _Buffer] = {}
        self._refusals: dict[str, tuple[int, str]] = {}
        self._streams: dict[tuple[int, str], _Stream | None] = {}
        # per buffer: the moto backend it belongs to, its stream and its oldest record's arrival
        self._backend_of: dict[Any, Any] = {}
        self._names: dict[Any, tuple[_Stream, datetime]] = {}

    def refuse(self, stream: str, records: int, code: str = "ServiceUnavailableException") -> None:
        """Answer the next `records` records put on `stream` as failed with `code` (FailedPutCount),
        as Firehose does when it is throttled or briefly unavailable."""
        with self._lock:
            self._refusals[stream] = (records, code)

    def put(self, backend: Any, name: str, records: list[dict[str, bytes]]) -> dict[str, Any] | None:
        """PutRecordBatch's answer, the accepted records buffered; None for a stream whose destination
        is not S3 (moto's own delivery then applies)."""
        stream = self._stream(backend, name)
        if stream is None:
            return None
        now = datetime.now(UTC)
        answers: list[dict[str, Any]] = []
        failed = 0
        with self._lock:
            left, code = self._refusals.get(name, (0, ""))
            for record in records:
                if left > 0:
                    left -= 1
                    failed += 1
                    answers.append({"ErrorCode": code, "ErrorMessage": "refused by the local stack"})
                    continue
                self._accept(backend, stream, record["Data"], now)
                answers.append({"RecordId": uuid.uuid4().hex})
            if name in self._refusals:
                self._refusals[name] = (left, code)
        return {"FailedPutCount": failed, "Encrypted": True, "RequestResponses": answers}

    def flush(self) -> int:
        """Write every buffer now (their buffer interval has passed); returns how many objects."""
        with self._lock:
            keys = list(self._buffers)
            for key in keys:
                self._write(key)
        return len(keys)

    def close(self) -> None:
        """Write what is buffered and stop the timers."""
        self.flush()
        with self._lock:
            self._streams.clear()
            self._refusals.clear()

    def _stream(self, backend: Any, name: str) -> _Stream | None:
        from moto.firehose.exceptions import ResourceNotFoundException

        stream = backend.delivery_streams.get(name)
        if stream is None:
            raise ResourceNotFoundException(f"Firehose {name} under account {backend.account_id} not found.")
        key = (id(stream), stream.version_id)
        if key not in self._streams:
            self._streams[key] = _Stream.of(stream)
        return self._streams[key]

    def _accept(self, backend: Any, stream: _Stream, data: bytes, now: datetime) -> None:
        try:
            parts = self._deaggregate(stream, data)
            keyed = [(self._partition(stream, part), part) for part in parts]
        except _Failed as failure:
            self._error(backend, stream, data, failure, now)
            return
        for keys, part in keyed:
            buffer_key = (id(backend), stream.name, tuple(sorted(keys.items())))
            buffer = self._buffers.get(buffer_key) or self._open(
                buffer_key, backend, stream, _resolve_prefix(stream.prefix, keys, now), now
            )
            line = part + stream.delimiter
            buffer.records.append(line)
            buffer.size += len(line)
            if buffer.size >= stream.size_limit:
                self._write(buffer_key)

    def _deaggregate(self, stream: _Stream, data: bytes) -> list[bytes]:
        if stream.deaggregation is None:
            return [data]
        if stream.deaggregation == "DELIMITED":
            parts = [p for p in data.split(stream.split_on) if p]
        else:
            parts = []
            text, position, decoder = data.decode(), 0, json.JSONDecoder()
            while True:
                while position < len(text) and text[position].isspace():
                    position += 1
                if position == len(text):
                    break
                try:
                    _, end = decoder.raw_decode(text, position)
                except json.JSONDecodeError as exc:
                    raise _Failed("processing-failed", f"not consecutive JSON objects: {exc}") from exc
                parts.append(text[position:end].encode())
                position = end
        if len(parts) > DEAGGREGATION_LIMIT:
            raise _Failed("processing-failed", f"{len(parts)} records in one: at most {DEAGGREGATION_LIMIT}")
        return parts

    def _partition(self, stream: _Stream, part: bytes) -> dict[str, str]:
        if stream.query is None:
            return {}
        try:
            document = json.loads(part)
        except ValueError as exc:
            raise _Failed("partitioning-failed", f"not JSON: {exc}") from exc
        keys = {}
        for key, path in stream.query:
            value: Any = document
            for step in path.split("."):
                value = value.get(step) if isinstance(value, dict) else None
            if value is None or isinstance(value, dict | list):
                raise _Failed("partitioning-failed", f"no value for partition key {key} (.{path})")
            keys[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return keys

    def _error(self, backend: Any, stream: _Stream, data: bytes, failure: _Failed, now: datetime) -> None:
        document = {
            "attemptsMade": 1,
            "arrivalTimestamp": int(now.timestamp() * 1000),
            "errorCode": "DynamicPartitioning.MetadataExtractionFailed"
            if failure.kind == "partitioning-failed"
            else "RecordDeAggregation.Failed",
            "errorMessage": str(failure),
            "rawData": base64.b64encode(data).decode(),
        }
        buffer_key = (id(backend), stream.name, failure.kind)
        buffer = self._buffers.get(buffer_key) or self._open(
            buffer_key, backend, stream, _resolve_prefix(stream.error_prefix, {}, now, failure.kind), now
        )
        line = json.dumps(document).encode() + b"\n"
        buffer.records.append(line)
        buffer.size += len(line)

    def _open(self, buffer_key: Any, backend: Any, stream: _Stream, prefix: str, now: datetime) -> _Buffer:
        """A new buffer, written when its stream's interval has passed (unless written sooner)."""
        buffer = _Buffer(stream.bucket, prefix)
        buffer.timer = threading.Timer(stream.interval, self._write_when_due, (buffer_key, buffer))
        buffer.timer.daemon = True
        buffer.timer.start()
        self._buffers[buffer_key] = buffer
        self._backend_of[buffer_key] = backend
        self._names[buffer_key] = (stream, now)
        return buffer

    def _write_when_due(self, buffer_key: Any, buffer: _Buffer) -> None:
        """The buffer's interval has passed: Firehose writes it to S3, which with AWS-like latency on
        takes an S3 PUT's round trip first (on the timer's thread, holding no lock: no producer waits)."""
        if self._buffers.get(buffer_key) is buffer:
            round_trip(FIREHOSE_DELIVERY, "s3:PutObject")
        self._write(buffer_key, buffer)

    def _write(self, buffer_key: Any, expected: _Buffer | None = None) -> None:
        from moto.s3.models import s3_backends

        with self._lock:
            buffer = self._buffers.get(buffer_key)
            if buffer is None or (expected is not None and buffer is not expected):
                return  # already written (by size, a flush, or close)
            del self._buffers[buffer_key]
            backend = self._backend_of.pop(buffer_key)
            stream, oldest = self._names.pop(buffer_key)
            if buffer.timer is not None:
                buffer.timer.cancel()
            body = b"".join(buffer.records)
            if stream.gzip:
                body = gzip.compress(body)
            name = (
                f"{stream.name}-{stream.version}-{oldest:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{stream.extension}"
            )
            s3 = s3_backends[backend.account_id][backend.partition]
            if not _delivery_role_may_write(backend, stream.name, buffer.bucket, buffer.key_prefix + name):
                return
            with contextlib.suppress(Exception):  # the mock may be gone (a timer firing at exit)
                s3.put_object(buffer.bucket, buffer.key_prefix + name, body)


def _delivery_role_may_write(backend: Any, stream_name: str, bucket: str, key: str) -> bool:
    """Firehose writes as the stream's delivery role: under local IAM, that role must be allowed
    s3:PutObject on the object (a denied write is logged and the records are not delivered, as on AWS
    when the role lacks the permission; Firehose would retry for up to 24 hours first)."""
    from sluice.tools.local.iam.hooks import active_enforcer

    enforcer = active_enforcer()
    if enforcer is None:
        return True
    try:
        destination = backend.delivery_streams[stream_name].destinations[0]
        role_arn = next(v for k, v in destination.items() if isinstance(v, dict) and "RoleARN" in v)[
            "RoleARN"
        ]
    except (KeyError, IndexError, StopIteration, AttributeError):
        return True  # the stream is gone (a timer firing after the mock ended)
    return enforcer.allows_service_role(role_arn, "firehose", "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}")


_DELIVERY = DeliveryBuffers()


def delivery() -> DeliveryBuffers:
    """The process's Firehose emulation (flush it, or make it refuse records in a test)."""
    return _DELIVERY


@contextlib.contextmanager
def buffered_delivery() -> Iterator[DeliveryBuffers]:
    """While inside, moto's PutRecordBatch/PutRecord to S3 destinations buffer as Firehose does; what
    is still buffered is written on the way out."""
    from moto.firehose.models import FirehoseBackend

    original = FirehoseBackend.put_record_batch

    def put_record_batch(
        self: Any, delivery_stream_name: str, records: list[dict[str, Any]]
    ) -> dict[str, Any]:
        answer = _DELIVERY.put(self, delivery_stream_name, records)
        return original(self, delivery_stream_name, records) if answer is None else answer

    FirehoseBackend.put_record_batch = put_record_batch  # type: ignore[method-assign]
    try:
        yield _DELIVERY
    finally:
        FirehoseBackend.put_record_batch = original  # type: ignore[method-assign]
        _DELIVERY.close()
