"""Rejected requests in capture, and the request counts a window of capture gives.

A request that fails validation is answered with its 4xx as before, and one capture line records it —
every one, whatever the capture fraction; only the offending instance is sampled like capture:

    {"request_id", "time", "model", "version", "rejected": {"status", "problems": [{"field", "kind",
     "values"}], "other_problems"}, "inputs"?: the first offending instance}

`problems` counts the request's problems by field and kind (the taxonomy of
`sluice.domain.scoring.onnx_model.ProblemKind`), at most MAX_PROBLEM_ENTRIES of them, the rest summed
in `other_problems`. Accepted requests are counted from their capture lines (the line of instance 0;
a line sampled at a `fraction` below 1 stands for 1/fraction requests). Imported by the inference
function: the standard library only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REJECTED_KEY = "rejected"
MAX_PROBLEM_ENTRIES = 20  # (field, kind) pairs one rejection line names; the rest are summed
MAX_SAMPLED_INPUT_BYTES = 16 * 1024  # a larger offending instance is not sampled (the line stays small)
NO_FIELD = "(request)"  # the field a problem of the request as a whole is counted under


def rejection_record(
    *,
    model: str,
    version: int,
    request_id: str,
    time: str,
    status: int,
    kinds: Mapping[tuple[str | None, str], int],
    instance: Any = None,
) -> dict[str, Any]:
    """One rejected request's capture line; `instance` (the offending instance, when sampled) is
    left out when larger than MAX_SAMPLED_INPUT_BYTES as JSON."""
    ranked = sorted(kinds.items(), key=lambda item: (-item[1], str(item[0])))
    problems = [
        {"field": name if name is not None else NO_FIELD, "kind": kind, "values": count}
        for (name, kind), count in ranked[:MAX_PROBLEM_ENTRIES]
    ]
    record: dict[str, Any] = {
        "request_id": request_id,
        "time": time,
        "model": model,
        "version": version,
        REJECTED_KEY: {
            "status": status,
            "problems": problems,
            "other_problems": sum(count for _, count in ranked[MAX_PROBLEM_ENTRIES:]),
        },
    }
    if instance is not None and len(json.dumps(instance, separators=(",", ":"))) <= MAX_SAMPLED_INPUT_BYTES:
        record["inputs"] = instance
    return record


def hour_of(moment: datetime) -> str:
    """The UTC hour a record falls in, as the report's keys name it: 2026-12-07T14."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H}"


def _epoch_hour(moment: datetime) -> int:
    return int(moment.timestamp()) // 3600


@dataclass
class RequestCounts:
    """The requests of a window: accepted (estimated from sampled capture lines; exact when capture
    keeps every request), rejected (exact: every rejection is captured), by UTC hour, and the
    rejected ones by (field, kind): how many requests had that problem and how many values."""

    accepted: float = 0.0
    rejected: int = 0
    sampled_rejections: int = 0  # rejections whose offending instance was captured
    # by hour since the epoch (cheap on the reader's hot path); `by_hour` names them
    accepted_by_hour: dict[int, float] = field(default_factory=dict)
    rejected_by_hour: dict[int, int] = field(default_factory=dict)
    problem_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    problem_values: dict[tuple[str, str], int] = field(default_factory=dict)

    def add_accepted(self, fraction: Any, moment: datetime) -> None:
        """Count a captured prediction's request (call it for the line of its instance 0), captured at
        `fraction` (None: every request was)."""
        weight = 1.0 / fraction if isinstance(fraction, int | float) and 0 < fraction <= 1 else 1.0
        self.accepted += weight
        hour = _epoch_hour(moment)
        self.accepted_by_hour[hour] = self.accepted_by_hour.get(hour, 0.0) + weight

    def add_rejected(self, record: Mapping[str, Any], moment: datetime) -> None:
        """Count a rejection line (whose head is `record`; its problems are read from `line`)."""
        self.rejected += 1
        hour = _epoch_hour(moment)
        self.rejected_by_hour[hour] = self.rejected_by_hour.get(hour, 0) + 1
        if "inputs" in record:
            self.sampled_rejections += 1
        rejected = record.get(REJECTED_KEY)
        problems = rejected.get("problems") if isinstance(rejected, dict) else None
        for problem in problems if isinstance(problems, list) else []:
            if not isinstance(problem, dict):
                continue
            key = (str(problem.get("field")), str(problem.get("kind")))
            values = problem.get("values", 1)
            self.problem_requests[key] = self.problem_requests.get(key, 0) + 1
            self.problem_values[key] = self.problem_values.get(key, 0) + (
                values if isinstance(values, int) else 1
            )

    @property
    def total(self) -> float:
        return self.accepted + self.rejected

    @property
    def reject_rate(self) -> float | None:
        """Rejected requests over all requests; None when the window saw none."""
        return self.rejected / self.total if self.total > 0 else None

    def by_hour(self) -> dict[str, float]:
        """All requests (accepted and rejected) by UTC hour."""
        hours = self.accepted_by_hour.keys() | self.rejected_by_hour.keys()
        return {
            hour_of(datetime.fromtimestamp(hour * 3600, UTC)): round(
                self.accepted_by_hour.get(hour, 0.0) + self.rejected_by_hour.get(hour, 0), 3
            )
            for hour in sorted(hours)
        }
