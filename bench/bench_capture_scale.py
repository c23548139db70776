"""Capture scale benchmark: the scheduled drift check over a day of captured traffic holding 10⁴, 10⁵,
10⁶ and 10⁷ rows, as the capture stream delivers it, read through the real adapter from S3 served by
moto (a ThreadedMotoServer in this process; each check runs in a child process reaching it through
AWS_ENDPOINT_URL, so the child's peak RSS is the check's alone).

The capture: one gzip JSON-lines object per 5-minute buffer interval (288 a day, the stream's
CaptureBufferSeconds default), keyed as Firehose delivers them (`capture/<model>/dt=…/hour=…/…gz`,
the last one past midnight), ~510 bytes a row: 16 numerical and 4 categorical features, a binary
classifier's prediction, probabilities and classes, four instances a request, 2% of rows served by a
canary version. Five numerical features are shifted by a quarter of their spread (per-column drift;
not dataset drift). The reference: 50,000 rows (training's cap), with the model's predictions.

Timed, in each child, after imports and the reference are loaded: reading the window and assessing
it (input drift, prediction drift, estimated performance; what `assess_model` does) — the sampled reader
(`TrafficStore.window`, at most 200,000 rows, then `assess_window`) against a baseline, today's
read-everything approach before this change (every object fetched 16 at a time, every record parsed
into one list, every row checked) on the sizes it can hold. Generated objects are cached under
.sluice/bench/capture-scale/ (the first run spends ~2 minutes writing them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from bench.predict.common import machine

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".sluice" / "bench" / "capture-scale"
SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
BASELINE_SIZES = (10_000, 100_000, 1_000_000)
OBJECTS = 288  # a day of 5-minute buffer intervals
INTERVAL = timedelta(minutes=5)
END = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
START = END - timedelta(hours=24)
MAX_ROWS = 200_000
MIN_ROWS = 200
N_REFERENCE = 50_000
N_NUMERICAL, N_CATEGORICAL = 16, 4
SHIFTED = {0, 3, 6, 9, 12}  # numerical features moved by 0.25 standard deviations
BUCKET = "bench-artifacts"
VERSION = 1
CANARY_SHARE = 0.02
NUMERICAL = [f"num_{i:02d}" for i in range(N_NUMERICAL)]
CATEGORICAL = [f"cat_{j}" for j in range(N_CATEGORICAL)]
CATEGORIES = [[f"c{j}_{k}" for k in range(3 + 2 * j)] for j in range(N_CATEGORICAL)]


def spec_text() -> str:
    features = [f"  - {{name: {name}, type: numeric}}" for name in NUMERICAL] + [
        f"  - {{name: {name}, type: categorical, categories: [{', '.join(CATEGORIES[j])}]}}"
        for j, name in enumerate(CATEGORICAL)
    ]
    head = ["name: scale", "task: binary", "target: label", "features:"]
    tail = ["algorithm: {name: logistic_regression}", "metric: accuracy", ""]
    return "\n".join([*head, *features, *tail])


def draw(rng: np.random.Generator, n: int, shifted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numerical values in thousandths (int), category indexes, and the probability of class 1 in
    thousandths: the model's score is a logistic of the first two features."""
    numbers = rng.normal(0.0, 1.0, (n, N_NUMERICAL))
    if shifted:
        numbers[:, sorted(SHIFTED)] += 0.25
    milli = np.clip(np.rint(numbers * 1000), -9999, 9999).astype(np.int64)
    cats = np.stack([rng.integers(0, len(CATEGORIES[j]), n) for j in range(N_CATEGORICAL)], axis=1)
    score = 1 / (1 + np.exp(-(numbers[:, 0] + numbers[:, 1])))
    return milli, cats, np.rint(score * 1000).astype(np.int64)


NUMBER_TEXT = [repr(k / 1000) for k in range(-9999, 10000)]
PROBABILITY_TEXT = [(repr(round(1 - k / 1000, 3)), repr(k / 1000)) for k in range(1001)]
LINE = (
    '{{"request_id":"{}","instance":{},"time":"{}","model":"{}","version":{},"inputs":{{'
    + ",".join(f'"{name}":{{}}' for name in NUMERICAL)
    + ","
    + ",".join(f'"{name}":"{{}}"' for name in CATEGORICAL)
    + '}},"outputs":{{"prediction":"{}","probabilities":[{},{}],"classes":["0","1"]}}}}'
)


def object_path(size: int, index: int) -> Path:
    return CACHE / f"rows-{size}" / f"{index:03d}.jsonl.gz"


def object_key(model: str, index: int) -> str:
    """The key Firehose gives the object of buffer interval `index`: delivered 20 s after it closes."""
    arrived = START + INTERVAL * (index + 1) + timedelta(seconds=20)
    return (
        f"capture/{model}/dt={arrived:%Y-%m-%d}/hour={arrived:%H}/"
        f"sluice-capture-1-{arrived:%Y-%m-%d-%H-%M-%S}-{uuid.UUID(int=index)}.gz"
    )


def write_object(task: tuple[int, int]) -> int:
    """Interval `index`'s share of a day of `size` rows, as one gzip JSON-lines object on disk."""
    size, index = task
    path = object_path(size, index)
    if path.exists():
        return 0
    rows = size // OBJECTS + (1 if index < size % OBJECTS else 0)
    rng = np.random.default_rng(size * 1_000 + index)
    milli, cats, score = draw(rng, rows, shifted=True)
    versions = np.where(rng.random(rows) < CANARY_SHARE, VERSION + 1, VERSION).tolist()
    ids = [f"{v:016x}" for v in rng.integers(0, 2**63, rows // 4 + 1).tolist()]
    opened = START + INTERVAL * index
    step = INTERVAL / max(rows, 1)
    numbers, categories, scores = milli.tolist(), cats.tolist(), score.tolist()
    lines = []
    for i in range(rows):
        row, cat = numbers[i], categories[i]
        lines.append(
            LINE.format(
                ids[i >> 2],
                i & 3,
                (opened + step * i).isoformat(timespec="milliseconds"),
                "scale",
                versions[i],
                *[NUMBER_TEXT[v + 9999] for v in row],
                *[CATEGORIES[j][cat[j]] for j in range(N_CATEGORICAL)],
                int(scores[i] > 500),
                *PROBABILITY_TEXT[scores[i]],
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1, mtime=0))
    partial.rename(path)
    return rows


def reference_path() -> Path:
    path = CACHE / "reference.csv.gz"
    if not path.exists():
        rng = np.random.default_rng(7)
        milli, cats, score = draw(rng, N_REFERENCE, shifted=False)
        header = [*NUMERICAL, *CATEGORICAL, "label", "__prediction__"]
        text = [",".join(header)]
        for row, cat, s in zip(milli.tolist(), cats.tolist(), score.tolist(), strict=True):
            predicted = int(s > 500)
            values = [NUMBER_TEXT[v + 9999] for v in row] + [CATEGORIES[j][cat[j]] for j in range(4)]
            text.append(",".join([*values, str(predicted), str(predicted)]))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    return path


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set now (VmRSS) or at its peak (VmHWM), from /proc: ru_maxrss would
    carry the peak of the parent this child was forked from, which holds moto's objects."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------------- in the child process


def child(mode: str, size: int) -> dict[str, Any]:
    from sluice.adapters.traffic import TrafficStore
    from sluice.app.monitoring.check import assess_window
    from sluice.domain.monitoring.reference import read_reference
    from sluice.domain.registry.records import TrafficWindow
    from sluice.domain.spec.model_spec import parse_spec

    spec = parse_spec(spec_text())
    reference = read_reference(reference_path().read_bytes())
    model = f"scale-{size}"
    store = TrafficStore(BUCKET)
    window = TrafficWindow(start=START, end=END)
    before = rss_mb()
    started = time.perf_counter()
    if mode == "sampled":
        captured = store.window(model, START, END, max_rows=MAX_ROWS, version=VERSION)
        read = time.perf_counter()
        found = assess_window(
            spec, VERSION, reference, window, captured, min_rows=MIN_ROWS, estimator=_estimator()
        )
        rows, checked = captured.rows, found.rows
    else:
        records = read_everything(store, model)
        read = time.perf_counter()
        found = assess_all(spec, reference, window, records)
        rows, checked = len(records), found.rows
    done = time.perf_counter()
    estimate = found.estimation.estimate if found.estimation else None
    return {
        "read_s": read - started,
        "assess_s": done - read,
        "rss_before_mb": before,
        "peak_mb": rss_mb("VmHWM"),
        "rows": rows,
        "checked": checked,
        "dataset_drift": found.report.dataset_drift,
        "drifted": found.drifted_features,
        "estimated_accuracy": estimate.values["accuracy"] if estimate else None,
    }


def read_everything(store: Any, model: str) -> list[dict[str, Any]]:
    """Today's reader before the sample: every object of the window's days listed and fetched 16 at a
    time (pool.map: every body held until read), every record in the window parsed into one list."""
    s3 = store._s3
    keys = [
        item["Key"]
        for day in ("2026-11-30", "2026-12-01")
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"capture/{model}/dt={day}/"
        )
        for item in page.get("Contents", [])
    ]
    records = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        for body in pool.map(lambda key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), keys):
            for line in gzip.decompress(body).decode().splitlines():
                record = json.loads(line)
                if START <= datetime.fromisoformat(record["time"]) < END:
                    records.append(record)
    return records


def assess_all(spec: Any, reference: Any, window: Any, records: list[dict[str, Any]]) -> Any:
    """`assess_window`'s checks on every row of the version, as the check did before the sample."""
    from sluice.app.monitoring.assess import DriftAssessment
    from sluice.domain.monitoring.drift.live import check_input_drift, check_prediction_drift
    from sluice.domain.monitoring.estimation.window import estimate_window

    mine = [r for r in records if r.get("version") == VERSION]
    report = check_input_drift(spec, reference, mine, min_rows=MIN_ROWS, source="capture")
    return DriftAssessment(
        model=spec.name,
        version=VERSION,
        spec=spec,
        window=window,
        rows=report.n_current,
        report=report,
        prediction_report=check_prediction_drift(spec.task, reference, mine),
        live_metric=None,
        estimation=estimate_window(spec, _estimator(), mine),
    )


def _estimator() -> Any:
    """CBPE on the bench model's probabilities as they are (no calibration: the bench has no holdout)."""
    from sluice.domain.monitoring.estimation.basis import EstimationBasis
    from sluice.domain.monitoring.estimation.window import Estimator

    basis = EstimationBasis(
        method="cbpe", task="binary", reference_rows=1, classes=["0", "1"], sampling={"accuracy": [0.5]}
    )
    return Estimator(basis=basis)


# ------------------------------------------------------------------------- in the parent process


def generate(sizes: list[int]) -> float:
    started = time.perf_counter()
    reference_path()
    tasks = [(size, index) for size in sizes for index in range(OBJECTS)]
    with Pool(os.cpu_count() or 1) as pool:
        written = sum(pool.imap_unordered(write_object, tasks, chunksize=4))
    seconds = time.perf_counter() - started
    if written:
        print(f"generated {written:,} rows in {seconds:.0f} s (cached under {CACHE.relative_to(ROOT)})")
    return seconds


def upload(endpoint: str, sizes: list[int]) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    s3.create_bucket(Bucket=BUCKET)
    started, total = time.perf_counter(), 0
    tasks = [(size, index) for size in sizes for index in range(OBJECTS)]

    def put(task: tuple[int, int]) -> int:
        size, index = task
        body = object_path(size, index).read_bytes()
        s3.put_object(Bucket=BUCKET, Key=object_key(f"scale-{size}", index), Body=body)
        return len(body)

    with ThreadPoolExecutor(max_workers=4) as pool:
        total = sum(pool.map(put, tasks))
    print(
        f"uploaded {len(tasks)} objects, {total / 2**20:,.0f} MiB gzip, in {time.perf_counter() - started:.0f} s"
    )


def run_child(mode: str, size: int, endpoint: str) -> dict[str, Any] | None:
    env = os.environ | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_capture_scale", "--child", mode, "--size", str(size)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"{mode} {size:,} failed:\n{done.stderr[-2000:]}")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["sampled", "baseline"])
    parser.add_argument("--size", type=int)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.size)))
        return 0
    print(f"machine: {machine()}")
    print(
        f"drift check over a day of capture ({OBJECTS} gzip objects, {N_NUMERICAL + N_CATEGORICAL} features) "
        f"against {N_REFERENCE:,} reference rows; sample of at most {MAX_ROWS:,}; S3 = moto ThreadedMotoServer"
    )
    print(
        "baseline = the reader before the sample (every object fetched 16 at a time, every record parsed "
        "into one list, every row checked); sampled = TrafficStore.window + assess_window"
    )
    generate(args.sizes)
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    failed = 0
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        upload(endpoint, args.sizes)
        print(
            f"\n{'rows in window':>14} {'reader':<9} {'read s':>7} {'assess s':>8} {'total s':>8} "
            f"{'peak RSS MB':>11} {'RSS before':>10} {'rows checked':>12} {'drifted':>8} verdict"
        )
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for size in args.sizes:
            for mode in ("baseline", "sampled") if size in BASELINE_SIZES else ("sampled",):
                result = run_child(mode, size, endpoint)
                if result is None:
                    failed += 1
                    continue
                results[(mode, size)] = result
                print(
                    f"{result['rows']:>14,} {mode:<9} {result['read_s']:>7.1f} {result['assess_s']:>8.1f} "
                    f"{result['read_s'] + result['assess_s']:>8.1f} {result['peak_mb']:>11.0f} "
                    f"{result['rss_before_mb']:>10.0f} {result['checked']:>12,} "
                    f"{len(result['drifted']):>5}/20 {'drift' if result['dataset_drift'] else 'no drift'}",
                    flush=True,
                )
        agree = [
            size
            for size in BASELINE_SIZES
            if ("sampled", size) in results
            and ("baseline", size) in results
            and results[("sampled", size)]["drifted"] == results[("baseline", size)]["drifted"]
            and results[("sampled", size)]["dataset_drift"] == results[("baseline", size)]["dataset_drift"]
        ]
        print(
            f"\nsame drifted features and verdict as every row: {', '.join(f'{s:,}' for s in agree) or 'none'}"
        )
    finally:
        server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
