"""Live data quality as pure functions: the baseline (statistics and constraints) of a training table,
and a window of capture — accepted lines, sampled or not, and rejection lines — judged against it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.capture_window import WindowTally
from sluice.domain.monitoring.quality.baseline import baseline_statistics, suggest_constraints
from sluice.domain.monitoring.quality.traffic import MAX_PROBLEM_ENTRIES, rejection_record
from sluice.domain.monitoring.quality.verdict import PreviousVolume, judge_window, usual_volume
from sluice.domain.registry.dashboard import Dashboard, ModelSection, drift_point
from sluice.domain.reports.dashboard_html import render_dashboard
from sluice.domain.spec.model_spec import parse_spec

SPEC = parse_spec(
    """
name: loans
task: binary
target: default
features:
  - {name: income, type: numeric, nullable: true}
  - {name: segment, type: categorical, categories: [a, b, c]}
algorithm: {name: logistic_regression}
metric: roc_auc
"""
)
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
# 10 training rows: income 10..100 with one missing (90% complete), segment a ×6, b ×4 (c never seen)
TABLE = RawTable(
    source="train.csv",
    header=["income", "segment", "default"],
    columns={
        "income": ["10", "20", "30", "40", "50", "60", "70", "80", "90", ""],
        "segment": ["a", "a", "a", "a", "a", "a", "b", "b", "b", "b"],
        "default": ["0", "1"] * 5,
    },
)


def accepted(i: int, *, fraction: float | None = None, **inputs: Any) -> dict[str, Any]:
    return {
        "request_id": f"ok{i}",
        "instance": 0,
        "time": (START + timedelta(minutes=1 + i % 50)).isoformat(),
        "model": "loans",
        "version": 1,
        **({"fraction": fraction} if fraction is not None else {}),
        "inputs": inputs,
        "outputs": {"prediction": 0},
    }


def rejected(i: int, kinds: dict[tuple[str | None, str], int], instance: Any = None) -> dict[str, Any]:
    return rejection_record(
        model="loans",
        version=1,
        request_id=f"bad{i}",
        time=(START + timedelta(minutes=2)).isoformat(),
        status=400,
        kinds=kinds,
        instance=instance,
    )


def window(records: list[dict[str, Any]]) -> Any:
    tally = WindowTally("loans", START, END, max_rows=1000, labels={}, version=1)
    tally.add_object("\n".join(json.dumps(r) for r in records).encode())
    return tally.result()


def test_the_baseline_holds_each_columns_type_completeness_range_and_categories() -> None:
    # When the baseline of the training table is computed
    statistics = baseline_statistics(SPEC, TABLE)
    constraints = suggest_constraints(statistics)
    income, segment = statistics.column("income"), statistics.column("segment")
    # Then the numeric column has its completeness, range and quantiles, the categorical one its shares
    assert income is not None and income.numeric is not None and segment is not None
    assert (income.type, income.inferred_type, income.completeness) == ("numeric", "integral", 0.9)
    assert (income.numeric.min, income.numeric.max, income.numeric.quantiles["p50"]) == (10, 90, 50)
    assert (segment.categories, segment.distinct) == ({"a": 0.6, "b": 0.4}, 2)
    # And the constraints hold live traffic to them: completeness a little below training's, the
    # training range, the categories training saw
    column = constraints.column("income")
    assert column is not None and column.range is not None
    assert (column.min_completeness, column.range.min, column.range.max) == (0.85, 10, 90)
    domain = constraints.column("segment")
    assert domain is not None and domain.domain is not None and domain.domain.values == ["a", "b"]
    assert json.loads(statistics.model_dump_json())["columns"][0]["name"] == "income"


def test_a_window_counts_every_rejection_by_field_and_kind_and_says_so_in_words() -> None:
    # Given 88 accepted requests and 12 rejected: 11 for a missing income, 1 for an unknown segment
    records = [accepted(i, income=50, segment="a") for i in range(88)]
    records += [rejected(i, {("income", "missing"): 2}, {"segment": "a"}) for i in range(11)]
    records += [rejected(99, {("segment", "unknown_category"): 1})]
    baseline = baseline_statistics(SPEC, TABLE)
    # When the window is judged
    quality = judge_window(window(records), 1, SPEC.feature_names, (baseline, suggest_constraints(baseline)))
    # Then the reject rate and each (field, kind) are counted exactly, requests and values apart
    assert (quality.requests.rejected, quality.requests.total, quality.requests.reject_rate) == (
        12,
        100,
        0.12,
    )
    top = quality.rejections[0]
    assert (top.field, top.kind, top.requests, top.values, top.rate) == ("income", "missing", 11, 22, 0.11)
    assert quality.requests.sampled_rejections == 11
    # And the sentence names the share, the span and the field; the reject-rate constraint is violated
    assert quality.summary[0] == (
        "12% of requests in the last hour were rejected (12 of 100), nearly all for a missing `income`."
    )
    assert [v.check for v in quality.violations] == ["reject_rate"]
    # And the rejection lines are no captured rows: the drift sample holds the accepted ones alone
    assert window(records).rows == 88


def test_completeness_range_and_categories_are_judged_against_the_baseline() -> None:
    # Given accepted rows where income is missing in half and out of the training range in a quarter,
    # and segment c (allowed by the spec, never seen in training) in a quarter
    records = [accepted(i, segment="a") for i in range(4)]
    records += [accepted(4 + i, income=50, segment="b") for i in range(2)]
    records += [accepted(6 + i, income=1000, segment="c") for i in range(2)]
    baseline = baseline_statistics(SPEC, TABLE)
    quality = judge_window(window(records), 1, SPEC.feature_names, (baseline, suggest_constraints(baseline)))
    income, segment = quality.columns
    # Then completeness, the share outside the range and the share outside the categories are measured
    assert (income.completeness, income.baseline_completeness, income.outside_range) == (0.5, 0.9, 0.5)
    assert segment.outside_domain == 0.25
    # And each is a violation listed with its column, in words too
    assert {(v.check, v.column) for v in quality.violations} == {
        ("completeness", "income"),
        ("range", "income"),
        ("domain", "segment"),
    }
    assert any("`income` was present in 50% of rows, below the 90%" in s for s in quality.summary)


def test_sampled_capture_stands_for_every_request_and_old_lines_still_count() -> None:
    # Given lines captured at a tenth (each stands for 10 requests), lines of old capture without a
    # fraction, and a rejection whose instance was not sampled
    records = [accepted(i, fraction=0.1, income=50, segment="a") for i in range(9)]
    records += [{k: v for k, v in accepted(9, income=50, segment="a").items() if k != "fraction"}]
    records += [rejected(1, {("income", "wrong_type"): 1})]
    captured = window(records)
    # Then the accepted requests are estimated from the fraction and the rejection counted once
    assert (captured.requests.accepted, captured.requests.rejected) == pytest.approx((91.0, 1))
    assert captured.requests.sampled_rejections == 0


def test_a_version_without_a_baseline_still_gets_its_reject_rate() -> None:
    # Given a version trained before baselines were stored
    records = [accepted(i, income=50, segment="a") for i in range(3)] + [
        rejected(1, {(None, "malformed_body"): 1})
    ]
    # When its window is judged with no baseline
    quality = judge_window(window(records), 7, SPEC.feature_names, None)
    # Then the reject rate is there, the columns are not judged, and a sentence says why
    assert (quality.baseline, quality.requests.reject_rate, quality.columns) == (False, 0.25, [])
    assert any("Version 7 has no data-quality baseline" in s for s in quality.summary)
    assert "for a malformed body" in quality.summary[0]


def test_a_rejection_line_stays_bounded_however_many_problems_it_had() -> None:
    # Given a request with more distinct problems than a line names
    kinds: dict[tuple[str | None, str], int] = {
        (f"f{i}", "unknown_field"): 1 for i in range(MAX_PROBLEM_ENTRIES + 5)
    }
    line = rejection_record(
        model="m",
        version=1,
        request_id="r",
        time=START.isoformat(),
        status=400,
        kinds=kinds,
        instance={"x": "y" * 20_000},
    )
    # Then it names MAX_PROBLEM_ENTRIES, sums the rest, and drops an instance too large to sample
    assert len(line["rejected"]["problems"]) == MAX_PROBLEM_ENTRIES
    assert line["rejected"]["other_problems"] == 5 and "inputs" not in line


def test_the_usual_volume_is_the_median_of_the_same_window_on_previous_days() -> None:
    # Given earlier checks of one-hour windows ending at the same time 1, 2 and 3 days before (and one
    # ending at another time, which does not count)
    previous = [
        PreviousVolume(START - timedelta(days=d), END - timedelta(days=d), requests)
        for d, requests in ((1, 100.0), (2, 300.0), (3, 200.0))
    ] + [PreviousVolume(START - timedelta(days=1, hours=5), END - timedelta(days=1, hours=5), 9999.0)]
    # Then the usual volume is their median, over 3 days
    assert usual_volume(previous, START, END) == (200.0, 3)
    # And a window with a tenth of it violates the volume constraint
    baseline = baseline_statistics(SPEC, TABLE)
    records = [accepted(i, income=50, segment="a") for i in range(20)]
    quality = judge_window(
        window(records), 1, SPEC.feature_names, (baseline, suggest_constraints(baseline)), previous
    )
    assert (quality.volume.usual, quality.volume.ratio) == (200.0, 0.1)
    assert [v.check for v in quality.violations] == ["volume"]


def test_the_dashboard_shows_the_last_checks_data_quality_and_charts_it_per_check() -> None:
    # Given three stored drift documents: one from before data quality existed, two with it
    quality = {
        "requests": {"reject_rate": 0.12},
        "violations": [{"check": "reject_rate"}],
        "summary": ["12% …"],
    }
    documents = [
        {"version": 2, "status": "ok"},
        {"version": 2, "status": "ok", "data_quality": {"requests": {"reject_rate": 0.0}, "violations": []}},
        {"version": 2, "status": "ok", "data_quality": quality},
    ]
    points = [drift_point(d, f"20261202T1{i}0000Z", None, None) for i, d in enumerate(documents)]
    section = ModelSection(model="loans", built_at="now", drift=points)
    # When the dashboard is rendered
    html = render_dashboard(Dashboard(generated_at="now", models=[section]), lambda key: key)
    # Then the last check's data quality is there in words, with its violations counted
    assert "<h3>Data quality</h3>" in html and "data-quality-violations='1'" in html and "12% …" in html
    # And the reject rate and the violations are charted per check that measured them
    chart = re.search(r"<svg[^>]*data-chart='loans:reject_rate'.*?</svg>", html)
    assert chart is not None
    assert [float(v) for v in re.findall(r"data-value='([^']+)'", chart.group(0))] == [0.0, 0.12]
