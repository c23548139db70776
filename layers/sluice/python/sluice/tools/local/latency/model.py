"""The seeded draws (`LatencyModel`) and the stack's latency (`AwsLatency`): what each call is delayed
by, the sleep, and the record of every delay by principal and operation.

Draws. Each operation has its own sequence for a seed: the n-th call of `dynamodb:GetItem` is delayed by
the lognormal quantile of a uniform number hashed from (seed, operation, n) with BLAKE2b, so the
sequence is the same in every process (no `hash()`, which PYTHONHASHSEED salts, and no shared generator
whose state depends on the order threads draw in). The lognormal has the figure's median and p99:
mu = ln(median), sigma = (ln(p99) - mu) / z(0.99).

Within one process, threads decide which call is the n-th of its operation, so runs of one seed give the
same delays per operation in the same order but not necessarily to the same caller.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from sluice.tools.local.latency.figures import FIGURES, Figure, figure_for

Z99 = NormalDist().inv_cdf(0.99)
_UNIT = NormalDist()


def uniform(seed: int, operation: str, n: int) -> float:
    """The n-th uniform number in (0, 1) of `operation`'s sequence for `seed` (same in every process)."""
    digest = hashlib.blake2b(f"{seed}\x1f{operation}\x1f{n}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def lognormal_seconds(figure: Figure, u: float) -> float:
    """The quantile `u` of the lognormal with the figure's median and p99, in seconds."""
    sigma = math.log(figure.p99_ms / figure.median_ms) / Z99
    return figure.median_ms * math.exp(sigma * _UNIT.inv_cdf(u)) / 1000.0


class LatencyModel:
    """The seeded delay of each call: `next(operation)` advances that operation's sequence."""

    def __init__(self, seed: int = 0, figures: dict[str, Figure] | None = None) -> None:
        self.seed = seed
        self.figures = FIGURES if figures is None else figures
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()  # held to take a number, never while sleeping

    def nth(self, operation: str, n: int) -> float:
        """The n-th delay (from 0) of `operation`'s sequence, in seconds; pure."""
        return lognormal_seconds(figure_for(operation, self.figures), uniform(self.seed, operation, n))

    def next(self, operation: str) -> float:
        """The next delay of `operation`'s sequence, in seconds."""
        with self._lock:
            n = self._counts.get(operation, 0)
            self._counts[operation] = n + 1
        return self.nth(operation, n)


@dataclass
class Tally:
    """The calls of one (principal, operation) and the time their delays added, in seconds."""

    calls: int = 0
    seconds: float = 0.0


OTHER_PROCESS = "another process"


class AwsLatency:
    """AWS-like call latency for one local stack: each delayed call sleeps its draw (`sleep`, injected in
    tests) where the network round trip would be, and is tallied by principal and operation. With
    `enabled` False (a bench's baseline) calls are tallied, with no delay."""

    def __init__(
        self,
        seed: int = 0,
        *,
        figures: dict[str, Figure] | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        enabled: bool = True,
    ) -> None:
        self.model = LatencyModel(seed, figures)
        self.sleep = sleep
        self.enabled = enabled
        self._tallies: dict[tuple[str, str], Tally] = {}
        self._lock = threading.Lock()

    @property
    def seed(self) -> int:
        return self.model.seed

    def document(self) -> dict[str, Any]:
        """What the ready line says of it."""
        return {"seed": self.seed}

    def delay(self, principal: str, operation: str) -> float:
        """Delay the current call of `principal` to `operation` ("service:Operation") by its draw; the
        seconds slept (0 when disabled). No lock is held while sleeping."""
        seconds = self.model.next(operation) if self.enabled else 0.0
        with self._lock:
            tally = self._tallies.setdefault((principal, operation), Tally())
            tally.calls += 1
            tally.seconds += seconds
        if seconds > 0:
            self.sleep(seconds)
        return seconds

    def tallies(self) -> dict[tuple[str, str], Tally]:
        """A copy of the tallies so far, by (principal, operation)."""
        with self._lock:
            return {key: Tally(t.calls, t.seconds) for key, t in self._tallies.items()}

    def table(self, name: Callable[[str], str] | None = None) -> list[dict[str, Any]]:
        """One row per (principal, operation): calls and the milliseconds they added, in total and per
        call; `name` shortens a principal for display."""
        short = name or (lambda principal: principal)
        rows: dict[tuple[str, str], Tally] = {}
        for (principal, operation), tally in self.tallies().items():
            row = rows.setdefault((short(principal), operation), Tally())
            row.calls += tally.calls
            row.seconds += tally.seconds
        return [
            {
                "principal": principal,
                "operation": operation,
                "calls": tally.calls,
                "added_ms": round(tally.seconds * 1000, 1),
                "per_call_ms": round(tally.seconds * 1000 / tally.calls, 1) if tally.calls else 0.0,
            }
            for (principal, operation), tally in sorted(rows.items())
        ]
