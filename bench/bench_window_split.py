"""Window split benchmark (issue 26): what one child of the monitoring state machine's Distributed Map
costs on a partition shaped as Firehose writes it, and what the reduce's merge costs against the
number of children.

- **Child**: gzip JSON-lines objects of CaptureBufferMB (64 MiB before compression, the template's
  default; ~125,000 rows of ~510 bytes: 16 numerical and 4 categorical features, a classifier's
  prediction, probabilities and classes; `bench_capture_scale`'s rows), held in memory (S3's GET is
  not timed: on AWS it streams at ~90 MB/s per connection, 10 of them, and overlaps the parse); timed:
  gunzip and `SummaryTally.add_object` (every line's head parsed, every row of the version parsed
  whole and counted into the reference's bins, the sample's keys), with its share of a day's sample.
  Baseline in the same process: the single pass's `WindowTally` on the same objects (head-only parse,
  no histograms). Peak memory: the child process's VmHWM over its VmRSS before reading.

Times are CPU seconds of the one thread doing the work (`time.process_time`): the machine is shared,
and wall time there measures the neighbours; both steps are single-threaded Python.
- **Merge**: N children's summaries of a day of 8.64×10⁷ rows (each with its `sample_capacity` of
  200,000 rows, 24 hours of request counts, 20 histograms, 20 labelled rows), as stored (gzip JSON),
  decompressed, validated and merged the way `merged_summary` does, then turned into the window the
  checks read (`captured_window`). N = 10, 100, 1,000.

`python -m bench.bench_window_split [--objects N]`."""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from datetime import timedelta
from multiprocessing import get_context
from typing import Any

import numpy as np

from bench.bench_capture_scale import (
    CATEGORICAL,
    CATEGORIES,
    END,
    LINE,
    NUMBER_TEXT,
    NUMERICAL,
    PROBABILITY_TEXT,
    START,
    VERSION,
    draw,
    reference_path,
    rss_mb,
)
from bench.predict.common import machine

BUFFER_BYTES = 64 * 2**20  # CaptureBufferMB's default
DAY_ROWS = 86_400_000  # a day at 1,000 requests/s, one instance each
MAX_ROWS = 200_000  # DriftMaxRows' default
CHILDREN = (10, 100, 1_000)
LABELLED_PER_CHILD = 20


def firehose_object(index: int) -> bytes:
    """One buffer of capture lines, up to BUFFER_BYTES before gzip, as Firehose writes it."""
    rng = np.random.default_rng(index)
    rows = BUFFER_BYTES // 510
    milli, cats, score = draw(rng, rows, shifted=True)
    numbers, categories, scores = milli.tolist(), cats.tolist(), score.tolist()
    opened = START + timedelta(minutes=5 * index)
    lines = []
    for i in range(rows):
        lines.append(
            LINE.format(
                f"{index:04d}{i >> 2:012x}",
                i & 3,
                (opened + timedelta(milliseconds=i)).isoformat(timespec="milliseconds"),
                "scale",
                VERSION,
                *[NUMBER_TEXT[v + 9999] for v in numbers[i]],
                *[CATEGORIES[j][categories[i][j]] for j in range(len(CATEGORICAL))],
                int(scores[i] > 500),
                *PROBABILITY_TEXT[scores[i]],
            )
        )
    return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1, mtime=0)


def bins() -> Any:
    from sluice.domain.monitoring.reference import read_reference
    from sluice.domain.monitoring.summary.histogram import reference_bins

    kinds = dict.fromkeys(NUMERICAL, "numerical") | dict.fromkeys(CATEGORICAL, "categorical")
    return reference_bins(read_reference(reference_path().read_bytes()), kinds)


def child(objects: list[bytes], share: float) -> dict[str, float]:
    """A child's partition: gunzip and summarize each object; then the single pass on the same."""
    from sluice.domain.monitoring.capture_window import WindowTally
    from sluice.domain.monitoring.summary.tally import SummaryTally
    from sluice.domain.monitoring.summary.window import sample_capacity

    reference = bins()
    before = rss_mb()
    started = time.process_time()
    tally = SummaryTally(
        "scale", START, END, MAX_ROWS, {}, 0, VERSION, reference, sample_capacity(MAX_ROWS, share)
    )
    for index, data in enumerate(objects):
        tally.add_object(f"capture/scale/{index:04d}.gz", gzip.decompress(data))
    summary = tally.result()
    stored = gzip.compress(summary.model_dump_json().encode(), 5)
    summarized = time.process_time() - started
    peak = rss_mb("VmHWM") - before
    started = time.process_time()
    single = WindowTally("scale", START, END, MAX_ROWS, {}, VERSION)
    for data in objects:
        single.add_object(gzip.decompress(data))
    single.result()
    return {
        "rows": summary.rows,
        "seconds": summarized,
        "single_seconds": time.process_time() - started,
        "peak_mb": peak,
        "summary_kb": len(stored) / 1024,
        "sampled": len(summary.sample),
    }


def summaries(n_children: int, line: str) -> list[bytes]:
    """A day's N stored summaries (see the module)."""
    from sluice.domain.monitoring.summary.histogram import ColumnHistogram
    from sluice.domain.monitoring.summary.window import (
        LabelledRow,
        RequestSummary,
        SampledRow,
        WindowSummary,
        sample_capacity,
    )

    rng = random.Random(n_children)
    reference = bins()
    rows = DAY_ROWS // n_children
    kept = sample_capacity(MAX_ROWS, 1 / n_children)
    hour = int(START.timestamp()) // 3600
    stored = []
    for child_index in range(n_children):
        keys = sorted((rng.random() for _ in range(kept)), reverse=True)
        summary = WindowSummary(
            model="scale",
            version=VERSION,
            start=START,
            end=END,
            max_rows=MAX_ROWS,
            label_count=LABELLED_PER_CHILD * n_children,
            objects=max(1, 288 // n_children),
            rows=rows,
            rows_by_version={VERSION: rows},
            sampled_from=rows,
            requests=RequestSummary(
                accepted=rows / 4, accepted_by_hour={hour + h: rows / 96 for h in range(24)}
            ),
            histograms={
                name: ColumnHistogram(counts=[rows // b.size] * b.size)
                for name, b in reference.columns.items()
            },
            labelled=[
                LabelledRow(
                    request_id=f"{child_index}-{i}",
                    instance=0,
                    object=f"o{child_index:05d}",
                    line_number=i,
                    line=line,
                    label=1,
                )
                for i in range(LABELLED_PER_CHILD)
            ],
            sample=[
                SampledRow(key=key, object=f"o{child_index:05d}", line_number=i, line=line)
                for i, key in enumerate(keys)
            ],
            threshold=keys[-1],
        )
        stored.append(gzip.compress(summary.model_dump_json().encode(), 5))
    return stored


def merge_cost(n_children: int, line: str) -> dict[str, float]:
    from sluice.domain.monitoring.summary.window import WindowSummary, captured_window, merge

    stored = summaries(n_children, line)
    before = rss_mb()
    started = time.process_time()
    batch: list[WindowSummary] = []
    held = 0
    for data in stored:  # as merged_summary does, without S3
        batch.append(WindowSummary.model_validate_json(gzip.decompress(data)))
        held += len(batch[-1].sample)
        if held >= 2 * MAX_ROWS and len(batch) > 1:
            batch = [merge(batch)]
            held = len(batch[0].sample)
    merged = merge(batch)
    window = captured_window(merged)
    return {
        "children": n_children,
        "seconds": time.process_time() - started,
        "stored_mb": sum(map(len, stored)) / 2**20,
        "sample": len(window.sample),
        "peak_mb": rss_mb("VmHWM") - before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_window_split")
    parser.add_argument("--objects", type=int, default=2, help="Firehose objects in the child's partition")
    args = parser.parse_args(argv)
    print(machine())
    objects = [firehose_object(i) for i in range(args.objects)]
    compressed = sum(map(len, objects))
    print(
        f"\nChild: a partition of {args.objects} Firehose objects of 64 MiB ({compressed / 2**20:.1f} MiB gzip)"
    )
    context = get_context("fork")
    day_bytes = compressed / (args.objects * (BUFFER_BYTES // 510)) * DAY_ROWS
    with context.Pool(1) as pool:
        result = pool.apply(child, (objects, compressed / day_bytes))
    rate = result["rows"] / result["seconds"]
    print(
        f"  {result['rows']:,} rows in {result['seconds']:.2f} CPU s: {rate:,.0f} rows/s summarized "
        f"(single pass, head-only: {result['rows'] / result['single_seconds']:,.0f} rows/s); "
        f"peak +{result['peak_mb']:.0f} MB; summary {result['summary_kb']:.0f} KB gzip, "
        f"{result['sampled']:,.0f} sampled rows kept"
    )
    line = gzip.decompress(objects[0]).split(b"\n", 1)[0].decode()
    print("\nMerge (the reduce), a day of 8.64e7 rows split among N children:")
    print(f"  {'children':>8} {'stored MB':>10} {'CPU s':>8} {'sample':>8} {'peak MB':>8}")
    for n in CHILDREN:
        with context.Pool(1) as pool:
            cost = pool.apply(merge_cost, (n, line))
        print(
            f"  {n:>8,} {cost['stored_mb']:>10.1f} {cost['seconds']:>8.2f} {cost['sample']:>8,} "
            f"{cost['peak_mb']:>8.0f}"
        )
    print(json.dumps({"child_rows_per_second": round(rate), "child_peak_mb": round(result["peak_mb"])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
