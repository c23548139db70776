"""A window checked in parts on the local stack: a trained model serves requests through
PredictFunction, the capture extension and Firehose write them to the artifact bucket as capture
objects (one per flush), and the window's plan, one summary per object and the check of the merged
summaries give the check one pass over the same objects gives — field for field, reports included."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

from sluice.app.monitoring.check import check_model
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.monitoring.window_split import (
    PartitionRequest,
    check_from_summaries,
    plan_window,
    summarize_partition,
)
from sluice.entrypoints.wiring import stack_deps
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack, spec_text
from tests.integration.live_rollout import instances_and_labels
from tests.integration.scenario import FIRST
from tests.integration.test_dashboard_metrics import api_event

MODEL = "it-window-split"
# Every partition one object (1 byte at most: an object larger alone is a partition alone), and few
# rows worth a verdict (the test serves 150)
LIMITS = DriftCheckLimits(drift_min_rows=50, drift_partition_bytes=1)


def serve_in_rounds(stack: Stack, rounds: int) -> None:
    """`rounds` requests of 50 instances (sent as events/api-predict.json, whose request id they share),
    a label for every third one, each round flushed to its own
    capture and feedback objects; one request of the last round is rejected (a missing income)."""
    for round_ in range(rounds):
        instances, labels = instances_and_labels(credit_risk(50, seed=700 + round_))
        served = stack.local.invoke(
            "PredictFunction", api_event("api-predict", MODEL, {"instances": instances})
        )
        assert served.payload["statusCode"] == 200, served.payload
        request_id = json.loads(served.payload["body"])["request_id"]
        for instance in range(0, len(instances), 3):
            feedback = {"request_id": request_id, "instance": instance, "label": labels[instance]}
            answered = stack.local.invoke("PredictFunction", api_event("api-feedback", MODEL, feedback))
            assert answered.payload["statusCode"] == 200, answered.payload
        if round_ == rounds - 1:
            bad = {k: v for k, v in instances[0].items() if k != "income"}
            refused = stack.local.invoke(
                "PredictFunction", api_event("api-predict", MODEL, {"instances": [bad]})
            )
            assert refused.payload["statusCode"] == 400
        stack.local.flush_streams()


def test_plan_summarize_and_check_from_summaries_equal_check_model(stack: Stack) -> None:
    # Given a trained model in production (no retraining on drift) that served 3 rounds of traffic
    stack.upload(
        f"{MODEL}/spec.yaml",
        spec_text(MODEL).replace("retrain_on_drift: true", "retrain_on_drift: false").encode(),
    )
    stack.settle()
    stack.upload(f"{MODEL}/data/{FIRST[0]}", FIRST[1])
    stack.settle()
    serve_in_rounds(stack, 3)
    deps = stack_deps(stack.outputs, stack.client)
    now = datetime.now(UTC) + timedelta(seconds=1)
    # When the window is planned: its capture objects listed into partitions in a manifest
    plan = plan_window(deps, LIMITS, MODEL, 1, now)
    manifest = json.loads(stack.artifacts.get_bytes(plan.manifest_uri))
    assert plan.parts == len(manifest) == plan.objects >= 3
    assert plan.manifest_uri == f"s3://{plan.manifest_bucket}/{plan.manifest_key}"
    assert all(key.startswith(f"capture/{MODEL}/dt=") for part in manifest for key in part["keys"])
    # And each partition summarized, the last first, each child returning only where and how many
    results = [
        summarize_partition(
            deps,
            LIMITS,
            PartitionRequest(
                model=MODEL,
                version=1,
                window=plan.window,
                keys=part["keys"],
                summaries_prefix=plan.summaries_prefix,
                index=index,
                bytes=part["bytes"],
                window_bytes=plan.bytes,
            ),
        )
        for index, part in reversed(list(enumerate(manifest)))
    ]
    assert sum(r.rows for r in results) == 150
    stored = json.loads(gzip.decompress(stack.artifacts.get_bytes(results[0].summary_uri)))
    assert stored["sampled_from"] == results[0].rows
    # And the merged summaries are checked, then the same window in one pass
    split = check_from_summaries(deps, LIMITS, MODEL, 1, plan.window, plan.summaries_prefix, now)
    assert split.report_uri is not None and split.html_uri is not None
    reports = [stack.artifacts.get_bytes(uri) for uri in (split.report_uri, split.html_uri)]
    single = check_model(deps, LIMITS, MODEL, 1, now)
    # Then both checks are the same, field for field, and so are their stored reports
    assert split.model_dump() == single.model_dump()
    assert single.report_uri is not None and single.html_uri is not None
    assert reports == [stack.artifacts.get_bytes(uri) for uri in (single.report_uri, single.html_uri)]
    # And the check counted the window: 150 rows, 17 labelled, 1 of 4 requests rejected
    assert (split.status, split.window_rows) == ("ok", 150)
    # (the rounds' requests share the event file's request id: an instance's latest label is its label,
    # joined with its first captured row, as a single pass joins them)
    assert split.live_metric is not None and split.live_metric["labelled_rows"] == 17
    assert split.reject_rate == 0.25
