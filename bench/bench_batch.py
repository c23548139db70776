"""Batch scoring throughput: the BatchScore state machine (a Distributed Map over the CSV, batches of
1,000 rows, each child a BatchScoreFunction invocation) on the local stack, against one process scoring
the same file with ONNX Runtime directly (read the CSV, build the feed, `session.run`, write the
results), in the same run. The ratio is what orchestration costs here: moto's ItemReader and ASL
engine, JSON between states, a handler invocation and S3 writes per batch.

The projection to AWS: each child is timed warm in-process (`score_batch` on a 1,000-row batch, with
its S3 writes to moto), scaled to BatchScoreFunction's 1,024 MB (Lambda gives a full vCPU at 1,769 MB,
so 1024/1769 of one here), plus an ASSUMED (not measured) 0.5 s a child for what the local stack
cannot show: starting the child workflow, invoking Lambda, three S3 PUTs at real latency. With the
Map's MaxConcurrency (BatchMaxConcurrency, default 40) children at once, AWS would score about
concurrency × 1,000 / (child seconds) rows per second, after one cold start per environment, if the
account's Lambda concurrency allows it.

`python -m bench.bench_batch [ROWS ...]` from the repository root (default 100000 1000000). By default
the local stack runs the sizes up to 10^5 only: it scores ~2,000 rows/s on 2 CPUs (moto's ASL engine
copies each child's input several times), so 10^6 takes ~8 minutes, over this bench's budget; the
baseline runs every size, and a size given on the command line runs on the stack too.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from typing import Any

from bench.predict.common import ROOT, in_process_stack, quiet, run_bench, table
from sluice.domain.data.table import read_csv, to_csv_bytes
from sluice.tools.example_data import credit_risk

MODEL = "bench-batch"
CONCURRENCY = 40  # the template's BatchMaxConcurrency default
LAMBDA_CPU = 1024 / 1769  # BatchScoreFunction's share of a vCPU (a full one at 1,769 MB)
CHILD_OVERHEAD = 0.5  # seconds a child on AWS, assumed: child workflow start, invoke, S3 PUT latency
BATCH_ROWS = 1000  # the template's BatchMaxItemsPerBatch default
STACK_DEFAULT_MAX = 100_000  # larger files run on the local stack only when asked (see the docstring)


def spec_text() -> str:
    text = (ROOT / "examples" / "credit-risk" / "spec.yaml").read_text(encoding="utf-8")
    text = text.replace("name: credit-risk", f"name: {MODEL}")
    return re.sub(r"gates: .*", "gates: {min_metric: 0.6, max_regression: 0.02}", text)


def train(stack: Any) -> None:
    raw = stack.outputs["RawBucketName"]
    s3 = stack.client("s3")
    with quiet():
        s3.put_object(Bucket=raw, Key=f"{MODEL}/spec.yaml", Body=spec_text().encode())
        stack.wait_for_executions()
        body = to_csv_bytes(credit_risk(rows=2000, seed=3))
        s3.put_object(Bucket=raw, Key=f"{MODEL}/data/first.csv", Body=body)
        stack.wait_for_executions(timeout=1800)


def direct_seconds(stack: Any, body: bytes) -> float:
    """One process: the CSV read, every row scored with ONNX Runtime, results written as CSV."""
    import io

    from sluice.domain.scoring.batch import results_csv
    from sluice.domain.scoring.onnx_model import OnnxModel

    registry, artifacts = stack_services(stack)
    alias = registry.get_alias(MODEL)
    model = OnnxModel(artifacts.get_verified(registry.get_version(MODEL, alias.version).artifacts["model"]))
    started = time.perf_counter()
    table = read_csv(io.BytesIO(body), name="bench.csv")
    outputs = model.run_table(table)
    results_csv(list(range(1, table.n_rows + 1)), outputs, model.classes)
    return time.perf_counter() - started


def stack_services(stack: Any) -> tuple[Any, Any]:
    from sluice.adapters.artifacts import ArtifactStore
    from sluice.adapters.registry.store import Registry

    return (
        Registry(stack.outputs["RegistryTableName"], stack.client("dynamodb")),
        ArtifactStore(stack.outputs["ArtifactBucketName"], stack.client("s3")),
    )


def job_seconds(stack: Any, key: str, body: bytes) -> tuple[float, dict[str, Any]]:
    """Start a BatchScore job on the uploaded file and wait for it; its wall time and manifest."""
    import json

    from sluice.app.batch.job import start_batch_job
    from sluice.entrypoints.wiring import stack_deps

    # RawBucket, where batch inputs go: BatchScoreRole may read nothing else (IngestFunction ignores the key)
    raw = stack.outputs["RawBucketName"]
    stack.client("s3").put_object(Bucket=raw, Key=key, Body=body)
    deps = stack_deps(stack.outputs)
    sfn = stack.client("stepfunctions")
    with quiet():
        started = time.perf_counter()
        job = start_batch_job(MODEL, f"s3://{raw}/{key}", deps)
        while sfn.describe_execution(executionArn=job.execution_arn)["status"] == "RUNNING":
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    manifest = json.loads(deps.artifacts.get_bytes(job.results + "manifest.json"))
    return seconds, manifest


def child_seconds(stack: Any, body: bytes) -> float:
    """Median warm time of one child (`score_batch` on 1,000 rows, its parts written to moto)."""
    import csv
    import io

    from sluice.app.batch.job import BatchLimits, pin_job
    from sluice.app.batch.score import score_batch
    from sluice.entrypoints.wiring import stack_deps

    deps = stack_deps(stack.outputs)
    raw = stack.outputs["RawBucketName"]
    stack.client("s3").put_object(Bucket=raw, Key="bench/child.csv", Body=body)
    limits = BatchLimits(
        max_items_per_batch=BATCH_ROWS, max_concurrency=CONCURRENCY, tolerated_failure_percentage=0
    )
    with quiet():
        job = pin_job(
            {"model": MODEL, "source": f"s3://{raw}/bench/child.csv", "job_id": "bench-child"},
            limits,
            deps,
        )
    rows = list(csv.DictReader(io.StringIO(body.decode())))[:BATCH_ROWS]
    event = {
        "BatchInput": {"job": job.model_dump(mode="json")},
        "Items": [{"index": i, "row": r} for i, r in enumerate(rows)],
    }
    times = []
    with quiet():
        for _ in range(7):
            started = time.perf_counter()
            score_batch(event, deps)
            times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    on_stack = [n for n in sizes if sys.argv[1:] or n <= STACK_DEFAULT_MAX]
    with in_process_stack() as stack:
        train(stack)
        rows_out: list[list[str]] = []
        child = child_seconds(stack, to_csv_bytes(credit_risk(rows=BATCH_ROWS, seed=8)))
        for n in sizes:
            body = to_csv_bytes(credit_risk(rows=n, seed=9))
            direct = direct_seconds(stack, body)
            label = f"{n:,} rows ({len(body) / 1e6:.0f} MB)"
            if n not in on_stack:
                rows_out.append([label, "not run", "-", f"{direct:.2f}", f"{n / direct:,.0f}", "-"])
                continue
            seconds, manifest = job_seconds(stack, f"bench/rows-{n}.csv", body)
            assert manifest["rows_in"] == n and manifest["rows_scored"] + manifest["rows_rejected"] == n, (
                manifest
            )
            rows_out.append(
                [
                    label,
                    f"{seconds:.1f}",
                    f"{n / seconds:,.0f}",
                    f"{direct:.2f}",
                    f"{n / direct:,.0f}",
                    f"{seconds / direct:.0f}x",
                ]
            )
        table(
            ["batch file", "local stack s", "rows/s", "one process s", "rows/s", "orchestration cost"],
            rows_out,
        )
        on_aws = child / LAMBDA_CPU + CHILD_OVERHEAD
        projected = CONCURRENCY * BATCH_ROWS / on_aws
        print()
        table(
            ["projection to AWS", "value"],
            [
                ["one child (1,000 rows, warm, this machine, measured)", f"{child * 1000:.0f} ms"],
                ["one child at 1,024 MB + 0.5 s assumed overhead", f"{on_aws * 1000:.0f} ms"],
                [f"children at once (MaxConcurrency {CONCURRENCY})", f"{projected:,.0f} rows/s"],
                ["10^6 rows at that rate", f"{1_000_000 / projected:.0f} s"],
                ["10^7 rows at that rate", f"{10_000_000 / projected:.0f} s"],
            ],
        )


if __name__ == "__main__":
    raise SystemExit(run_bench("bench_batch", main))
