"""An environment per invocation, in one process. On Lambda each function runs in a process of its
own, so its os.environ (its role's credentials above all) is nobody else's. In-process, an invocation
used to set the process's os.environ while it ran, and any other thread reading it then — a test
calling the CLI, another stack's client — saw the function's variables and signed with its role.

`os.environ` is replaced by `ThreadEnviron`: the process's environment plus, for the threads of an
invocation (the invoking thread and every thread it starts, as a Lambda's threads share its process),
that invocation's variables on top. Every other thread sees the process's environment unchanged.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

_local = threading.local()


def _overlay() -> dict[str, str] | None:
    return getattr(_local, "overlay", None)


def current_log() -> Any:
    """The log of the invocation this thread runs (or was started by), None outside invocations (see
    `function_logs`)."""
    return getattr(_local, "log", None)


class ThreadEnviron(MutableMapping[str, str]):
    """os.environ, seen through the current thread's invocation overlay (if any)."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real = real

    def __getitem__(self, key: str) -> str:
        overlay = _overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.real[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self.real[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = _overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            self.real.__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        overlay = _overlay() or {}
        yield from overlay
        yield from (k for k in self.real if k not in overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __repr__(self) -> str:
        return f"ThreadEnviron({dict(self)!r})"


def install() -> None:
    """Make os.environ per invocation (idempotent); threads inherit the overlay (and the invocation log)
    of their creator."""
    if isinstance(os.environ, ThreadEnviron):
        return
    os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 (a view, not a new one)
    original_init = threading.Thread.__init__
    original_bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._sluice_overlay = _overlay()  # type: ignore[attr-defined]
        self._sluice_log = current_log()  # type: ignore[attr-defined]

    def bootstrap(self: threading.Thread) -> None:
        _local.overlay = getattr(self, "_sluice_overlay", None)
        _local.log = getattr(self, "_sluice_log", None)
        original_bootstrap(self)

    threading.Thread.__init__ = init  # type: ignore[method-assign]
    threading.Thread._bootstrap_inner = bootstrap  # type: ignore[attr-defined]


@contextlib.contextmanager
def invocation_environ(env: dict[str, str]) -> Iterator[None]:
    """While inside, this thread (and the threads it starts) see `env` over the process's environment."""
    install()
    saved = _overlay()
    _local.overlay = dict(env)
    try:
        yield
    finally:
        _local.overlay = saved


@contextlib.contextmanager
def invocation_log(log: Any) -> Iterator[None]:
    """While inside, this thread (and the threads it starts) write their output to `log` (see
    `function_logs`)."""
    install()
    saved = current_log()
    _local.log = log
    try:
        yield
    finally:
        _local.log = saved
