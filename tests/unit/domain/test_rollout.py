"""A live rollout's pure parts: which requests the candidate scores (a stable, salted hash), the latency
histogram that containers add up, `judge`'s guards and decision, and the comparison report."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sluice.domain.reports.rollout_html import render_rollout_html
from sluice.domain.rollout.live import (
    LATENCY_BUCKETS,
    MIN_LABELLED_ROWS_TO_JUDGE,
    MIN_REQUESTS_FOR_P99,
    Decision,
    LabelledScore,
    RolloutComparison,
    RolloutLimits,
    RolloutState,
    VersionTally,
    judge,
    latency_bucket,
    scores_on_candidate,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
BUCKET_RATIO = 2 ** (1 / 4)
_DRAW = random.Random(7)
IDS = [str(uuid.UUID(int=_DRAW.getrandbits(128))) for _ in range(20_000)]


# ---------------------------------------------------------------------------- which requests the candidate scores
def test_the_same_request_id_always_gets_the_same_answer() -> None:
    # Given the ids of many requests / When each is asked about twice / Then the answers are the same
    first = [scores_on_candidate(i, 2, 0.3) for i in IDS[:2000]]
    assert first == [scores_on_candidate(i, 2, 0.3) for i in IDS[:2000]]


@pytest.mark.parametrize("weight", [0.05, 0.1, 0.5, 0.9])
def test_the_candidate_scores_its_weight_of_requests(weight: float) -> None:
    # When 20,000 request ids are hashed
    share = sum(scores_on_candidate(i, 2, weight) for i in IDS) / len(IDS)
    # Then the candidate's share is within four standard deviations of its weight
    sd = math.sqrt(weight * (1 - weight) / len(IDS))
    assert abs(share - weight) < 4 * sd


def test_each_version_tries_a_different_slice_of_requests() -> None:
    # Given two candidate versions on the same requests at the same weight
    weight = 0.2
    two = {i for i in IDS if scores_on_candidate(i, 2, weight)}
    three = {i for i in IDS if scores_on_candidate(i, 3, weight)}
    # Then the slices differ, overlapping as independent draws do (weight² of the requests)
    assert two != three
    overlap = len(two & three) / len(IDS)
    sd = math.sqrt(weight**2 * (1 - weight**2) / len(IDS))
    assert abs(overlap - weight**2) < 4 * sd


def test_weight_one_scores_every_request_and_a_tiny_weight_almost_none() -> None:
    assert all(scores_on_candidate(i, 2, 1.0) for i in IDS)
    assert sum(scores_on_candidate(i, 2, 1e-6) for i in IDS) <= 2  # 0.02 expected


# ------------------------------------------------------------------------------------------- latency histogram
def test_latency_buckets_are_monotone_and_bounded() -> None:
    # Given latencies from well below the first bucket to well above the last
    latencies = np.geomspace(0.001, 10**7, 5000)
    buckets = [latency_bucket(float(ms)) for ms in latencies]
    # Then a slower request never lands in an earlier bucket, and every bucket exists
    assert buckets == sorted(buckets)
    assert (buckets[0], buckets[-1]) == (0, LATENCY_BUCKETS - 1)
    assert len(set(buckets)) == LATENCY_BUCKETS


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_p99_from_the_histogram_is_within_one_bucket_of_the_exact_p99(seed: int) -> None:
    # Given lognormal latencies around 20 ms, tallied
    latencies = np.random.default_rng(seed).lognormal(math.log(20), 0.8, size=5000)
    tally = VersionTally()
    for ms in latencies:
        tally.add(milliseconds=float(ms))
    # Then the p99 it reports is within one bucket (×2^(1/4)) of numpy's
    p99 = tally.latency_quantile_ms(0.99)
    exact = float(np.percentile(latencies, 99))
    assert p99 is not None
    assert exact / BUCKET_RATIO <= p99 <= exact * BUCKET_RATIO
    assert tally.timed == 5000


def test_an_untimed_tally_has_no_quantile() -> None:
    tally = VersionTally()
    tally.add(milliseconds=None, error=True)
    assert (tally.requests, tally.errors, tally.timed) == (1, 1, 0)
    assert tally.latency_quantile_ms(0.99) is None


def test_merged_tallies_add_every_count() -> None:
    # Given two containers' tallies of the same version
    one, two = VersionTally(), VersionTally()
    one.add(milliseconds=1.0, instances=3, agreed=2, abs_diff=0.5)
    one.add(milliseconds=None, error=True)
    two.add(milliseconds=1.0, instances=4, agreed=4, abs_diff=0.25)
    two.add(milliseconds=100.0, instances=1)
    # When they are merged / Then each count is the sum, latency bucket by bucket
    merged = one.merged(two)
    assert (merged.requests, merged.errors, merged.instances, merged.agreed) == (4, 1, 8, 6)
    assert merged.abs_diff == pytest.approx(0.75)
    assert merged.latency == {latency_bucket(1.0): 2, latency_bucket(100.0): 1}
    assert (one.requests, two.requests) == (2, 2)  # neither is changed


# ----------------------------------------------------------------------------------------------------- judge
def limits(**changes: object) -> RolloutLimits:
    base = RolloutLimits(
        mode="canary",
        min_requests=1000,
        min_hours=1.0,
        min_labelled_rows=None,
        max_error_rate_increase=0.01,
        max_latency_p99_ratio=1.5,
        max_metric_drop=0.02,
        min_agreement=None,
        metric="roc_auc",
        higher_is_better=True,
        metric_floor=None,
    )
    return base.model_copy(update=changes)


def state(hours_ago: float = 2.0, deadline_in: float = 10.0, mode: str = "canary") -> RolloutState:
    return RolloutState(
        mode=mode,
        version=2,
        production_version=1,
        weight=0.1,
        started_at=(NOW - timedelta(hours=hours_ago)).isoformat(),
        deadline=(NOW + timedelta(hours=deadline_in)).isoformat(),
    )


def tally(
    requests: int, *, errors: int = 0, ms: float = 10.0, timed: int | None = None, agreed: int = 0
) -> VersionTally:
    """`requests` requests of one instance each, `errors` of them failed (untimed), `timed` of the rest
    (all unless told) taking `ms`; `agreed` instances as production predicted them."""
    result = VersionTally()
    ok = requests - errors
    timed = ok if timed is None else timed
    for i in range(ok):
        result.add(milliseconds=ms if i < timed else None, instances=1)
    for _ in range(errors):
        result.add(milliseconds=None, error=True)
    result.agreed = agreed
    return result


def score(value: float, rows: int = 200) -> LabelledScore:
    return LabelledScore(value=value, rows=rows)


def judged(
    rules: RolloutLimits | None = None,
    rollout: RolloutState | None = None,
    *,
    candidate: VersionTally | None = None,
    production: VersionTally | None = None,
    candidate_score: LabelledScore | None = None,
    production_score: LabelledScore | None = None,
) -> RolloutComparison:
    """`judge` at NOW; unless told, a candidate that meets every condition to be promoted."""
    return judge(
        rules or limits(),
        rollout or state(),
        candidate=candidate or tally(1200),
        production=production or tally(10_000),
        candidate_score=candidate_score,
        production_score=production_score,
        now=NOW,
    )


def guard(comparison: RolloutComparison, name: str) -> dict[str, object]:
    return next(g.model_dump() for g in comparison.guards if g.name == name)


def test_a_candidate_within_every_limit_after_enough_requests_and_hours_is_promoted() -> None:
    comparison = judged(candidate_score=score(0.80), production_score=score(0.80))
    assert comparison.decision is Decision.PROMOTE
    assert comparison.reason.startswith("promoted after 1200 requests in canary")
    assert not any(g.breached for g in comparison.guards)
    assert all(g.judged for g in comparison.guards)


@pytest.mark.parametrize(
    ("name", "rules", "changes"),
    [
        ("max_error_rate_increase", limits(), {"candidate": tally(1200, errors=60)}),
        ("max_latency_p99_ratio", limits(), {"candidate": tally(1200, ms=40.0)}),
        (
            "max_metric_drop",
            limits(),
            {"candidate_score": score(0.70), "production_score": score(0.80)},
        ),
        (
            "min_metric",
            limits(metric_floor=0.75),
            {"candidate_score": score(0.72), "production_score": score(0.72)},
        ),
        (
            "min_agreement",
            limits(mode="shadow", min_agreement=0.95),
            {"candidate": tally(1200, agreed=1000)},
        ),
    ],
)
def test_each_guard_breached_alone_rolls_back_naming_it(
    name: str, rules: RolloutLimits, changes: dict[str, object]
) -> None:
    # Given a candidate that would be promoted but for one breached limit
    arguments: dict[str, object] = {"candidate_score": score(0.80), "production_score": score(0.80)}
    comparison = judged(rules, state(mode=rules.mode), **(arguments | changes))  # type: ignore[arg-type]
    # Then it is rolled back, the reason naming that limit and no other
    assert comparison.decision is Decision.ROLL_BACK
    assert comparison.reason.startswith(f"rolled back: {name} breached")
    assert [g.name for g in comparison.guards if g.breached] == [name]


def test_a_breached_guard_rolls_back_before_min_requests_or_min_hours() -> None:
    # Given a canary that failed 10 of its first 50 requests, minutes after it began
    comparison = judged(rollout=state(hours_ago=0.1), candidate=tally(50, errors=10))
    # Then it is rolled back at once, without waiting for min_requests or min_hours
    assert comparison.decision is Decision.ROLL_BACK
    assert "max_error_rate_increase breached" in comparison.reason


def test_the_error_guard_compares_with_productions_own_error_rate() -> None:
    # Given production failing 5% of its requests and the candidate 5.5%
    comparison = judged(candidate=tally(2000, errors=110), production=tally(10_000, errors=500))
    # Then the increase, half a point, is within the 1-point limit
    assert guard(comparison, "max_error_rate_increase")["value"] == pytest.approx(0.005)
    assert comparison.decision is Decision.PROMOTE


def test_p99_is_not_judged_below_100_timed_requests_of_each_version() -> None:
    # Given a candidate three times slower, but one request short of a judged p99
    few = MIN_REQUESTS_FOR_P99 - 1
    comparison = judged(
        limits(min_requests=10), candidate=tally(200, ms=30.0, timed=few), production=tally(10_000)
    )
    # Then latency is not judged, and the candidate is promoted on the rest
    latency = guard(comparison, "max_latency_p99_ratio")
    assert (latency["judged"], latency["breached"], latency["value"]) == (False, False, None)
    assert comparison.decision is Decision.PROMOTE
    # And with one more timed request it is judged and breached
    enough = judged(limits(min_requests=10), candidate=tally(200, ms=30.0, timed=few + 1))
    assert enough.decision is Decision.ROLL_BACK
    assert guard(enough, "max_latency_p99_ratio")["value"] == pytest.approx(3.0, rel=0.2)


@pytest.mark.parametrize(("min_labelled_rows", "rows"), [(None, MIN_LABELLED_ROWS_TO_JUDGE - 1), (100, 99)])
def test_the_metric_is_not_judged_on_too_few_labelled_rows(min_labelled_rows: int | None, rows: int) -> None:
    # Given a candidate far worse than production on fewer labelled rows than the limit needs
    comparison = judged(
        limits(min_labelled_rows=min_labelled_rows),
        candidate_score=score(0.50, rows),
        production_score=score(0.90, rows),
    )
    # Then the metric is not judged (and never breached on so few rows)
    metric = guard(comparison, "max_metric_drop")
    assert (metric["judged"], metric["breached"]) == (False, False)
    assert f"judged from {min_labelled_rows or MIN_LABELLED_ROWS_TO_JUDGE} labelled rows" in str(
        metric["sentence"]
    )
    assert comparison.decision is not Decision.ROLL_BACK


@pytest.mark.parametrize(
    ("change", "waiting_for"),
    [
        ({"candidate": tally(999)}, "999 of 1000 requests"),
        ({"rollout": state(hours_ago=0.5)}, "0.50 of 1.0 hours"),
        (
            {
                "rules": limits(min_labelled_rows=300),
                "candidate_score": score(0.80, rows=250),
                "production_score": score(0.80, rows=250),
            },
            "250 of 300 labelled rows",
        ),
    ],
)
def test_promotion_waits_for_requests_hours_and_labelled_rows(
    change: dict[str, object], waiting_for: str
) -> None:
    # Given a healthy candidate short of one condition
    comparison = judged(**change)  # type: ignore[arg-type]
    # Then it waits, saying what for
    assert comparison.decision is Decision.WAIT
    assert comparison.reason == f"waiting for {waiting_for}"


def test_min_labelled_rows_met_promotes() -> None:
    comparison = judged(
        limits(min_labelled_rows=300),
        candidate_score=score(0.80, rows=300),
        production_score=score(0.80, rows=300),
    )
    assert comparison.decision is Decision.PROMOTE


def test_a_rollout_still_waiting_at_its_deadline_is_rolled_back_for_lack_of_traffic() -> None:
    comparison = judged(rollout=state(hours_ago=12, deadline_in=0), candidate=tally(10))
    assert comparison.decision is Decision.ROLL_BACK
    assert comparison.reason == "rolled back: not enough traffic before the deadline (10 of 1000 requests)"


@pytest.mark.parametrize(("candidate", "breached"), [(12.0, True), (10.4, False), (9.0, False)])
def test_a_lower_is_better_metric_drops_when_it_rises(candidate: float, breached: bool) -> None:
    # Given rmse, where lower is better, production at 10 and a 0.5 allowance
    rules = limits(metric="rmse", higher_is_better=False, max_metric_drop=0.5)
    comparison = judged(rules, candidate_score=score(candidate), production_score=score(10.0))
    # Then the drop is the candidate's rise, and only a rise beyond the allowance rolls back
    drop = guard(comparison, "max_metric_drop")
    assert drop["value"] == pytest.approx(candidate - 10.0)
    assert drop["breached"] is breached
    assert (comparison.decision is Decision.ROLL_BACK) is breached


def test_a_lower_is_better_gate_is_a_ceiling() -> None:
    rules = limits(metric="rmse", higher_is_better=False, max_metric_drop=5.0, metric_floor=11.0)
    comparison = judged(rules, candidate_score=score(11.5), production_score=score(11.5))
    assert comparison.reason.startswith("rolled back: max_metric breached")
    assert (
        judged(rules, candidate_score=score(10.5), production_score=score(10.5)).decision is Decision.PROMOTE
    )


def test_agreement_is_judged_for_a_shadow_only() -> None:
    # Given a shadow agreeing with production on 96% of instances, 95% required
    rules = limits(mode="shadow", min_agreement=0.95)
    comparison = judged(rules, state(mode="shadow"), candidate=tally(1200, agreed=1152))
    agreement = guard(comparison, "min_agreement")
    assert (agreement["value"], agreement["breached"]) == (pytest.approx(0.96), False)
    assert comparison.reason.startswith("promoted after 1200 requests in shadow")
    # And a canary has no agreement to judge
    assert "min_agreement" not in [g.name for g in judged(candidate=tally(1200, agreed=0)).guards]


def test_the_summary_gives_both_versions_numbers() -> None:
    comparison = judged(
        limits(mode="shadow", min_agreement=0.5),
        state(mode="shadow"),
        candidate=tally(1000, errors=10, agreed=891),
        production=tally(4000, ms=20.0),
        candidate_score=score(0.81, rows=40),
        production_score=score(0.79, rows=45),
    )
    summary = comparison.summary()
    assert summary["candidate"] == {
        "requests": 1000,
        "error_rate": 0.01,
        "latency_p99_ms": comparison.candidate.latency_quantile_ms(0.99),
        "labelled_rows": 40,
        "metric": 0.81,
    }
    assert summary["production"]["requests"] == 4000
    assert summary["production"]["labelled_rows"] == 45
    assert summary["candidate"]["latency_p99_ms"] < summary["production"]["latency_p99_ms"]
    assert summary["agreement"] == pytest.approx(0.9)  # 891 of 990 instances
    assert judged().summary()["agreement"] is None  # a canary's


# ---------------------------------------------------------------------------------------------- the report
@pytest.mark.parametrize(
    ("comparison", "words"),
    [
        (judged(candidate_score=score(0.8), production_score=score(0.8)), "promote: promoted after"),
        (judged(candidate=tally(1200, errors=100)), "roll back: rolled back: max_error_rate_increase"),
        (judged(candidate=tally(10)), "wait: waiting for 10 of 1000 requests"),
    ],
)
def test_the_report_states_the_decision_both_versions_and_every_guard(
    comparison: RolloutComparison, words: str
) -> None:
    page = render_rollout_html("credit-risk", comparison)
    assert words in page
    assert "version 2 (candidate)" in page and "version 1 (production)" in page
    for g in comparison.guards:
        assert f"<td>{g.name}</td>" in page
