"""Capture's writing side: one S3 object per captured request (the baseline, as Sluice wrote it before
issue 12) against the Firehose sink (PutRecordBatch, one record per request) with the local stack's
Firehose emulation, both on moto in this process (mock_aws). Prints time per captured request, objects
written, and the cost per million captured predictions both ways from the measured record sizes.

moto answers in microseconds where AWS answers in milliseconds: the times compare the client-side work
of the two paths, not AWS latency. The objects and the bytes billed are what AWS would see."""

from __future__ import annotations

import gzip
import json
import math
import random
import time
from typing import Any

import boto3
from moto import mock_aws

from bench.predict.common import ROOT, machine, request_instances
from sluice.adapters.firehose import FirehoseTraffic
from sluice.app.serving.production import capture_records
from sluice.tools.local.firehose.buffers import buffered_delivery
from sluice.tools.local.firehose.streams import template_streams
from sluice.tools.local.template import load_sam

BUCKET = "artifacts"
MODEL = "credit-risk"
# us-east-1 list prices (USD) used by the cost model; see docs/benchmarks.md, "Capture writes".
FIREHOSE_PER_GB = 0.029  # Direct PUT ingestion, first 500 TB/month, each record rounded up to 5 KB
PARTITIONING_PER_GB = 0.020  # dynamic partitioning, per GB delivered
PARTITIONING_PER_1000_OBJECTS = 0.005
S3_PUT_PER_1000 = 0.005
S3_GET_PER_1000 = 0.0004
BILLING_UNIT = 5 * 1024
CHECKS_PER_WINDOW = 24  # an hourly drift check over a 24 h window reads each object 24 times
# Where capture runs (the second table): Lambda duration, x86, per GB-second; PredictFunction's memory
LAMBDA_PER_GB_SECOND = 0.0000166667
PREDICT_MEMORY_GB = 1024 / 1024
# A PutRecordBatch round trip from Lambda, median (docs/guides/local-stack.md, AWS-like latency: an
# estimate from published measurements, not an AWS figure); the handler waited for it on every captured
# request before the capture extension
FIREHOSE_PUT_SECONDS = 0.020
EXTENSION_FLUSH_RECORDS = 500  # template.yaml's CAPTURE_FLUSH_RECORDS: one flush per 500 requests
# CloudWatch Logs with a subscription filter to Firehose: ingestion per GB of log events, and what
# Lambda adds to each line (timestamp, request id, level: ~60 bytes)
LOGS_INGESTION_PER_GB = 0.50
LOG_LINE_OVERHEAD = 60


def requests(count: int, instances: int) -> list[tuple[str, list[dict[str, Any]]]]:
    rng = random.Random(7)
    rows = request_instances(count * instances)
    out = []
    for n in range(count):
        probability = round(rng.random(), 7)
        response: dict[str, Any] = {
            "model": MODEL,
            "version": 3,
            "request_id": f"bench-{n:08d}",
            "predictions": [0] * instances,
            "classes": [0, 1],
            "probabilities": [[round(1 - probability, 7), probability]] * instances,
        }
        batch = rows[n * instances : (n + 1) * instances]
        out.append((response["request_id"], capture_records(batch, response)))
    return out


def per_object(s3: Any, batch: list[tuple[str, list[dict[str, Any]]]]) -> float:
    """Today's write: one gzip JSON-lines object per request. Seconds per request."""
    began = time.perf_counter()
    for request_id, records in batch:
        body = gzip.compress("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode())
        s3.put_object(
            Bucket=BUCKET, Key=f"per-request/{MODEL}/dt=2026-12-02/{request_id}.jsonl.gz", Body=body
        )
    return (time.perf_counter() - began) / len(batch)


def firehose(sink: FirehoseTraffic, batch: list[tuple[str, list[dict[str, Any]]]]) -> float:
    began = time.perf_counter()
    for request_id, records in batch:
        sink.write(MODEL, request_id, records)
    return (time.perf_counter() - began) / len(batch)


def count_objects(s3: Any, prefix: str) -> tuple[int, int]:
    objects = [
        o
        for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for o in p.get("Contents", [])
    ]
    return len(objects), sum(o["Size"] for o in objects)


def main() -> None:
    print(
        f"machine: {machine()}; moto in-process (mock_aws), Firehose emulated by sluice.tools.local.firehose.buffers"
    )
    print()
    header = (
        f"{'requests x instances':>22} | {'S3 PUT/request µs':>17} | {'objects':>7} | "
        f"{'Firehose/request µs':>19} | {'objects':>7} | {'record B':>8} | {'stored B (gz)':>13}"
    )
    print(header)
    print("-" * len(header))
    costs = []
    for count, instances in ((2_000, 1), (500, 10), (100, 100)):
        with mock_aws(), buffered_delivery() as delivery:
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            client = boto3.client("firehose", region_name="us-east-1")
            capture_stream = template_streams(client, load_sam(ROOT / "template.yaml"), bucket=BUCKET)[
                "CaptureStream"
            ]
            sizes: list[int] = []
            client.meta.events.register(
                "provide-client-params.firehose.PutRecordBatch",
                lambda params, sizes=sizes, **_: sizes.extend(len(r["Data"]) for r in params["Records"]),
            )
            batch = requests(count, instances)
            sink = FirehoseTraffic(capture_stream, "unused-feedback-stream", client)
            firehose(sink, batch[:20])  # warm both paths (client creation, first calls)
            per_object(s3, batch[:20])
            sizes.clear()
            for key in [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]:
                s3.delete_object(Bucket=BUCKET, Key=key)
            delivery.flush()
            for key in [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]:
                s3.delete_object(Bucket=BUCKET, Key=key)
            baseline = per_object(s3, batch)
            streamed = firehose(sink, batch)
            delivery.flush()
            baseline_objects, _ = count_objects(s3, "per-request/")
            stream_objects, stored = count_objects(s3, "capture/")
        record = sum(sizes) / len(sizes)
        print(
            f"{f'{count:,} x {instances}':>22} | {baseline * 1e6:>17,.0f} | {baseline_objects:>7,} | "
            f"{streamed * 1e6:>19,.0f} | {stream_objects:>7,} | {record:>8,.0f} | {stored:>13,}"
        )
        costs.append((instances, sizes, count))
    print()
    print("cost per million captured predictions (USD, us-east-1 list prices; objects per 300 s buffer):")
    print(
        f"{'instances/request':>17} | {'S3 PUT/request':>14} | {'+ GETs, hourly 24h checks':>25} | {'Firehose + partitioning':>23}"
    )
    for instances, sizes, count in costs:
        requests_per_million = 1_000_000 / instances
        billed_gb = (
            sum(math.ceil(s / BILLING_UNIT) * BILLING_UNIT for s in sizes)
            / count
            * requests_per_million
            / 1e9
        )
        delivered_gb = sum(sizes) / count * requests_per_million / 1e9
        # a day of 1,000 req/s delivers 288 objects per model per 300 s buffer: negligible next to bytes
        objects = 288
        put = requests_per_million * S3_PUT_PER_1000 / 1000
        gets = requests_per_million * CHECKS_PER_WINDOW * S3_GET_PER_1000 / 1000
        stream = (
            billed_gb * FIREHOSE_PER_GB
            + delivered_gb * PARTITIONING_PER_GB
            + objects * PARTITIONING_PER_1000_OBJECTS / 1000
        )
        print(f"{instances:>17} | {put:>14.3f} | {put + gets:>25.3f} | {stream:>23.3f}")
    print()
    print(
        "capture off the response path, cost per million captured predictions (USD; Firehose as above, "
        f"Lambda at ${LAMBDA_PER_GB_SECOND * 1e6:.2f} per million GB-s, {PREDICT_MEMORY_GB:.0f} GB):"
    )
    print(
        f"{'instances/request':>17} | {'handler waits for Firehose':>26} | {'capture extension':>17} | "
        f"{'CloudWatch Logs -> Firehose':>27}"
    )
    for instances, sizes, count in costs:
        requests_per_million = 1_000_000 / instances
        record = sum(sizes) / count
        billed_gb = math.ceil(record / BILLING_UNIT) * BILLING_UNIT * requests_per_million / 1e9
        delivered_gb = record * requests_per_million / 1e9
        streamed_cost = billed_gb * FIREHOSE_PER_GB + delivered_gb * PARTITIONING_PER_GB
        waiting = requests_per_million * FIREHOSE_PUT_SECONDS * PREDICT_MEMORY_GB * LAMBDA_PER_GB_SECOND
        # the extension puts 500 requests' records in one call, while the next request runs
        flushing = (
            requests_per_million / EXTENSION_FLUSH_RECORDS * FIREHOSE_PUT_SECONDS * PREDICT_MEMORY_GB
        ) * LAMBDA_PER_GB_SECOND
        # each instance a log line; Logs batches events into Firehose records (no 5 KB rounding waste)
        logged_gb = (record + instances * LOG_LINE_OVERHEAD) * requests_per_million / 1e9
        logs = logged_gb * LOGS_INGESTION_PER_GB + logged_gb * (FIREHOSE_PER_GB + PARTITIONING_PER_GB)
        print(
            f"{instances:>17} | {streamed_cost + waiting:>26.3f} | {streamed_cost + flushing:>17.3f} | {logs:>27.3f}"
        )


if __name__ == "__main__":
    main()
