"""A model's window checked in parts: `plan_window` lists the window's capture objects and splits them
into partitions of bounded bytes (a manifest in S3, so a day of objects never passes through a state's
payload), `summarize_partition` reads one partition into a mergeable summary
(`sluice.domain.monitoring.summary`), `check_from_summaries` merges every partition's summary and
checks and acts on it as `check_model` does on one pass over the same objects.

The monitoring state machine calls them in that order (a Distributed Map over the manifest between the
first and the last). What one check writes, under `monitoring/<model>/v<version>/<window end>/`:
`manifest.json` (a JSON array of partitions `{"keys": [...], "bytes": n}`), `context.json.gz` (the
window's labels and the reference's bins, read once by the plan and by every child) and
`summaries/<index>.json.gz` (each partition's summary; the summaries prefix)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from sluice.app.monitoring.act import ModelCheck, act_on_drift
from sluice.app.monitoring.check import assess_captured, version_inputs
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.ports import CoreDeps, TrainingDeps
from sluice.domain.monitoring.drift.live import feature_kinds
from sluice.domain.monitoring.summary.histogram import ReferenceBins, reference_bins
from sluice.domain.monitoring.summary.tally import SummaryTally
from sluice.domain.monitoring.summary.window import (
    WindowSummary,
    captured_window,
    merge,
    sample_capacity,
)
from sluice.domain.registry.records import TrafficWindow
from sluice.errors import ArtifactCorrupt

PARTITION_KEYS = 1_000  # objects per partition at most (a manifest item stays a few tens of KB)
MANIFEST = "manifest.json"
CONTEXT = "context.json.gz"
SUMMARIES = "summaries/"
SUMMARY_SUFFIX = ".json.gz"


class WindowSpan(BaseModel):
    """A window of capture by record time, [start, end)."""

    start: datetime
    end: datetime

    def traffic(self) -> TrafficWindow:
        return TrafficWindow(start=self.start, end=self.end)


class Partition(BaseModel):
    """Capture objects one child reads: their keys (in key order) and compressed bytes."""

    keys: list[str]
    bytes: int


class WindowPlan(BaseModel):
    """A window split: where its manifest is and how many partitions it lists."""

    model: str
    version: int
    window: WindowSpan
    manifest_uri: str
    manifest_bucket: str
    manifest_key: str
    parts: int
    objects: int
    bytes: int
    summaries_prefix: str


class PartitionRequest(BaseModel):
    """One child's work: a partition of the window of `model`'s `version`. `bytes` (the partition's,
    from the manifest) bounds the read-ahead, and with `window_bytes` (the plan's `bytes`) sizes the
    child's share of the sample (`sample_capacity`); 0 when not passed (then the whole sample size)."""

    model: str
    version: int
    window: WindowSpan
    keys: list[str]
    summaries_prefix: str
    index: int
    bytes: int = 0
    window_bytes: int = 0


class PartitionResult(BaseModel):
    """Where a child wrote its summary and how many captured rows it read in the window."""

    summary_uri: str
    rows: int


class _Context(BaseModel):
    labels: list[tuple[str, int, Any]]
    label_count: int
    bins: ReferenceBins


def run_prefix(model: str, version: int, end: datetime) -> str:
    return f"monitoring/{model}/v{version}/{end:%Y%m%dT%H%M%S%fZ}/"


def plan_window(
    deps: CoreDeps, limits: DriftCheckLimits, model: str, version: int, now: datetime
) -> WindowPlan:
    """Split the window of `limits.drift_window_hours` ending at `now`: its capture objects (those a
    single pass reads, in key order) in consecutive partitions of at most `drift_partition_bytes`
    compressed bytes and PARTITION_KEYS objects (an object larger alone is a partition alone); the
    manifest and the context (labels, bins) written beside the summaries prefix."""
    window = WindowSpan(start=now - timedelta(hours=limits.drift_window_hours), end=now)
    inputs = version_inputs(deps, model, version)
    objects = deps.traffic.window_objects(model, window.start, window.end)
    parts = split(objects, limits.drift_partition_bytes)
    labels = deps.traffic.window_labels(model, window.start, window.end)
    bins = reference_bins(inputs.reference, feature_kinds(inputs.spec))
    context = _Context(
        labels=[(rid, instance, label) for (rid, instance), label in labels.items()],
        label_count=len(labels),
        bins=bins,
    )
    prefix = run_prefix(model, version, now)
    deps.artifacts.put_bytes(prefix + CONTEXT, gzip.compress(context.model_dump_json().encode(), 5))
    manifest = deps.artifacts.put_json(prefix + MANIFEST, [p.model_dump() for p in parts])
    bucket, _, key = manifest.uri.removeprefix("s3://").partition("/")
    return WindowPlan(
        model=model,
        version=version,
        window=window,
        manifest_uri=manifest.uri,
        manifest_bucket=bucket,
        manifest_key=key,
        parts=len(parts),
        objects=len(objects),
        bytes=sum(size for _, size in objects),
        summaries_prefix=prefix + SUMMARIES,
    )


def split(objects: list[tuple[str, int]], max_bytes: int) -> list[Partition]:
    """Consecutive runs of `objects` of at most `max_bytes` and PARTITION_KEYS objects each."""
    parts: list[Partition] = []
    keys: list[str] = []
    size = 0
    for key, object_bytes in objects:
        if keys and (size + object_bytes > max_bytes or len(keys) >= PARTITION_KEYS):
            parts.append(Partition(keys=keys, bytes=size))
            keys, size = [], 0
        keys.append(key)
        size += object_bytes
    if keys:
        parts.append(Partition(keys=keys, bytes=size))
    return parts


def summarize_partition(
    deps: CoreDeps, limits: DriftCheckLimits, request: PartitionRequest
) -> PartitionResult:
    """Read the partition's objects into a `WindowSummary` and write it to
    `<summaries_prefix><index>.json.gz` (an existing one is overwritten: a retried child writes the
    same summary)."""
    context = _read_context(deps, request.summaries_prefix)
    tally = SummaryTally(
        model=request.model,
        start=request.window.start,
        end=request.window.end,
        max_rows=limits.drift_max_rows,
        labels={(rid, instance): label for rid, instance, label in context.labels},
        label_count=context.label_count,
        version=request.version,
        bins=context.bins,
        capacity=sample_capacity(
            limits.drift_max_rows, request.bytes / request.window_bytes if request.window_bytes else 0
        ),
    )
    share = request.bytes // len(request.keys) if request.keys else 0
    for key, body in deps.traffic.read_objects([(key, share) for key in request.keys]):
        tally.add_object(key, body)
    summary = tally.result()
    key = f"{request.summaries_prefix}{request.index:05d}{SUMMARY_SUFFIX}"
    stored = deps.artifacts.put_bytes(key, gzip.compress(summary.model_dump_json().encode(), 5))
    return PartitionResult(summary_uri=stored.uri, rows=summary.rows)


def merged_summary(
    deps: CoreDeps,
    limits: DriftCheckLimits,
    model: str,
    version: int,
    window: WindowSpan,
    summaries_prefix: str,
) -> WindowSummary:
    """Every summary under the prefix merged (the empty window's summary when there is none: a window
    without capture objects). Read one at a time and merged in batches of about twice `drift_max_rows`
    sampled rows (merge is associative: the same result as all at once), so the reduce of a thousand
    children holds a few samples' rows, and merges each row about once."""
    batch: list[WindowSummary] = []
    held = 0
    for summary in _summaries(deps, summaries_prefix):
        if (summary.model, summary.version) != (model, version):
            raise ArtifactCorrupt(f"{summaries_prefix} holds a summary of {summary.model} v{summary.version}")
        batch.append(summary)
        held += len(summary.sample)
        if held >= 2 * max(limits.drift_max_rows, 1) and len(batch) > 1:
            batch = [merge(batch)]
            held = len(batch[0].sample)
    merged = merge(batch) if batch else None
    if merged is not None:
        return merged
    context = _read_context(deps, summaries_prefix)
    return SummaryTally(
        model=model,
        start=window.start,
        end=window.end,
        max_rows=limits.drift_max_rows,
        labels={},
        label_count=context.label_count,
        version=version,
        bins=context.bins,
    ).result()


def check_from_summaries(
    deps: TrainingDeps,
    limits: DriftCheckLimits,
    model: str,
    version: int,
    window: WindowSpan,
    summaries_prefix: str,
    now: datetime,
) -> ModelCheck:
    """Merge the window's summaries, check the merged window and act on it: the `ModelCheck` (and
    reports) `check_model` gives on one pass over the same objects."""
    inputs = version_inputs(deps, model, version)
    summary = merged_summary(deps, limits, model, version, window, summaries_prefix)
    assessment = assess_captured(deps, limits, inputs, window.traffic(), captured_window(summary))
    return act_on_drift(deps, limits, assessment, now)


def _summaries(deps: CoreDeps, prefix: str) -> Iterator[WindowSummary]:
    for key in sorted(deps.artifacts.list_keys(prefix)):
        if key.endswith(SUMMARY_SUFFIX):
            data = deps.artifacts.get_bytes(deps.artifacts.uri(key))
            yield WindowSummary.model_validate_json(gzip.decompress(data))


def _read_context(deps: CoreDeps, summaries_prefix: str) -> _Context:
    key = summaries_prefix.removesuffix(SUMMARIES) + CONTEXT
    data = deps.artifacts.get_bytes(deps.artifacts.uri(key))
    return _Context.model_validate_json(gzip.decompress(data))
