"""Captured requests handed to the capture extension over its Unix socket: frames survive being read in
pieces, the extension's buffer flushes when due and keeps what Firehose refused, and the handler's sink
falls back to Firehose when no extension listens, so no captured request is dropped."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.adapters.capture_relay import RelayedCapture
from sluice.adapters.firehose import FirehoseTraffic, pack_capture
from sluice.domain.monitoring.capture_frame import Frame, FrameReader, socket_path
from sluice.entrypoints.capture_extension import CaptureBuffer, RelayServer
from sluice.errors import StackError


class RecordingSender:
    """What the extension puts to Firehose (Sluice's own RecordSender port), refusing while told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[bytes]]] = []
        self.refusing = False

    def put_records(self, stream: str, records: list[bytes]) -> None:
        if self.refusing:
            raise StackError(f"firehose stream {stream} refused {len(records)} record(s)")
        self.sent.append((stream, records))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayServer]:
    """The extension's socket server, listening in a temporary directory, its reader thread running."""
    server = RelayServer(str(tmp_path / "capture.sock"), CaptureBuffer())
    server.start()
    yield server
    server.stop()


def test_frames_read_in_any_pieces_are_the_frames_sent() -> None:
    # Given two frames, one with records of several lines
    frames = [
        Frame("capture", [b'{"a":1}\n{"a":2}', b'{"b":"\\u00e9t\\u00e9"}']),
        Frame("capture", pack_capture("m", "r-1", [{"x": i} for i in range(3)])),
    ]
    data = b"".join(f.encode() for f in frames)
    # When they arrive one byte, then seven bytes, at a time
    for size in (1, 7, len(data)):
        reader = FrameReader()
        got = [frame for i in range(0, len(data), size) for frame in reader.feed(data[i : i + size])]
        # Then the frames read are the frames sent, in order
        assert got == frames


def test_a_frame_longer_than_allowed_is_refused() -> None:
    # Given a length prefix past the limit / When it is read / Then it is an error, not an allocation
    with pytest.raises(ValueError, match="capture frame of"):
        FrameReader().feed(b"\xff\xff\xff\xff{")


def test_the_buffer_is_due_at_its_count_or_its_age_and_keeps_what_firehose_refused() -> None:
    # Given a buffer due at 3 records or after 10 s
    clock = Clock()
    buffer = CaptureBuffer(flush_records=3, flush_seconds=10.0, clock=clock)
    sender = RecordingSender()
    buffer.add(Frame("capture", [b"1", b"2"]))
    assert not buffer.due()
    # When the oldest has waited 10 s / Then it is due
    clock.now += 10.0
    assert buffer.due()
    # When Firehose refuses the flush / Then the records are kept, before what arrives next
    sender.refusing = True
    assert buffer.flush(sender) == 2
    buffer.add(Frame("capture", [b"3"]))
    assert buffer.due()  # three held
    sender.refusing = False
    assert buffer.flush(sender) == 0
    assert sender.sent == [("capture", [b"1", b"2", b"3"])]
    assert buffer.count == 0 and not buffer.due()


def test_past_its_limit_the_buffer_drops_the_oldest_and_counts_them() -> None:
    # Given a buffer that holds at most 3 records
    buffer = CaptureBuffer(max_records=3)
    # When 5 arrive / Then the 3 newest are held and 2 counted as dropped, once
    buffer.add(Frame("capture", [b"1", b"2", b"3", b"4", b"5"]))
    sender = RecordingSender()
    buffer.flush(sender)
    assert sender.sent == [("capture", [b"3", b"4", b"5"])]
    assert buffer.take_dropped() == 2 and buffer.take_dropped() == 0


def test_the_handler_hands_records_to_the_extension_not_to_firehose(relay: RelayServer) -> None:
    # Given the handler's sink pointed at the extension's socket (Firehose unreachable: any call fails)
    firehose = FirehoseTraffic("capture-stream", "feedback-stream", firehose=object())
    sink = RelayedCapture(firehose, relay.path)
    # When two requests are captured
    sink.write("credit-risk", "r-1", [{"instance": 0}])
    sink.write("credit-risk", "r-2", [{"instance": 0}, {"instance": 1}])
    # Then the extension holds their records (one per request, its lines joined), and Firehose saw none
    deadline = time.monotonic() + 30
    while relay.buffer.count < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    sender = RecordingSender()
    relay.buffer.flush(sender)
    assert sender.sent == [
        (
            "capture-stream",
            pack_capture("credit-risk", "r-1", [{"instance": 0}])
            + pack_capture("credit-risk", "r-2", [{"instance": 0}, {"instance": 1}]),
        )
    ]
    sink.close()


def test_what_is_still_in_the_socket_at_stop_is_read(tmp_path: Path) -> None:
    # Given an extension whose reader thread has not run, and a frame written to its socket
    server = RelayServer(str(tmp_path / "capture.sock"), CaptureBuffer())
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(server.path)
    client.sendall(Frame("capture", [b"late"]).encode())
    # When it stops (SHUTDOWN) / Then the frame is in its buffer, and the socket is gone
    server.stop()
    assert server.buffer.count == 1
    assert not Path(server.path).exists()
    client.close()


def test_without_an_extension_the_records_go_to_firehose(tmp_path: Path) -> None:
    # Given no extension listening (a function deployed without the layer)
    class DirectFirehose(FirehoseTraffic):
        def __init__(self) -> None:
            super().__init__("capture-stream", "feedback-stream")
            self.put: list[tuple[str, list[bytes]]] = []

        def put_records(self, stream: str, records: list[bytes]) -> None:
            self.put.append((stream, records))

    direct = DirectFirehose()
    sink = RelayedCapture(direct, str(tmp_path / "nobody.sock"))
    # When a request is captured / Then its records are put to the capture stream directly
    sink.write("credit-risk", "r-1", [{"instance": 0}])
    assert direct.put == [("capture-stream", pack_capture("credit-risk", "r-1", [{"instance": 0}]))]


def test_the_socket_lives_in_the_environments_temporary_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Lambda's /tmp, or an environment's own (the local runtime sets TMPDIR per environment)
    monkeypatch.delenv("TMPDIR", raising=False)
    assert socket_path() == "/tmp/sluice-capture.sock"
    monkeypatch.setenv("TMPDIR", "/tmp/env-1")
    assert socket_path() == "/tmp/env-1/sluice-capture.sock"
