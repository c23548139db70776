"""What the use cases report, counted by the entry points: each outcome is the same CloudWatch metric
it was when the use cases emitted it themselves (names, units and dimensions the dashboard and the
alarms read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sluice.entrypoints.outcomes import COUNTED, count_capture, count_model_integrity_failure
from sluice.observability import metrics


@pytest.fixture(autouse=True)
def no_metrics_left_over() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.mark.parametrize(
    ("report", "metric"),
    [
        (COUNTED.model_integrity_failure, "ModelIntegrityFailures"),
        (count_model_integrity_failure, "ModelIntegrityFailures"),
        (COUNTED.rollout_count_failure, "RolloutCountFailures"),
        (COUNTED.rollout_candidate_error, "RolloutCandidateErrors"),
        (COUNTED.dashboard_failure, "DashboardFailures"),
        (lambda: count_capture("failed"), "CaptureFailures"),
    ],
)
def test_a_tolerated_failure_is_one_count_with_the_invocations_metrics(report: Any, metric: str) -> None:
    # When a use case reports the failure it survived
    report()
    # Then the invocation's metrics count it once
    assert metrics.metric_set == {metric: {"Unit": "Count", "StorageResolution": 60, "Value": [1.0]}}


@pytest.mark.parametrize("outcome", ["captured", "skipped"])
def test_a_capture_that_did_not_fail_is_not_counted(outcome: Any) -> None:
    count_capture(outcome)
    assert metrics.metric_set == {}


def test_a_rollout_check_is_emitted_per_model_and_role(capsys: pytest.CaptureFixture[str]) -> None:
    # When a live rollout's check reports a breached limit and each role's numbers
    numbers = {"RolloutRequests": 20.0, "RolloutErrorRate": 0.1, "RolloutLatencyP99": None}
    COUNTED.rollout_checked("loans", True, {"candidate": numbers, "production": numbers})
    # Then RolloutGuardrailBreached is counted with the invocation's metrics and per model, and each
    # measured number is emitted per model and role
    assert metrics.metric_set["RolloutGuardrailBreached"]["Value"] == [1.0]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    names = sorted(
        (line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], line.get("role")) for line in lines
    )
    assert names == [
        ("RolloutErrorRate", "candidate"),
        ("RolloutErrorRate", "production"),
        ("RolloutGuardrailBreached", None),
        ("RolloutRequests", "candidate"),
        ("RolloutRequests", "production"),
    ]
