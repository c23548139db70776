"""How much of a client's request an answer repeats: at most MAX_PROBLEMS problems named, at most
MAX_ECHO characters of a value or field name. Shared by the prediction API and the console (whose error
bodies are bounded the same way); pure, no numpy."""

from __future__ import annotations

from typing import Any

MAX_PROBLEMS = 100  # problems named in one answer; the rest are counted
MAX_ECHO = 80  # characters of a client's value or field name repeated in a message


def echo(value: Any, limit: int = MAX_ECHO) -> str:
    """A client's value as a message may repeat it: its repr, cut after `limit` characters."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "…"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
