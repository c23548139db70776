"""Each function's log, as CloudWatch Logs keeps one per function (/aws/lambda/<function name>): what a
handler writes while it runs — print() and EMF metrics on stdout, Powertools' and other logging, stderr —
goes to its function's log, never to the stdout of whoever invoked it.

Handlers run in this process, on threads (a test's, the EventBridge worker's, moto's ASL engine's), so
the redirection is per thread: sys.stdout and sys.stderr are replaced by `RoutedStream`s, which write to
the current invocation's log when the writing thread runs one (or was started by one, as a Lambda's
threads share its process; see `environ`), and to the stream they replaced otherwise. The Powertools
logger's handlers hold the stream they were created with; theirs is routed the same way (the CLI's own
logging, in a thread that runs no invocation, still goes to that stream).

`FunctionLogs` keeps the logs: each invocation's lines are appended when it ends (between Lambda's
START and END lines), so concurrent invocations of one function do not interleave; `echo` (for
`sluice local up` and `sluice invoke`) also writes each line to this process's stderr prefixed with the
function, as `sam local` does.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from sluice.tools.local import environ


class RoutedStream(io.TextIOBase):
    """A stream whose writes go to the writing thread's invocation log, else to `fallback`."""

    def __init__(self, fallback: TextIO | None) -> None:
        super().__init__()
        self.fallback = fallback  # None: sys.stdout at the time of writing (for logging handlers)

    def _target(self) -> Any:
        log = environ.current_log()
        if log is not None:
            return log
        if self.fallback is not None:
            return self.fallback
        return underlying(sys.stdout)

    def write(self, text: str) -> int:
        self._target().write(text)
        return len(text)

    def flush(self) -> None:
        target = self._target()
        if hasattr(target, "flush"):
            target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.fallback or sys.__stdout__, "encoding", "utf-8"))

    def fileno(self) -> int:
        if self.fallback is None:
            raise io.UnsupportedOperation("fileno")
        return self.fallback.fileno()


def underlying(stream: Any) -> Any:
    """The stream a chain of RoutedStreams falls back to."""
    while isinstance(stream, RoutedStream) and stream.fallback is not None:
        stream = stream.fallback
    return stream


_install_lock = threading.Lock()


def route_output() -> None:
    """Make sys.stdout and sys.stderr (again, if something replaced them since, as pytest's capture
    does) and the Powertools logger's handlers route per thread. Idempotent."""
    from sluice.observability import SERVICE

    with _install_lock:
        if not isinstance(sys.stdout, RoutedStream):
            sys.stdout = RoutedStream(sys.stdout)
        if not isinstance(sys.stderr, RoutedStream):
            sys.stderr = RoutedStream(sys.stderr)
        for handler in logging.getLogger(SERVICE).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler.stream, RoutedStream):
                handler.setStream(RoutedStream(handler.stream))


class InvocationLog:
    """What one invocation writes: kept until it ends, then appended to its function's log whole;
    what its threads write after that is appended as it comes."""

    def __init__(self, logs: FunctionLogs, logical_id: str) -> None:
        self._logs = logs
        self._logical_id = logical_id
        self._lock = threading.Lock()
        self._partial = ""
        self._lines: list[str] | None = []  # None once the invocation has ended

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            if self._lines is not None:
                self._lines.extend(lines)
                return len(text)
        if lines:
            self._logs.append(self._logical_id, lines)
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            lines = self._lines or []
            if self._partial:
                lines.append(self._partial)
                self._partial = ""
            self._lines = None
        self._logs.append(self._logical_id, lines)


class FunctionLogs:
    """Every function's log lines, by logical id; with `echo`, each line also goes to this process's
    stderr as `[LogicalId] line`."""

    def __init__(self, *, echo: bool = False) -> None:
        self.echo = echo
        self._lock = threading.Lock()
        self._lines: dict[str, list[str]] = {}

    def append(self, logical_id: str, lines: list[str]) -> None:
        if not lines:
            return
        with self._lock:
            self._lines.setdefault(logical_id, []).extend(lines)
            if self.echo:
                stderr = underlying(sys.stderr)
                stderr.write("".join(f"[{logical_id}] {line}\n" for line in lines))
                stderr.flush()

    def lines(self, logical_id: str) -> list[str]:
        with self._lock:
            return list(self._lines.get(logical_id, []))

    @contextlib.contextmanager
    def invocation(self, logical_id: str, request_id: str) -> Iterator[None]:
        """While inside, what this thread (and the threads it starts) writes goes to the invocation's
        log, which is appended to the function's between Lambda's START and END lines."""
        route_output()
        log = InvocationLog(self, logical_id)
        log.write(f"START RequestId: {request_id} Version: $LATEST\n")
        try:
            with environ.invocation_log(log):
                yield
        finally:
            log.write(f"END RequestId: {request_id}\n")
            log.close()
