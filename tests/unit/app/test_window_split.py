"""The issue's test on the use cases (in-memory ports; the local stack's is in
tests/integration/test_window_split.py): a window split into partitions, each summarized alone, the
summaries merged and checked, gives the check one pass over the same capture objects gives.

Identical (every count, verdict, score and stored report) when the version's rows fit in the sample
(`drift_max_rows`): the merged sample then holds every row in capture order, as the single pass's does.
Beyond, both are uniform random samples of the same size, of different rows: counts, the labelled rows
(the live metric) and the requests (data quality's reject rate and volume) stay identical; verdicts
agree and scores are within SAMPLE_TOLERANCE. Why 0.03: the scores there are Evidently's distances
(Wasserstein in reference standard deviations, Jensen-Shannon), which a uniform sample of 2,000 rows
estimates with a standard error of about 0.01 (the distance between two such samples of the same
rows, measured here, stays under 0.02); a verdict can only differ when a score lies that close to its
threshold (0.1), which the traffic below does not."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from sluice.app.monitoring.check import assess_captured, assess_model, check_model, version_inputs
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.monitoring.window_split import (
    PartitionRequest,
    WindowPlan,
    check_from_summaries,
    merged_summary,
    plan_window,
    summarize_partition,
)
from sluice.domain.monitoring.summary.window import captured_window
from sluice.domain.registry.records import TrafficWindow
from tests.unit.app.drift_world import (
    LOANS_SPEC,
    MODEL,
    NOW,
    SETTINGS,
    captured,
    label_all,
    loan_rows,
    put_in_production,
    reference_bytes,
    register_model,
    serve,
)
from tests.unit.app.fakes import FakePorts

SAMPLE_TOLERANCE = 0.03
# Partitions of a few objects each (an object holds 500 capture lines of ~250 bytes here)
SPLIT = replace(SETTINGS, drift_partition_bytes=300_000)


def world(rows: int, shift: float, reference_rows: int = 2_000) -> FakePorts:
    """The loans model in production, `rows` captured rows of it (300 labelled), 200 of another
    version, two rejected requests and one line Firehose delivered twice."""
    fakes = FakePorts()
    fakes.traffic.object_rows = 500
    spec = register_model(fakes, LOANS_SPEC, dataset=False)  # drift starts no retraining
    put_in_production(fakes, spec, reference_bytes(spec, loan_rows(reference_rows, seed=1)))
    records = captured(loan_rows(rows, seed=5, shift=shift), probabilities=True)
    serve(fakes, MODEL, records)
    serve(fakes, MODEL, captured(loan_rows(200, seed=6), version=9, hours_ago=3))
    label_all(fakes, MODEL, records[::7][:300], right=250)
    for n in range(2):
        fakes.traffic.write(
            MODEL,
            f"bad-{n}",
            [
                {
                    "request_id": f"bad-{n}",
                    "time": (NOW - timedelta(hours=2)).isoformat(),
                    "model": MODEL,
                    "version": 1,
                    "rejected": {
                        "status": 400,
                        "problems": [{"field": "income", "kind": "missing", "values": 1}],
                    },
                }
            ],
        )
    fakes.traffic.records[MODEL].append(dict(records[3]))
    return fakes


def split_and_summarize(fakes: FakePorts, limits: DriftCheckLimits) -> WindowPlan:
    """Plan the window, then summarize its partitions one by one, in a shuffled order (as the
    Distributed Map's children finish in any order)."""
    plan = plan_window(fakes.deps(), limits, MODEL, 1, NOW)
    manifest = json.loads(fakes.artifacts.get_bytes(plan.manifest_uri))
    order = list(range(len(manifest)))
    random.Random(7).shuffle(order)
    for index in order:
        request = PartitionRequest(
            model=MODEL,
            version=1,
            window=plan.window,
            keys=manifest[index]["keys"],
            summaries_prefix=plan.summaries_prefix,
            index=index,
            bytes=manifest[index]["bytes"],
            window_bytes=plan.bytes,
        )
        result = summarize_partition(fakes.deps(), limits, request)
        assert result.summary_uri.endswith(f"{index:05d}.json.gz")
    return plan


@pytest.mark.parametrize("shift", [0.0, 0.33])
@pytest.mark.parametrize("reference_rows", [400, 2_000])  # p-value tests, then distances
def test_merged_summaries_give_the_single_pass_check_exactly_when_the_rows_fit_the_sample(
    shift: float, reference_rows: int
) -> None:
    # Given the same captured objects in two identical worlds
    single, split = world(3_000, shift, reference_rows), world(3_000, shift, reference_rows)
    # When one is checked in one pass and the other planned into partitions, summarized and merged
    expected = check_model(single.deps(), SPLIT, MODEL, 1, NOW)
    plan = split_and_summarize(split, SPLIT)
    checked = check_from_summaries(split.deps(), SPLIT, MODEL, 1, plan.window, plan.summaries_prefix, NOW)
    # Then the window was split into several partitions of its 7 objects (3,203 lines)
    assert plan.parts >= 3 and plan.objects == 7
    # And the check is the same, field for field, and so is every report it stored
    assert checked.model_dump() == expected.model_dump()
    assert checked.report_uri is not None and checked.html_uri is not None
    for uri in (checked.report_uri, checked.html_uri):
        assert split.artifacts.get_bytes(uri) == single.artifacts.get_bytes(uri)
    assert checked.window_rows == 3_001 and (shift == 0 or checked.alerted)


@pytest.mark.parametrize(("shift", "drifted"), [(0.0, []), (0.33, ["debt_ratio", "income"])])
def test_a_sampled_window_keeps_counts_exact_and_verdicts_within_the_sampling_tolerance(
    shift: float, drifted: list[str]
) -> None:
    # Given 20,000 captured rows of version 1, checked on samples of at most 2,000
    fakes = world(20_000, shift)
    limits = replace(SETTINGS, drift_max_rows=2_000, drift_partition_bytes=1_000_000)
    # When the window is assessed in one pass, and from merged summaries
    single = assess_model(fakes.deps(), limits, MODEL, 1, NOW)
    plan = split_and_summarize(fakes, limits)
    summary = merged_summary(fakes.deps(), limits, MODEL, 1, plan.window, plan.summaries_prefix)
    window = TrafficWindow(start=plan.window.start, end=plan.window.end)
    inputs = version_inputs(fakes.deps(), MODEL, 1)
    merged = assess_captured(fakes.deps(), limits, inputs, window, captured_window(summary))
    assert single.captured is not None and merged.captured is not None
    # Then the counts, the labelled rows, the live metric and the requests are identical
    for name in (
        "rows",
        "rows_by_version",
        "sampled_from",
        "labelled",
        "labels",
        "unmatched_labels",
        "requests",
    ):
        assert getattr(merged.captured, name) == getattr(single.captured, name), name
    assert merged.live_metric == single.live_metric and merged.live_metric is not None
    assert merged.data_quality is not None and single.data_quality is not None
    assert merged.data_quality.requests == single.data_quality.requests
    # And both checked a sample of 2,000 different rows of the 20,001
    assert len(merged.captured.sample) == len(single.captured.sample) == 2_000
    assert merged.captured.sample != single.captured.sample
    # And the verdicts agree, every score within the sampling tolerance
    assert merged.drifted_features == single.drifted_features == drifted
    assert merged.report.dataset_drift == single.report.dataset_drift
    for name, column in single.report.features.items():
        other = merged.report.features[name]
        assert column.score is not None and other.score is not None
        assert abs(other.score - column.score) <= SAMPLE_TOLERANCE, (name, column.score, other.score)
    # And the histograms count every row of version 1 on the reference's bins, not the sample
    assert sum(h.total for h in summary.histograms.values()) == 3 * 20_001


def test_an_empty_window_is_planned_with_no_partition_and_checked_as_insufficient() -> None:
    # Given a model in production that served nothing
    fakes = FakePorts()
    spec = register_model(fakes, LOANS_SPEC)
    put_in_production(fakes, spec, reference_bytes(spec, loan_rows(400, seed=1)))
    # When its window is planned and checked from its (no) summaries
    plan = plan_window(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    checked = check_from_summaries(fakes.deps(), SETTINGS, MODEL, 1, plan.window, plan.summaries_prefix, NOW)
    # Then the manifest is empty and the check says there is not enough data, as one pass would
    assert json.loads(fakes.artifacts.get_bytes(plan.manifest_uri)) == [] and plan.parts == 0
    expected = check_model(fakes.deps(), SETTINGS, MODEL, 1, NOW)
    assert checked.status == expected.status == "insufficient_data"
