"""Captured requests handed to the capture extension instead of Firehose, so that capture adds no AWS
round trip before the client's answer.

The extension (`sluice.entrypoints.capture_extension`, a Lambda external extension in the
CaptureExtensionLayer) runs beside PredictFunction in the same execution environment and listens on a
Unix socket in the environment's /tmp. `RelayedCapture` sends each captured request's Firehose records
to it as one frame — a local write of microseconds — and the extension puts them to the capture stream
after responses and on SHUTDOWN. When no extension listens (a function deployed without the layer, a
crashed extension), the records go to Firehose directly, as before, so none is dropped.

The frames' format is `sluice.domain.monitoring.capture_frame`'s."""

from __future__ import annotations

import os
import socket
from typing import Any

from sluice.adapters.firehose import FirehoseTraffic, pack_capture
from sluice.domain.monitoring.capture_frame import Frame, socket_path

SEND_TIMEOUT_SECONDS = 2.0  # an extension that stops reading sends the request's records to Firehose


class RelayedCapture:
    """PredictFunction's capture and feedback sinks: captured requests go to the capture extension
    when it listens (off the response path), else to Firehose directly; feedback always goes to
    Firehose directly, because a label is accepted only once it is stored (a refused one is a 503 the
    client sends again)."""

    def __init__(self, direct: FirehoseTraffic, path: str | None = None) -> None:
        self.direct = direct
        self.path = path or socket_path()
        self._socket: socket.socket | None = None

    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None:
        """Hand one request's capture records to the extension; to Firehose when it cannot take them.
        Raises StackError when a line is too large for Firehose, or Firehose refuses them."""
        packed = pack_capture(model, request_id, records)
        if not self._relay(Frame(self.direct.capture_stream, packed).encode()):
            self.direct.put_records(self.direct.capture_stream, packed)

    def put_feedback(self, model: str, request_id: str, instance: int, label: Any) -> None:
        self.direct.put_feedback(model, request_id, instance, label)

    def _relay(self, frame: bytes) -> bool:
        """Whether the extension took `frame` (written whole to its socket)."""
        for attempt in (1, 2):  # a connection the extension closed (a restart) is opened again once
            connection = self._connected()
            if connection is None:
                return False
            try:
                connection.sendall(frame)
                return True
            except OSError:
                self.close()
                if attempt == 2:
                    return False
        return False  # pragma: no cover

    def _connected(self) -> socket.socket | None:
        if self._socket is None and os.path.exists(self.path):
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(SEND_TIMEOUT_SECONDS)
            try:
                connection.connect(self.path)
            except OSError:
                connection.close()
                return None
            self._socket = connection
        return self._socket

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
