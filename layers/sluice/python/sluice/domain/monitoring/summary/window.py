"""A mergeable summary of captured traffic: what one partition of a window's capture objects holds,
or several partitions merged. `merge` is associative and order-independent, and merging every
partition's summary gives exactly what one pass over all the objects in key order reads
(`captured_window` turns it into that `CapturedWindow`):

- counts (rows, by version, objects, bad lines, requests accepted and rejected by hour and problem):
  added; exact (accepted requests are sums of 1/fraction: exact for fractions 1, 1/2, 1/4…, equal to
  the last bit otherwise);
- histograms of every row of the version on the reference's bins (`histogram`): added, exact;
- labelled rows: every captured row (any version) whose label was sent in the window, the first one
  by (object key, line) kept when Firehose delivered it twice, as a single pass keeps it;
- the sample: A-Res with unit weights (each row of the version gets a random key u, the `max_rows`
  largest keys are kept), the keys drawn per object from a seed of the model, window, version and the
  object's key, so a row has the same key whichever partition reads it. A summary holds every row of
  its objects whose key is at least its `threshold` (0 when it holds every row); a partition that is
  a small share of its window keeps fewer than `max_rows` (`sample_capacity`), so that the reduce of
  a thousand children reads about `max_rows` rows, not a thousand times as many. Merging keeps the
  rows at or above the largest threshold, at most `max_rows` of them, the largest keys. It is the
  sample one A-Res pass over all the objects would draw: when the version has at most `max_rows` rows
  it holds every one of them, in capture order, exactly what the single pass (`WindowTally`, Li's
  Algorithm L) holds; beyond, another uniform random sample of the same size (smaller only if the
  partitions' capacities fell short, which `sample_capacity`'s margin makes unlikely beyond reason,
  and the counts then say so)."""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from sluice.domain.monitoring.capture_window import CapturedWindow, LabelKey, instance_of
from sluice.domain.monitoring.quality.traffic import RequestCounts
from sluice.domain.monitoring.summary.histogram import ColumnHistogram, merge_histograms


class SampledRow(BaseModel):
    """A row of the sample: its random key, where it was read (object key, line number) and its line."""

    key: float
    object: str
    line_number: int
    line: str

    @property
    def rank(self) -> tuple[float, str, int]:
        return (self.key, self.object, self.line_number)


class LabelledRow(BaseModel):
    """A captured row that has a label sent in the window, with that label."""

    request_id: str
    instance: int
    object: str
    line_number: int
    line: str
    label: Any

    @property
    def at(self) -> tuple[str, int]:
        return (self.object, self.line_number)


class RequestSummary(BaseModel):
    """`RequestCounts` as JSON (problem keys as "field|kind")."""

    accepted: float = 0.0
    rejected: int = 0
    sampled_rejections: int = 0
    accepted_by_hour: dict[int, float] = Field(default_factory=dict)
    rejected_by_hour: dict[int, int] = Field(default_factory=dict)
    problem_requests: dict[str, int] = Field(default_factory=dict)
    problem_values: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def of(cls, counts: RequestCounts) -> RequestSummary:
        return cls(
            accepted=counts.accepted,
            rejected=counts.rejected,
            sampled_rejections=counts.sampled_rejections,
            accepted_by_hour=dict(counts.accepted_by_hour),
            rejected_by_hour=dict(counts.rejected_by_hour),
            problem_requests={_joined(k): n for k, n in counts.problem_requests.items()},
            problem_values={_joined(k): n for k, n in counts.problem_values.items()},
        )

    def counts(self) -> RequestCounts:
        return RequestCounts(
            accepted=self.accepted,
            rejected=self.rejected,
            sampled_rejections=self.sampled_rejections,
            accepted_by_hour=dict(sorted(self.accepted_by_hour.items())),
            rejected_by_hour=dict(sorted(self.rejected_by_hour.items())),
            problem_requests={_split(k): n for k, n in sorted(self.problem_requests.items())},
            problem_values={_split(k): n for k, n in sorted(self.problem_values.items())},
        )

    def add(self, other: RequestSummary) -> RequestSummary:
        return RequestSummary(
            accepted=self.accepted + other.accepted,
            rejected=self.rejected + other.rejected,
            sampled_rejections=self.sampled_rejections + other.sampled_rejections,
            accepted_by_hour=_added(self.accepted_by_hour, other.accepted_by_hour),
            rejected_by_hour=_added(self.rejected_by_hour, other.rejected_by_hour),
            problem_requests=_added(self.problem_requests, other.problem_requests),
            problem_values=_added(self.problem_values, other.problem_values),
        )


class WindowSummary(BaseModel):
    """What some of the capture objects of one model's window [start, end) hold (see the module)."""

    model: str
    version: int | None
    start: datetime
    end: datetime
    max_rows: int
    label_count: int  # labels sent in the window (all of them, whatever the objects read)
    objects: int = 0
    bad_lines: int = 0
    rows: int = 0
    rows_by_version: dict[int, int] = Field(default_factory=dict)
    sampled_from: int = 0  # rows of `version` (of every version when None)
    requests: RequestSummary = Field(default_factory=RequestSummary)
    histograms: dict[str, ColumnHistogram] = Field(default_factory=dict)
    labelled: list[LabelledRow] = Field(default_factory=list)
    sample: list[SampledRow] = Field(default_factory=list)
    threshold: float = 0.0  # the sample holds every row of the version whose key is at least this

    def same_window(self, other: WindowSummary) -> bool:
        mine = (self.model, self.version, self.start, self.end, self.max_rows, self.label_count)
        return mine == (other.model, other.version, other.start, other.end, other.max_rows, other.label_count)


def sample_capacity(max_rows: int, share: float) -> int:
    """How many sampled rows a partition holding `share` of its window's bytes keeps: its expected
    part of the window's `max_rows` largest keys, a quarter more, eight standard deviations and 64
    rows (all `max_rows` when the share is unknown, 0, or large)."""
    if not 0 < share < 1:
        return max_rows
    expected = max_rows * share
    return min(max_rows, math.ceil(1.25 * expected + 8 * math.sqrt(expected) + 64))


def merge(summaries: Iterable[WindowSummary]) -> WindowSummary:
    """The summaries of disjoint sets of objects of one window, merged (see the module); raises
    ValueError when there are none or they are of different windows."""
    parts = list(summaries)
    if not parts:
        raise ValueError("no summary to merge")
    first = parts[0]
    if not all(first.same_window(part) for part in parts):
        raise ValueError("summaries of different windows cannot be merged")
    requests = RequestSummary()
    by_version: dict[int, int] = {}
    labelled: dict[LabelKey, LabelledRow] = {}
    for part in parts:
        requests = requests.add(part.requests)
        by_version = _added(by_version, part.rows_by_version)
        for row in part.labelled:
            key = (row.request_id, row.instance)
            if key not in labelled or row.at < labelled[key].at:
                labelled[key] = row
    threshold = max(p.threshold for p in parts)
    kept = [r for p in parts for r in p.sample if r.key >= threshold]
    sample = heapq.nlargest(first.max_rows, kept, key=lambda r: r.rank)
    if len(kept) > len(sample):
        threshold = min(r.key for r in sample) if sample else 1.0
    return first.model_copy(
        update={
            "objects": sum(p.objects for p in parts),
            "bad_lines": sum(p.bad_lines for p in parts),
            "rows": sum(p.rows for p in parts),
            "rows_by_version": dict(sorted(by_version.items())),
            "sampled_from": sum(p.sampled_from for p in parts),
            "requests": requests,
            "histograms": merge_histograms([p.histograms for p in parts]),
            "labelled": sorted(labelled.values(), key=lambda r: r.at),
            "sample": sorted(sample, key=lambda r: (r.object, r.line_number)),
            "threshold": threshold,
        }
    )


def captured_window(summary: WindowSummary) -> CapturedWindow:
    """The `CapturedWindow` a single pass over the summary's objects reads (see the module for the
    sample)."""
    labelled = [json.loads(row.line) for row in summary.labelled]  # in capture order, as first read
    ordered = sorted(summary.sample, key=lambda r: (r.object, r.line_number))
    return CapturedWindow(
        model=summary.model,
        start=summary.start,
        end=summary.end,
        version=summary.version,
        max_rows=summary.max_rows,
        sample=[json.loads(row.line) for row in ordered],
        sampled_from=summary.sampled_from,
        rows=summary.rows,
        rows_by_version=dict(summary.rows_by_version),
        labelled=sorted(
            labelled, key=lambda r: (str(r.get("time")), str(r.get("request_id")), instance_of(r))
        ),
        labels={(row.request_id, row.instance): row.label for row in summary.labelled},
        label_count=summary.label_count,
        unmatched_labels=summary.label_count - len(summary.labelled),
        objects=summary.objects,
        bad_lines=summary.bad_lines,
        requests=summary.requests.counts(),
    )


def _added[K, N: (int, float)](a: dict[K, N], b: dict[K, N]) -> dict[K, N]:
    total = dict(a)
    for key, value in b.items():
        total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))


def _joined(key: tuple[str, str]) -> str:
    return f"{key[0]}|{key[1]}"


def _split(key: str) -> tuple[str, str]:
    field, _, kind = key.rpartition("|")
    return (field, kind)
