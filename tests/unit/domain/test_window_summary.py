"""Mergeable window summaries: however a window's capture objects are split into partitions, and in
whatever order and grouping the partitions' summaries are merged, the merge is the same summary, the
one a single partition holding every object gives; and the window it stands for is the one a single
pass (`WindowTally`) reads whenever the version's rows fit in the sample."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.domain.monitoring.capture_window import WindowTally
from sluice.domain.monitoring.summary.histogram import ColumnBins, ReferenceBins
from sluice.domain.monitoring.summary.tally import SummaryTally
from sluice.domain.monitoring.summary.window import WindowSummary, captured_window, merge, sample_capacity

START = datetime(2026, 12, 1, tzinfo=UTC)
END = START + timedelta(hours=24)
BINS = ReferenceBins(
    columns={
        "income": ColumnBins(kind="numerical", edges=[20.0, 40.0, 60.0]),
        "segment": ColumnBins(kind="categorical", categories=["retail", "sme"]),
    }
)


def line(i: int, rng: random.Random) -> dict[str, Any]:
    """A capture line: mostly version 1, some version 2, some outside the window, some rejections."""
    hours = rng.choice([-2, 1, 5, 23, 30])
    record: dict[str, Any] = {
        "request_id": f"r{i // 3}",
        "instance": i % 3,
        "time": (START + timedelta(hours=hours, minutes=i % 60)).isoformat(),
        "model": "m",
        "version": rng.choice([1, 1, 1, 2]),
    }
    if rng.random() < 0.1:
        record["rejected"] = {
            "status": 400,
            "problems": [{"field": "income", "kind": "missing", "values": 1}],
        }
        return record
    income = rng.choice([None, "text", rng.uniform(0, 90)])
    segment = rng.choice([None, "retail", "sme", "corporate"])
    record["inputs"] = {"income": income, "segment": segment}
    record["outputs"] = {"prediction": rng.choice([0, 1])}
    return record


def objects_of(n_rows: int, n_objects: int, seed: int) -> list[tuple[str, bytes]]:
    """`n_rows` capture lines in `n_objects` objects, in key order; one line delivered twice."""
    rng = random.Random(seed)
    lines = [json.dumps(line(i, rng)) for i in range(n_rows)]
    if lines:
        lines.append(lines[0])  # Firehose delivers at least once: a duplicate in the last object
    size = max(1, -(-len(lines) // n_objects))
    return [
        (f"capture/m/dt=2026-12-01/hour=00/{k:04d}", "\n".join(lines[i : i + size]).encode())
        for k, i in enumerate(range(0, len(lines), size))
    ]


def labels_of(objects: list[tuple[str, bytes]]) -> dict[tuple[str, int], Any]:
    """A label for every other request's instance 0, and one for a request never captured."""
    ids = sorted({json.loads(x)["request_id"] for _, body in objects for x in body.split(b"\n")})
    return {(rid, 0): 1 for rid in ids[::2]} | {("never", 0): 0}


def summarize(
    objects: list[tuple[str, bytes]],
    labels: dict[tuple[str, int], Any],
    max_rows: int,
    capacity: int | None = None,
) -> WindowSummary:
    tally = SummaryTally("m", START, END, max_rows, labels, len(labels), 1, BINS, capacity)
    for key, body in objects:
        tally.add_object(key, body)
    return tally.result()


@settings(max_examples=40, deadline=None)
@given(
    n_rows=st.integers(0, 120),
    n_objects=st.integers(1, 8),
    max_rows=st.integers(0, 40),
    cuts=st.lists(st.integers(0, 8), max_size=4),
    seed=st.integers(0, 10_000),
)
def test_merge_is_associative_order_independent_and_equals_one_partition(
    n_rows: int, n_objects: int, max_rows: int, cuts: list[int], seed: int
) -> None:
    # Given a window's objects split into consecutive partitions at random cuts, each summarized alone
    objects = objects_of(n_rows, n_objects, seed)
    labels = labels_of(objects)
    edges = sorted({0, len(objects), *(min(c, len(objects)) for c in cuts)})
    parts = [summarize(objects[a:b], labels, max_rows) for a, b in itertools.pairwise(edges)]
    parts = parts or [summarize([], labels, max_rows)]
    whole = summarize(objects, labels, max_rows)
    # When they are merged all at once, in reverse order, and grouped left and right
    shuffled = list(parts)
    random.Random(seed).shuffle(shuffled)
    at_once = merge(parts)
    reversed_ = merge(reversed(parts))
    left = parts[0]
    for part in parts[1:]:
        left = merge([left, part])
    right = parts[-1]
    for part in reversed(parts[:-1]):
        right = merge([part, right])
    # Then every merge is the summary of one partition holding every object
    for merged in (at_once, reversed_, left, right, merge(shuffled)):
        assert merged == whole
    # And the sample keeps the largest keys, at most max_rows of the version's rows
    assert len(whole.sample) == min(max_rows, whole.sampled_from)


@settings(max_examples=25, deadline=None)
@given(n_rows=st.integers(0, 150), n_objects=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_merged_window_is_the_single_pass_window_when_the_rows_fit_the_sample(
    n_rows: int, n_objects: int, seed: int
) -> None:
    # Given a window's objects, its labels, and a sample large enough for every row of version 1
    objects = objects_of(n_rows, n_objects, seed)
    labels = labels_of(objects)
    single = WindowTally("m", START, END, 1_000, labels, version=1)
    for _, body in objects:
        single.add_object(body)
    # When each object is summarized alone and the summaries merged
    merged = (
        merge(summarize([o], labels, 1_000) for o in objects) if objects else summarize([], labels, 1_000)
    )
    # Then the window it stands for is the single pass's: counts, sample, labelled rows, requests
    assert captured_window(merged) == single.result()


def test_histograms_count_every_row_of_the_version_on_the_reference_bins() -> None:
    # Given three rows of version 1 (one missing income, one text) and one of version 2
    rows = [
        {"income": 10, "segment": "retail"},
        {"income": 45.5, "segment": "corporate"},
        {"income": None, "segment": "sme"},
        {"income": "lots", "segment": None},
    ]
    body = (
        "\n".join(
            json.dumps(
                {"request_id": str(i), "instance": 0, "time": START.isoformat(), "version": 1, "inputs": r}
            )
            for i, r in enumerate(rows)
        )
        + "\n"
        + json.dumps({"request_id": "x", "time": START.isoformat(), "version": 2, "inputs": rows[0]})
    )
    # When the object is summarized (with a sample of 1: histograms count every row, sampled or not)
    tally = SummaryTally("m", START, END, 1, {}, 0, version=1, bins=BINS)
    tally.add_object("k", body.encode())
    histograms = tally.result().histograms
    # Then income counts 10 below the first edge and 45.5 in [40, 60), one missing and one invalid
    assert histograms["income"].model_dump() == {
        "counts": [1, 0, 1, 0],
        "unseen": 0,
        "missing": 1,
        "invalid": 1,
    }
    # And segment counts its reference categories, one unseen (corporate) and one missing
    assert histograms["segment"].model_dump() == {"counts": [1, 1], "unseen": 1, "missing": 1, "invalid": 0}


@settings(max_examples=40, deadline=None)
@given(
    n_rows=st.integers(0, 200),
    n_objects=st.integers(1, 10),
    max_rows=st.integers(1, 60),
    seed=st.integers(0, 10_000),
)
def test_partitions_keeping_their_share_of_the_sample_merge_to_the_whole_sample(
    n_rows: int, n_objects: int, max_rows: int, seed: int
) -> None:
    # Given each object summarized alone, keeping only its capacity: its share of the sample, with margin
    objects = objects_of(n_rows, n_objects, seed)
    labels = labels_of(objects)
    total = sum(len(body) for _, body in objects)
    parts = [summarize([o], labels, max_rows, sample_capacity(max_rows, len(o[1]) / total)) for o in objects]
    whole = summarize(objects, labels, max_rows)
    # When they are merged
    merged = merge(parts) if parts else summarize([], labels, max_rows)
    # Then the merge holds every row at or above its threshold, and at most max_rows of them
    assert merged.sample == [r for r in whole.sample if r.key >= merged.threshold]
    assert len(merged.sample) <= max_rows
    # And, unless the capacities fell short (which the margin makes rare), it is the whole's sample
    if len(merged.sample) == min(max_rows, whole.sampled_from):
        assert merged == whole


def test_a_small_share_keeps_about_its_part_of_the_sample() -> None:
    # Given a sample of 200,000 rows split among 1,000 equal partitions
    capacity = sample_capacity(200_000, 1 / 1_000)
    # Then each keeps its 200 expected rows with margin, not 200,000; the whole window keeps all
    assert 200 < capacity < 500 and sample_capacity(200_000, 1.0) == sample_capacity(200_000, 0) == 200_000
