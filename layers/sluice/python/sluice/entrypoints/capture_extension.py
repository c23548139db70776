"""The capture extension: a Lambda external extension (CaptureExtensionLayer's
`extensions/sluice-capture` runs `python3 -m sluice.entrypoints.capture_extension`) that takes
PredictFunction's captured requests off the response path.

Its life follows the Extensions API: it listens on a Unix socket in the environment's /tmp, registers
for INVOKE and SHUTDOWN, and waits for the next event. The handler hands each captured request to the
socket (`sluice.adapters.capture_relay`) and answers its client at once; a reader thread keeps the
frames in memory. On an INVOKE, when what it holds is due (CAPTURE_FLUSH_RECORDS records, or the oldest
CAPTURE_FLUSH_SECONDS old), it puts them to Firehose while the handler works, then asks for the next
event: Lambda freezes the environment only when the runtime and every extension have asked, so a flush
never runs in a frozen environment. On SHUTDOWN (the environment spun down, or failed), it reads what
is still in the socket and flushes everything: Lambda gives extensions 2,000 ms there. Records Firehose
refuses stay buffered for the next flush (at most `max_records`, the oldest dropped past it); what is
dropped, or still refused at SHUTDOWN, is counted (`CaptureFailures`, EMF on stdout, which Lambda sends
to the function's log, as the handler's own metrics)."""

from __future__ import annotations

import http.client
import json
import logging
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sluice.domain.monitoring.capture_frame import Frame, FrameReader, socket_path

NAME = "sluice-capture"
API_VERSION = "2020-01-01"
logger = logging.getLogger(NAME)


class RecordSender(Protocol):
    def put_records(self, stream: str, records: list[bytes]) -> None: ...


@dataclass
class CaptureBuffer:
    """Records held for Firehose, by stream, with when the oldest arrived."""

    flush_records: int = 500
    flush_seconds: float = 60.0
    # Past this, the oldest records are dropped and counted: memory stays bounded while Firehose refuses
    max_records: int = 100_000
    clock: Callable[[], float] = time.monotonic
    dropped: int = 0
    _records: dict[str, list[bytes]] = field(default_factory=dict)
    _oldest: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, frame: Frame) -> None:
        with self._lock:
            self._records.setdefault(frame.stream, []).extend(frame.records)
            if self._oldest is None:
                self._oldest = self.clock()
            excess = sum(len(records) for records in self._records.values()) - self.max_records
            for records in self._records.values():
                if excess <= 0:
                    break
                cut = min(excess, len(records))
                del records[:cut]
                self.dropped += cut
                excess -= cut

    def take_dropped(self) -> int:
        """How many records were dropped since last asked."""
        with self._lock:
            dropped, self.dropped = self.dropped, 0
            return dropped

    @property
    def count(self) -> int:
        with self._lock:
            return sum(len(records) for records in self._records.values())

    def due(self) -> bool:
        """Whether to flush now: enough records, or the oldest has waited long enough."""
        with self._lock:
            held = sum(len(records) for records in self._records.values())
            return held >= self.flush_records or (
                self._oldest is not None and self.clock() - self._oldest >= self.flush_seconds
            )

    def flush(self, sender: RecordSender) -> int:
        """Put every held record to its stream; what a stream refused is held again (in front of what
        arrived meanwhile). Returns how many records are still held for want of delivery."""
        with self._lock:
            taken, self._records, self._oldest = self._records, {}, None
        refused: dict[str, list[bytes]] = {}
        for stream, records in taken.items():
            try:
                sender.put_records(stream, records)
            except Exception:
                logger.exception(
                    "capture records not delivered; kept for the next flush", extra={"stream": stream}
                )
                refused[stream] = records
        if refused:
            with self._lock:
                for stream, records in refused.items():
                    self._records[stream] = records + self._records.get(stream, [])
                self._oldest = self.clock()
        return sum(len(records) for records in refused.values())


class RelayServer:
    """The Unix socket the handler writes frames to, read by a thread into a CaptureBuffer."""

    def __init__(self, path: str, buffer: CaptureBuffer) -> None:
        self.path = path
        self.buffer = buffer
        if os.path.exists(path):
            os.unlink(path)  # a previous environment's, never a live one: /tmp is the environment's own
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(8)
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="capture-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            self._read(timeout=0.2)

    def _read(self, timeout: float) -> int:
        """Accept connections and read what they sent, for up to `timeout` seconds; how many sockets
        had something."""
        events = self._selector.select(timeout)
        for key, _ in events:
            if key.fileobj is self._listener:
                accepted, _ = self._listener.accept()
                accepted.setblocking(False)
                self._selector.register(accepted, selectors.EVENT_READ, FrameReader())
                continue
            connection = key.fileobj
            if not isinstance(connection, socket.socket):  # pragma: no cover - only sockets registered
                continue
            try:
                data = connection.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                self._selector.unregister(connection)
                connection.close()
                continue
            try:
                for frame in key.data.feed(data):
                    self.buffer.add(frame)
            except ValueError:  # not our protocol: drop the connection, keep the rest
                logger.exception("unreadable capture frame")
                self._selector.unregister(connection)
                connection.close()
        return len(events)

    def stop(self) -> None:
        """Stop the reader, then read whatever the handler sent and the thread has not read yet (the
        runtime is done: everything it wrote is in the sockets' buffers)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        while self._read(timeout=0):
            pass
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class ExtensionsApi:
    """The Extensions API client: register, then ask for each next event (a long poll). http.client,
    not urllib: the extension starts while the function initialises, on the same CPU."""

    def __init__(self, runtime_api: str) -> None:
        self.runtime_api = runtime_api
        self.identifier = ""

    def _call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[Any, bytes]:
        host, _, port = self.runtime_api.partition(":")
        connection = http.client.HTTPConnection(host, int(port or 80))  # no timeout: a long poll
        try:
            connection.request(method, f"/{API_VERSION}/extension{path}", body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            if response.status >= 300:
                raise RuntimeError(f"Extensions API {method} {path}: {response.status} {data[:200]!r}")
            return response, data
        finally:
            connection.close()

    def register(self, name: str, events: list[str]) -> dict[str, Any]:
        response, data = self._call(
            "POST",
            "/register",
            json.dumps({"events": events}).encode(),
            {"Lambda-Extension-Name": name, "Content-Type": "application/json"},
        )
        self.identifier = response.getheader("Lambda-Extension-Identifier") or ""
        answer: dict[str, Any] = json.loads(data or b"{}")
        return answer

    def next_event(self) -> dict[str, Any]:
        _, data = self._call("GET", "/event/next", None, {"Lambda-Extension-Identifier": self.identifier})
        event: dict[str, Any] = json.loads(data)
        return event


def _count_failures(lost: int) -> None:
    """`CaptureFailures` in EMF on stdout (the function's log), the metric the capture alarm watches."""
    from sluice.observability import emit_capture_failures

    emit_capture_failures(lost)


def run(api: ExtensionsApi, server: RelayServer, sender: Callable[[], RecordSender]) -> int:
    """Register, then serve events until SHUTDOWN; the process's exit code."""
    api.register(NAME, ["INVOKE", "SHUTDOWN"])
    server.start()
    buffer = server.buffer
    while True:
        event = api.next_event()
        if event.get("eventType") == "SHUTDOWN":
            server.stop()
            lost = buffer.flush(sender()) if buffer.count else 0
            if lost + buffer.dropped:
                _count_failures(lost + buffer.take_dropped())
            return 0
        if buffer.due():
            buffer.flush(sender())
        if buffer.dropped:
            _count_failures(buffer.take_dropped())


def main() -> int:
    from sluice.adapters.firehose import FirehoseTraffic

    logging.basicConfig(level=os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"), stream=sys.stdout)
    buffer = CaptureBuffer(
        flush_records=int(os.environ.get("CAPTURE_FLUSH_RECORDS", "500")),
        flush_seconds=float(os.environ.get("CAPTURE_FLUSH_SECONDS", "60")),
    )
    server = RelayServer(socket_path(), buffer)
    firehose: list[FirehoseTraffic] = []

    def sender() -> RecordSender:  # created on the first flush: init stays light
        if not firehose:
            firehose.append(FirehoseTraffic(os.environ["CAPTURE_STREAM"], os.environ["FEEDBACK_STREAM"]))
        return firehose[0]

    return run(ExtensionsApi(os.environ["AWS_LAMBDA_RUNTIME_API"]), server, sender)


if __name__ == "__main__":
    sys.exit(main())
