"""A live rollout (shadow or canary): which requests the candidate scores, what each version's requests
amounted to (a `VersionTally`), and the verdict of comparing them (`judge`). Pure.

A canary request is chosen by a stable hash of its request id (salted with the candidate's version), so a
retried request lands on the same version and each rollout tries a different slice of clients. Latency is
counted in a log-spaced histogram (19% wide buckets, 0.05 ms to ~50 s), so p99 is known within a bucket
from counts that many Lambda containers add up in the registry."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

CANDIDATE = "candidate"
PRODUCTION = "production"
ROLES = (CANDIDATE, PRODUCTION)

_LATENCY_BASE_MS = 0.05
_LATENCY_RATIO = 2 ** (1 / 4)
LATENCY_BUCKETS = 80
MIN_REQUESTS_FOR_P99 = 100  # below this p99 is the slowest request, too noisy to judge on
MIN_LABELLED_ROWS_TO_JUDGE = 30  # when the spec sets no min_labelled_rows


class RolloutStatus(StrEnum):
    RUNNING = "running"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


class RolloutState(BaseModel):
    """The live rollout the production alias carries: which version is tried, how, on what share of
    requests, against which production version, since and until when."""

    mode: str  # shadow | canary
    version: int
    production_version: int
    weight: float
    started_at: str
    deadline: str
    status: RolloutStatus = RolloutStatus.RUNNING
    reason: str | None = None
    execution_arn: str | None = None

    def routes_now(self, now: datetime) -> bool:
        """Whether requests still go to the candidate: the rollout runs and its deadline has not passed
        (an execution stopped from outside cannot leave traffic on a candidate for ever)."""
        return self.status is RolloutStatus.RUNNING and now < datetime.fromisoformat(self.deadline)


def scores_on_candidate(request_id: str, version: int, weight: float) -> bool:
    """Whether the candidate `version` scores request `request_id`: the same answer for the same id
    every time, true for `weight` of ids."""
    digest = hashlib.sha256(f"{version}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < weight * 2**64


def latency_bucket(milliseconds: float) -> int:
    """The histogram bucket of a latency."""
    if milliseconds <= _LATENCY_BASE_MS:
        return 0
    index = math.ceil(math.log(milliseconds / _LATENCY_BASE_MS) / math.log(_LATENCY_RATIO))
    return min(LATENCY_BUCKETS - 1, index)


def bucket_upper_ms(index: int) -> float:
    return float(_LATENCY_BASE_MS * _LATENCY_RATIO**index)


class VersionTally(BaseModel):
    """What one version did with the requests it scored during a rollout: requests, the ones that failed,
    instances, latency buckets, and (shadow) how its predictions compared with production's."""

    requests: int = 0
    errors: int = 0
    instances: int = 0
    agreed: int = 0  # shadow, classifiers: instances predicted as production predicted them
    abs_diff: float = 0.0  # shadow, regressors: sum of |candidate - production| over instances
    latency: dict[int, int] = Field(default_factory=dict)  # bucket -> requests

    def add(
        self,
        *,
        milliseconds: float | None,
        error: bool = False,
        instances: int = 0,
        agreed: int = 0,
        abs_diff: float = 0.0,
    ) -> None:
        self.requests += 1
        self.errors += int(error)
        self.instances += instances
        self.agreed += agreed
        self.abs_diff += abs_diff
        if milliseconds is not None:
            bucket = latency_bucket(milliseconds)
            self.latency[bucket] = self.latency.get(bucket, 0) + 1

    def merged(self, other: VersionTally) -> VersionTally:
        latency = dict(self.latency)
        for bucket, count in other.latency.items():
            latency[bucket] = latency.get(bucket, 0) + count
        return VersionTally(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            instances=self.instances + other.instances,
            agreed=self.agreed + other.agreed,
            abs_diff=self.abs_diff + other.abs_diff,
            latency=latency,
        )

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def latency_quantile_ms(self, q: float) -> float | None:
        """The upper edge of the bucket holding the q-quantile of timed requests (None when none)."""
        total = sum(self.latency.values())
        if not total:
            return None
        seen = 0
        for bucket in sorted(self.latency):
            seen += self.latency[bucket]
            if seen >= q * total:
                return bucket_upper_ms(bucket)
        return bucket_upper_ms(max(self.latency))

    @property
    def timed(self) -> int:
        return sum(self.latency.values())


class LabelledScore(BaseModel):
    """A version's primary metric on the labelled rows it scored during the rollout."""

    value: float | None
    rows: int


class RolloutLimits(BaseModel):
    """The spec's rollout limits and the gates that apply on labelled rows, as `judge` reads them."""

    mode: str
    min_requests: int
    min_hours: float
    min_labelled_rows: int | None
    max_error_rate_increase: float
    max_latency_p99_ratio: float
    max_metric_drop: float
    min_agreement: float | None
    metric: str
    higher_is_better: bool
    metric_floor: float | None  # the gates' min_metric (higher is better) or max_metric, if any


class Guard(BaseModel):
    """One limit checked: its value, the limit, whether it could be judged yet and whether it broke."""

    name: str
    value: float | None
    limit: float | None
    judged: bool
    breached: bool
    sentence: str


class Decision(StrEnum):
    WAIT = "wait"
    PROMOTE = "promote"
    ROLL_BACK = "roll_back"


class RolloutComparison(BaseModel):
    """A check of a live rollout: both versions' numbers, the guards, and what to do now."""

    mode: str
    version: int
    production_version: int
    checked_at: str
    elapsed_hours: float
    candidate: VersionTally
    production: VersionTally
    candidate_score: LabelledScore | None = None
    production_score: LabelledScore | None = None
    guards: list[Guard]
    decision: Decision
    reason: str

    def summary(self) -> dict[str, Any]:
        """The numbers a person or a dashboard reads first."""

        def view(tally: VersionTally, score: LabelledScore | None) -> dict[str, Any]:
            return {
                "requests": tally.requests,
                "error_rate": tally.error_rate,
                "latency_p99_ms": tally.latency_quantile_ms(0.99),
                "labelled_rows": score.rows if score else 0,
                "metric": score.value if score else None,
            }

        agreement = (
            self.candidate.agreed / self.candidate.instances
            if self.mode == "shadow" and self.candidate.instances
            else None
        )
        return {
            "candidate": view(self.candidate, self.candidate_score),
            "production": view(self.production, self.production_score),
            "agreement": agreement,
        }


def _error_guard(limits: RolloutLimits, candidate: VersionTally, production: VersionTally) -> Guard:
    rate = candidate.error_rate
    base = production.error_rate or 0.0
    increase = None if rate is None else rate - base
    breached = increase is not None and increase > limits.max_error_rate_increase
    return Guard(
        name="max_error_rate_increase",
        value=increase,
        limit=limits.max_error_rate_increase,
        judged=increase is not None,
        breached=breached,
        sentence=(
            "no request scored by the candidate yet"
            if rate is None
            else f"error rate {rate:.2%} against production's {base:.2%} ({candidate.errors} of "
            f"{candidate.requests} requests failed)"
        ),
    )


def _latency_guard(limits: RolloutLimits, candidate: VersionTally, production: VersionTally) -> Guard:
    enough = min(candidate.timed, production.timed) >= MIN_REQUESTS_FOR_P99
    mine, theirs = candidate.latency_quantile_ms(0.99), production.latency_quantile_ms(0.99)
    ratio = mine / theirs if enough and mine is not None and theirs else None
    return Guard(
        name="max_latency_p99_ratio",
        value=ratio,
        limit=limits.max_latency_p99_ratio,
        judged=ratio is not None,
        breached=ratio is not None and ratio > limits.max_latency_p99_ratio,
        sentence=(
            f"p99 latency {mine:.2f} ms against production's {theirs:.2f} ms"
            if ratio is not None and mine is not None and theirs is not None
            else f"p99 latency is judged from {MIN_REQUESTS_FOR_P99} timed requests of each version"
        ),
    )


def _metric_guards(
    limits: RolloutLimits, candidate: LabelledScore | None, production: LabelledScore | None
) -> list[Guard]:
    needed = limits.min_labelled_rows or MIN_LABELLED_ROWS_TO_JUDGE
    have = min(candidate.rows if candidate else 0, production.rows if production else 0)
    enough = (
        candidate is not None
        and production is not None
        and candidate.value is not None
        and production.value is not None
        and have >= needed
    )
    if not enough or candidate is None or production is None:
        rows = candidate.rows if candidate else 0
        note = f"{limits.metric} is judged from {needed} labelled rows of each version ({rows} so far)"
        return [
            Guard(
                name="max_metric_drop",
                value=None,
                limit=limits.max_metric_drop,
                judged=False,
                breached=False,
                sentence=note,
            )
        ]
    assert candidate.value is not None and production.value is not None
    drop = (
        production.value - candidate.value if limits.higher_is_better else candidate.value - production.value
    )
    guards = [
        Guard(
            name="max_metric_drop",
            value=drop,
            limit=limits.max_metric_drop,
            judged=True,
            breached=drop > limits.max_metric_drop,
            sentence=f"{limits.metric} {candidate.value:.3f} against production's {production.value:.3f} "
            f"on {candidate.rows} and {production.rows} labelled rows",
        )
    ]
    if limits.metric_floor is not None:
        below = (
            candidate.value < limits.metric_floor
            if limits.higher_is_better
            else candidate.value > limits.metric_floor
        )
        gate = "min_metric" if limits.higher_is_better else "max_metric"
        guards.append(
            Guard(
                name=gate,
                value=candidate.value,
                limit=limits.metric_floor,
                judged=True,
                breached=below,
                sentence=f"{limits.metric} {candidate.value:.3f} against the gate's {gate} {limits.metric_floor}",
            )
        )
    return guards


def _agreement_guard(limits: RolloutLimits, candidate: VersionTally) -> Guard | None:
    if limits.mode != "shadow" or limits.min_agreement is None:
        return None
    agreement = candidate.agreed / candidate.instances if candidate.instances else None
    return Guard(
        name="min_agreement",
        value=agreement,
        limit=limits.min_agreement,
        judged=agreement is not None,
        breached=agreement is not None and agreement < limits.min_agreement,
        sentence="no instance scored yet"
        if agreement is None
        else f"agreed with production on {agreement:.1%} of {candidate.instances} instances",
    )


def judge(
    limits: RolloutLimits,
    state: RolloutState,
    *,
    candidate: VersionTally,
    production: VersionTally,
    candidate_score: LabelledScore | None,
    production_score: LabelledScore | None,
    now: datetime,
) -> RolloutComparison:
    """Compare the candidate with production over the rollout so far. Roll back as soon as a judged guard
    is breached; promote once the candidate scored `min_requests` requests after `min_hours` (and has
    `min_labelled_rows` labelled rows, when set) with no guard breached; roll back at the deadline;
    else wait."""
    started = datetime.fromisoformat(state.started_at)
    elapsed = max(0.0, (now - started).total_seconds() / 3600)
    guards = [
        _error_guard(limits, candidate, production),
        _latency_guard(limits, candidate, production),
        *_metric_guards(limits, candidate_score, production_score),
    ]
    agreement = _agreement_guard(limits, candidate)
    if agreement is not None:
        guards.append(agreement)
    breached = [g for g in guards if g.breached]
    labelled = candidate_score.rows if candidate_score else 0
    waiting_for = []
    if candidate.requests < limits.min_requests:
        waiting_for.append(f"{candidate.requests} of {limits.min_requests} requests")
    if elapsed < limits.min_hours:
        waiting_for.append(f"{elapsed:.2f} of {limits.min_hours} hours")
    if limits.min_labelled_rows is not None and labelled < limits.min_labelled_rows:
        waiting_for.append(f"{labelled} of {limits.min_labelled_rows} labelled rows")
    word = "shadow" if limits.mode == "shadow" else "canary"
    if breached:
        decision = Decision.ROLL_BACK
        reason = f"rolled back: {'; '.join(f'{g.name} breached, {g.sentence} (limit {g.limit})' for g in breached)}"
    elif not waiting_for:
        decision = Decision.PROMOTE
        reason = f"promoted after {candidate.requests} requests in {word}: " + "; ".join(
            g.sentence for g in guards if g.judged
        )
    elif now >= datetime.fromisoformat(state.deadline):
        decision = Decision.ROLL_BACK
        reason = f"rolled back: not enough traffic before the deadline ({', '.join(waiting_for)})"
    else:
        decision = Decision.WAIT
        reason = f"waiting for {', '.join(waiting_for)}"
    return RolloutComparison(
        mode=limits.mode,
        version=state.version,
        production_version=state.production_version,
        checked_at=now.isoformat(timespec="seconds"),
        elapsed_hours=round(elapsed, 4),
        candidate=candidate,
        production=production,
        candidate_score=candidate_score,
        production_score=production_score,
        guards=guards,
        decision=decision,
        reason=reason,
    )


def tallies(counts: Mapping[str, VersionTally]) -> tuple[VersionTally, VersionTally]:
    """The candidate's and production's tallies from counts by role (an absent role has none yet)."""
    return counts.get(CANDIDATE, VersionTally()), counts.get(PRODUCTION, VersionTally())
