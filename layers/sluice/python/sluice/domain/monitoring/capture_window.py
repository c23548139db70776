"""A window of captured traffic read in bounded memory: a uniform reservoir sample of at most `max_rows`
captured records, exact counts of every record, and every labelled record joined with its label.

Pure: the reader (adapters/traffic.py) lists and fetches the capture objects and feeds their JSON lines,
in key order, to a `WindowTally`; the same lines in the same order give the same sample in any process,
because the sample's random numbers are seeded from the model and the window.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sluice.domain.monitoring.quality.traffic import REJECTED_KEY, RequestCounts

LabelKey = tuple[str, int]  # (request_id, instance)


class Reservoir:
    """A uniform random sample of at most `size` of the items offered, whatever their number, holding
    never more than `size` of them (Li's Algorithm L: one random number per replacement, not per item).
    `items()` returns the sample in the order the items were offered."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.seen = 0
        self._rng = rng
        self._held: list[tuple[int, Any]] = []
        self._weight = 0.0
        self._next = 0  # index of the next offered item that enters the full reservoir

    def offer(self, item: Any) -> None:
        index = self.seen
        self.seen += 1
        if self.size <= 0:
            return
        if index < self.size:
            self._held.append((index, item))
            if index + 1 == self.size:
                self._weight = math.exp(math.log(self._uniform()) / self.size)
                self._next = self.size + self._gap()
            return
        if index == self._next:
            self._held[self._rng.randrange(self.size)] = (index, item)
            self._weight *= math.exp(math.log(self._uniform()) / self.size)
            self._next = index + 1 + self._gap()

    def items(self) -> list[Any]:
        return [item for _, item in sorted(self._held, key=lambda held: held[0])]

    def __len__(self) -> int:
        return len(self._held)

    def _uniform(self) -> float:
        value = self._rng.random()
        while value == 0.0:
            value = self._rng.random()
        return value

    def _gap(self) -> int:
        """How many offered items to pass over before the next replacement."""
        if self._weight >= 1.0:
            return 0
        return math.floor(math.log(self._uniform()) / math.log1p(-self._weight))


def sample_seed(model: str, start: datetime, end: datetime, version: int | None) -> int:
    """The sample's seed: the same model, window and version always draw the same sample."""
    text = f"{model}|{start.isoformat()}|{end.isoformat()}|{version}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def latest_labels(lines: Iterable[bytes | str], start: datetime, end: datetime) -> dict[LabelKey, Any]:
    """The labels sent in [start, end) from feedback JSON lines `{request_id, instance, label, time}`,
    by (request_id, instance); a label sent twice counts once, the latest `time` winning. Lines that are
    not such JSON objects are ignored."""
    latest: dict[LabelKey, tuple[datetime, Any]] = {}
    for line in lines:
        try:
            item = json.loads(line)
            sent = datetime.fromisoformat(item["time"])
            key = (str(item["request_id"]), int(item.get("instance", 0)))
            label = item["label"]
        except (ValueError, KeyError, TypeError):
            continue
        if not start <= sent < end:
            continue
        if key not in latest or latest[key][0] <= sent:
            latest[key] = (sent, label)
    return {key: label for key, (_, label) in latest.items()}


@dataclass(frozen=True)
class CapturedWindow:
    """What one window [start, end) of one model's captured traffic holds.

    `sample` is a uniform random sample of the window's records of `version` (of every version when
    None), at most `max_rows` of them, in capture order; `sampled_from` is how many it was drawn from.
    `rows` and `rows_by_version` count every record of the window exactly. `labelled` holds every
    record of the window (any version) that has a label in `labels`, whatever the sample;
    `label_count` counts the labels sent in the window and `unmatched_labels` those whose record is
    not in it. `requests` counts the window's requests, accepted and rejected (rejection lines are in
    none of the other fields)."""

    model: str
    start: datetime
    end: datetime
    version: int | None
    max_rows: int
    sample: list[dict[str, Any]]
    sampled_from: int
    rows: int
    rows_by_version: dict[int, int]
    labelled: list[dict[str, Any]]
    labels: dict[LabelKey, Any]
    label_count: int
    unmatched_labels: int
    objects: int = 0
    bad_lines: int = 0
    requests: RequestCounts = field(default_factory=RequestCounts)

    @property
    def is_sample(self) -> bool:
        """Whether the sample holds fewer records than it was drawn from."""
        return len(self.sample) < self.sampled_from

    def labelled_of(self, version: int) -> list[dict[str, Any]]:
        return [r for r in self.labelled if r.get("version") == version]

    def summary(self) -> dict[str, Any]:
        """The counts as JSON-ready data (the drift report stores them beside its verdict)."""
        return {
            "rows": self.rows,
            "rows_by_version": {str(v): n for v, n in sorted(self.rows_by_version.items())},
            "sample_rows": len(self.sample),
            "sampled_from": self.sampled_from,
            "max_rows": self.max_rows,
            "uniform_sample": self.is_sample,
            "labelled_rows": len(self.labelled),
            "labels": self.label_count,
            "unmatched_labels": self.unmatched_labels,
            "objects": self.objects,
            "bad_lines": self.bad_lines,
        }


@dataclass
class WindowTally:
    """Builds a `CapturedWindow` from capture JSON lines fed one object at a time, in key order. Holds
    at most `max_rows` sampled lines (as text, parsed once at the end) plus the labelled records."""

    model: str
    start: datetime
    end: datetime
    max_rows: int
    labels: Mapping[LabelKey, Any]
    version: int | None = None
    rows: int = 0
    objects: int = 0
    bad_lines: int = 0
    rows_by_version: dict[int, int] = field(default_factory=dict)
    labelled: dict[LabelKey, dict[str, Any]] = field(default_factory=dict)
    requests: RequestCounts = field(default_factory=RequestCounts)
    _reservoir: Reservoir = field(init=False)

    def __post_init__(self) -> None:
        seed = sample_seed(self.model, self.start, self.end, self.version)
        self._reservoir = Reservoir(self.max_rows, random.Random(seed))

    def add_object(self, body: bytes) -> None:
        """Every JSON line of one decompressed capture object. The loop is the check's hot path (10⁷
        lines a day at 1,000 requests/s): one small parse per line, nothing else held but the sample."""
        self.objects += 1
        start, end, wanted, labels = self.start, self.end, self.version, self.labels
        by_version, offer = self.rows_by_version, self._reservoir.offer
        for line in body.decode("utf-8", errors="replace").split("\n"):
            if not line or line.isspace():
                continue
            record = record_head(line)
            try:
                captured = datetime.fromisoformat(record["time"])
            except (ValueError, KeyError, TypeError):
                self.bad_lines += 1
                continue
            if not start <= captured < end:
                continue
            if REJECTED_KEY in record:
                try:
                    self.requests.add_rejected(json.loads(line), captured)
                except ValueError:
                    self.bad_lines += 1
                continue
            if record.get("instance", 0) == 0:  # a request's first line counts the request
                self.requests.add_accepted(record.get("fraction"), captured)
            self.rows += 1
            version = record.get("version")
            if isinstance(version, int):
                by_version[version] = by_version.get(version, 0) + 1
            if wanted is None or version == wanted:
                offer(line)
            if labels:
                key = (str(record.get("request_id")), instance_of(record))
                # Firehose delivers at least once: a record seen twice is kept once.
                if key in labels and key not in self.labelled:
                    self.labelled[key] = json.loads(line)

    def result(self) -> CapturedWindow:
        labelled = sorted(
            self.labelled.values(),
            key=lambda r: (str(r.get("time")), str(r.get("request_id")), instance_of(r)),
        )
        return CapturedWindow(
            model=self.model,
            start=self.start,
            end=self.end,
            version=self.version,
            max_rows=self.max_rows,
            sample=[json.loads(line) for line in self._reservoir.items()],
            sampled_from=self._reservoir.seen,
            rows=self.rows,
            rows_by_version=dict(self.rows_by_version),
            labelled=labelled,
            labels={key: self.labels[key] for key in self.labelled},
            label_count=len(self.labels),
            unmatched_labels=len(self.labels) - len(self.labelled),
            objects=self.objects,
            bad_lines=self.bad_lines,
            requests=self.requests,
        )


def window_notes(window: CapturedWindow | None, version: int) -> list[str]:
    """Lines a drift report shows about the window it read: its exact counts, and whether the verdicts
    are on every row of `version` or on a uniform random sample of them."""
    if window is None:
        return []
    by_version = ", ".join(f"version {v}: {n:,}" for v, n in sorted(window.rows_by_version.items()))
    notes = [f"The window held {window.rows:,} captured rows ({by_version or 'none'})."]
    if window.is_sample:
        notes.append(
            f"Drift and estimated accuracy are computed on a uniform random sample of {len(window.sample):,} "
            f"of version {version}'s {window.sampled_from:,} rows (at most {window.max_rows:,}, "
            "DriftMaxRows): a verdict is what the same test says on any random sample of that size."
        )
    notes.append(
        f"{window.label_count:,} labels were sent in the window; {len(window.labelled):,} of them "
        f"matched a captured row (every one is used for the live metric), {window.unmatched_labels:,} "
        "matched none."
    )
    return notes


INPUTS_KEY = ',"inputs":'
_DECODER = json.JSONDecoder()


def record_head(line: str) -> dict[str, Any]:
    """The record's small top-level keys (request_id, instance, time, version…), which the capture
    writer puts before its inputs: parsing only them is several times cheaper than the whole line.
    When the text before the first `,"inputs":`, closed with "}", is not exactly one JSON object
    holding `time` and `version` (the cut fell inside a string or a nested value, or the keys come in
    another order), the whole line is parsed instead: the result is always the record's own keys."""
    cut = line.find(INPUTS_KEY)
    if cut > 0:
        head = line[:cut] + "}"
        try:
            found, end = _DECODER.raw_decode(head)
        except ValueError:
            found, end = None, 0
        if end == len(head) and isinstance(found, dict) and "time" in found and "version" in found:
            return found
    try:
        whole = json.loads(line)
    except ValueError:
        return {}
    return whole if isinstance(whole, dict) else {}


def instance_of(record: Mapping[str, Any]) -> int:
    try:
        return int(record.get("instance", 0))
    except (TypeError, ValueError):
        return 0
