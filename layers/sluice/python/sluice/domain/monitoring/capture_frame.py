"""How PredictFunction hands captured requests to the capture extension: frames on a Unix socket in the
execution environment's /tmp. A frame is 4 bytes (big-endian length), then the JSON
{"stream": name, "records": [text, …]}: one request's Firehose records for one stream (each record is
JSON lines, so UTF-8 text). Both sides import this module alone, so the extension starts without the
AWS SDK (it shares the function's CPU while the function initialises)."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

SOCKET_NAME = "sluice-capture.sock"
_LENGTH = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024  # far above one request's records (MAX_INSTANCES × a line)


def socket_path() -> str:
    """Where the extension listens: the execution environment's temporary directory (/tmp on Lambda;
    the local runtime gives each environment its own, through TMPDIR)."""
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", SOCKET_NAME)


@dataclass(frozen=True)
class Frame:
    """Firehose records for one stream, as one request's capture hands them over."""

    stream: str
    records: list[bytes]

    def encode(self) -> bytes:
        body = json.dumps(
            {"stream": self.stream, "records": [r.decode() for r in self.records]}, separators=(",", ":")
        ).encode()
        return _LENGTH.pack(len(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> Frame:
        """The frame whose JSON body (without its length) is `body`; ValueError when it is not one."""
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("stream"), str):
            raise ValueError("a capture frame is {stream, records}")
        return cls(document["stream"], [str(r).encode() for r in document.get("records", [])])


class FrameReader:
    """Frames out of a byte stream that arrives in pieces (what one connection has sent so far)."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """Add `data`; the frames it completed, in order. ValueError on a frame that cannot be one."""
        self._pending += data
        frames: list[Frame] = []
        while len(self._pending) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._pending)
            if length > MAX_FRAME_BYTES:
                raise ValueError(f"a capture frame of {length} bytes (at most {MAX_FRAME_BYTES})")
            end = _LENGTH.size + length
            if len(self._pending) < end:
                break
            frames.append(Frame.decode(bytes(self._pending[_LENGTH.size : end])))
            del self._pending[:end]
        return frames
