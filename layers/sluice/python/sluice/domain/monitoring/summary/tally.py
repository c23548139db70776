"""One partition of a window read into a `WindowSummary`: the capture objects' JSON lines fed one
object at a time, like `WindowTally` reads a whole window, counting the same lines the same way."""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sluice.domain.monitoring.capture_window import LabelKey, instance_of, record_head, sample_seed
from sluice.domain.monitoring.quality.traffic import REJECTED_KEY, RequestCounts
from sluice.domain.monitoring.summary.histogram import (
    ColumnHistogram,
    HistogramCounter,
    ReferenceBins,
)
from sluice.domain.monitoring.summary.window import (
    LabelledRow,
    RequestSummary,
    SampledRow,
    WindowSummary,
)


def object_seed(seed: int, key: str) -> int:
    """The seed of one object's sample keys: the window's seed and the object's key, so a row draws
    the same key whichever partition reads its object."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:8], "big")


@dataclass
class SummaryTally:
    """Builds the `WindowSummary` of some objects of the window [start, end). Holds at most `max_rows`
    sampled lines (the heap of the largest keys), the labelled rows and the histograms."""

    model: str
    start: datetime
    end: datetime
    max_rows: int
    labels: Mapping[LabelKey, Any]
    label_count: int
    version: int | None = None
    bins: ReferenceBins = field(default_factory=ReferenceBins)
    capacity: int | None = None  # sampled rows kept (`sample_capacity`); None: max_rows
    rows: int = 0
    objects: int = 0
    bad_lines: int = 0
    sampled_from: int = 0
    rows_by_version: dict[int, int] = field(default_factory=dict)
    labelled: dict[LabelKey, LabelledRow] = field(default_factory=dict)
    requests: RequestCounts = field(default_factory=RequestCounts)
    histograms: dict[str, ColumnHistogram] = field(init=False)
    _heap: list[tuple[float, str, int, str]] = field(default_factory=list)
    _seed: int = field(init=False)
    _counter: HistogramCounter = field(init=False)

    def __post_init__(self) -> None:
        self._seed = sample_seed(self.model, self.start, self.end, self.version)
        self.histograms = self.bins.empty()
        self._counter = HistogramCounter(self.bins, self.histograms)

    def add_object(self, key: str, body: bytes) -> None:
        """Every JSON line of one decompressed capture object named `key`."""
        self.objects += 1
        start, end, wanted, labels = self.start, self.end, self.version, self.labels
        by_version, heap = self.rows_by_version, self._heap
        size = self.max_rows if self.capacity is None else min(self.capacity, self.max_rows)
        uniform = random.Random(object_seed(self._seed, key)).random
        for number, line in enumerate(body.decode("utf-8", errors="replace").split("\n")):
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
            if record.get("instance", 0) == 0:
                self.requests.add_accepted(record.get("fraction"), captured)
            self.rows += 1
            version = record.get("version")
            if isinstance(version, int):
                by_version[version] = by_version.get(version, 0) + 1
            if wanted is None or version == wanted:
                self.sampled_from += 1
                entry = (uniform(), key, number, line)
                if len(heap) < size:
                    heapq.heappush(heap, entry)
                elif size > 0 and entry > heap[0]:
                    heapq.heapreplace(heap, entry)
                if self.bins.columns:
                    self._counter.add(json.loads(line).get("inputs"))
            if labels:
                found = (str(record.get("request_id")), instance_of(record))
                if found in labels and found not in self.labelled:
                    self.labelled[found] = LabelledRow(
                        request_id=found[0],
                        instance=found[1],
                        object=key,
                        line_number=number,
                        line=line,
                        label=labels[found],
                    )

    def result(self) -> WindowSummary:
        return WindowSummary(
            model=self.model,
            version=self.version,
            start=self.start,
            end=self.end,
            max_rows=self.max_rows,
            label_count=self.label_count,
            objects=self.objects,
            bad_lines=self.bad_lines,
            rows=self.rows,
            rows_by_version=dict(sorted(self.rows_by_version.items())),
            sampled_from=self.sampled_from,
            requests=RequestSummary.of(self.requests),
            histograms=self.histograms,
            labelled=sorted(self.labelled.values(), key=lambda r: r.at),
            sample=[
                SampledRow(key=u, object=obj, line_number=n, line=line)
                for u, obj, n, line in sorted(self._heap, key=lambda e: (e[1], e[2]))
            ],
            threshold=self._threshold(),
        )

    def _threshold(self) -> float:
        """The smallest key kept when rows were left out (1.0 when every row was: none is kept)."""
        if self.sampled_from <= len(self._heap):
            return 0.0
        return self._heap[0][0] if self._heap else 1.0
