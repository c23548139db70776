"""A window's data quality, judged against the version's baseline: the reject rate overall and by field
and kind, each input column's completeness and share of values outside what training saw, the volume
against the usual volume of the same hours on previous days, each violated constraint, and the
verdict in words. Pure: a captured window, the baseline and previous volumes in; a `DataQuality` out.

The usual volume is the median of the request counts that earlier checks stored in their reports
(`data_quality.requests.total`) for windows of the same length ending at the same time of day, on
each of the previous VOLUME_DAYS days (within VOLUME_MATCH of that time): the app reads them."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from sluice.domain.monitoring.quality.baseline import Constraints, RequestConstraints, Statistics
from sluice.domain.monitoring.quality.traffic import RequestCounts

VOLUME_DAYS = 7
VOLUME_MATCH = timedelta(minutes=30)
MIN_VOLUME_DAYS = 3  # previous days needed before volume can be a violation

Check = Literal["reject_rate", "completeness", "range", "domain", "volume"]

_KIND_WORDS = {
    "missing": "a missing `{field}`",
    "null_not_allowed": "a null `{field}`",
    "wrong_type": "`{field}` of the wrong type",
    "out_of_range": "`{field}` out of its range",
    "unknown_category": "an unknown category in `{field}`",
    "unknown_field": "an unknown field `{field}`",
    "malformed_body": "a malformed body",
    "too_many_instances": "too many instances",
}


class Rejection(BaseModel):
    """Rejected requests with one problem: how many requests had it, their share of all requests, and
    how many values (instances) had it."""

    field: str
    kind: str
    requests: int
    rate: float
    values: int


class RequestQuality(BaseModel):
    total: float  # accepted + rejected (accepted estimated from sampled capture lines when sampled)
    accepted: float
    rejected: int
    reject_rate: float | None
    sampled_rejections: int  # rejections whose offending instance capture kept
    by_hour: dict[str, float]


class ColumnQuality(BaseModel):
    name: str
    rows: int  # captured rows of the version the column is judged on (a uniform sample, or every one)
    completeness: float | None
    baseline_completeness: float | None
    outside_range: float | None = None  # share of present numeric values outside the training min..max
    outside_domain: float | None = None  # share of present categories training never saw


class Volume(BaseModel):
    requests: float
    usual: float | None  # median of the same window on previous days, when any was stored
    days: int  # previous days the usual volume is the median of
    ratio: float | None


class Violation(BaseModel):
    check: Check
    column: str | None
    observed: float
    limit: float
    description: str


class DataQuality(BaseModel):
    """The `data_quality` of a drift report."""

    baseline: bool  # whether the version has a stored baseline (statistics and constraints)
    requests: RequestQuality
    rejections: list[Rejection]
    columns: list[ColumnQuality]
    volume: Volume
    violations: list[Violation]
    summary: list[str]


class TrafficSample(Protocol):
    """What a window of capture gives the verdict (a `CapturedWindow` is one): its bounds, its request
    counts, and a uniform sample of its captured rows."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def requests(self) -> RequestCounts: ...
    @property
    def sample(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class PreviousVolume:
    """What an earlier check stored: its window and the requests it counted."""

    start: datetime
    end: datetime
    requests: float


def usual_volume(
    previous: Sequence[PreviousVolume], start: datetime, end: datetime
) -> tuple[float | None, int]:
    """The median request count of windows as long as [start, end) ending at the same time of day on
    each of the VOLUME_DAYS previous days (the nearest within VOLUME_MATCH), and how many days had one."""
    length = end - start
    found = []
    for days in range(1, VOLUME_DAYS + 1):
        target = end - timedelta(days=days)
        matches = [
            p
            for p in previous
            if abs(p.end - target) <= VOLUME_MATCH and abs((p.end - p.start) - length) <= VOLUME_MATCH
        ]
        if matches:
            found.append(min(matches, key=lambda p: abs(p.end - target)).requests)
    return (statistics.median(found) if found else None), len(found)


def _percent(share: float) -> str:
    return f"{share:.0%}" if share == 0 or share >= 0.01 else f"{share:.1%}"


def _span(start: datetime, end: datetime) -> str:
    hours = (end - start).total_seconds() / 3600
    return "the last hour" if abs(hours - 1) < 1e-9 else f"the last {hours:g} hours"


def _columns(
    sample: Sequence[Mapping[str, Any]],
    version: int,
    features: Sequence[str],
    baseline: Statistics,
    constraints: Constraints,
) -> list[ColumnQuality]:
    rows = [r.get("inputs") for r in sample if r.get("version") == version]
    inputs = [r for r in rows if isinstance(r, dict)]
    columns = []
    for name in features:
        values = [i.get(name) for i in inputs]
        present = [v for v in values if v is not None]
        stats, limits = baseline.column(name), constraints.column(name)
        column = ColumnQuality(
            name=name,
            rows=len(inputs),
            completeness=len(present) / len(values) if values else None,
            baseline_completeness=stats.completeness if stats else None,
        )
        if limits is not None and limits.range is not None and present:
            low, high = limits.range.min, limits.range.max
            numbers = [v for v in present if isinstance(v, int | float)]
            outside = sum(1 for v in numbers if v < low or v > high)
            column.outside_range = outside / len(numbers) if numbers else None
        if limits is not None and limits.domain is not None and present:
            known = set(limits.domain.values)
            column.outside_domain = sum(1 for v in present if v not in known) / len(present)
        columns.append(column)
    return columns


def _column_violations(columns: list[ColumnQuality], constraints: Constraints) -> list[Violation]:
    found = []
    for column in columns:
        limits = constraints.column(column.name)
        if limits is None or column.rows == 0:
            continue
        if column.completeness is not None and column.completeness < limits.min_completeness:
            found.append(
                Violation(
                    check="completeness",
                    column=column.name,
                    observed=column.completeness,
                    limit=limits.min_completeness,
                    description=f"`{column.name}` was present in {_percent(column.completeness)} of rows, "
                    f"below the {_percent(column.baseline_completeness or 0)} it had in training",
                )
            )
        if (
            limits.range
            and column.outside_range is not None
            and column.outside_range > limits.range.max_share_outside
        ):
            found.append(
                Violation(
                    check="range",
                    column=column.name,
                    observed=column.outside_range,
                    limit=limits.range.max_share_outside,
                    description=f"{_percent(column.outside_range)} of `{column.name}` values were outside "
                    f"the training range [{limits.range.min:,.6g}, {limits.range.max:,.6g}]",
                )
            )
        if (
            limits.domain
            and column.outside_domain is not None
            and column.outside_domain > limits.domain.max_share_outside
        ):
            found.append(
                Violation(
                    check="domain",
                    column=column.name,
                    observed=column.outside_domain,
                    limit=limits.domain.max_share_outside,
                    description=f"{_percent(column.outside_domain)} of `{column.name}` values were "
                    "categories training never saw",
                )
            )
    return found


def _rejections(counts: RequestCounts) -> list[Rejection]:
    total = counts.total
    ranked = sorted(counts.problem_requests.items(), key=lambda item: (-item[1], item[0]))
    return [
        Rejection(
            field=name,
            kind=kind,
            requests=n,
            rate=n / total if total else 0.0,
            values=counts.problem_values.get((name, kind), n),
        )
        for (name, kind), n in ranked
    ]


def _reject_sentence(requests: RequestQuality, rejections: list[Rejection], span: str) -> str:
    if requests.total == 0:
        return f"No request reached the model in {span}."
    rate = requests.reject_rate or 0.0
    if requests.rejected == 0:
        return f"No request in {span} was rejected (of {requests.total:,.0f})."
    sentence = f"{_percent(rate)} of requests in {span} were rejected ({requests.rejected:,} of {requests.total:,.0f})"
    if rejections:
        top = rejections[0]
        share = top.requests / requests.rejected
        what = _KIND_WORDS.get(top.kind, "{field}: " + top.kind).format(field=top.field)
        if share >= 0.9:
            sentence += f", nearly all for {what}"
        elif share > 0.5:
            sentence += f", most for {what} ({_percent(share)} of them)"
        else:
            sentence += f", the most common reason {what} ({_percent(share)} of them)"
    return sentence + "."


def judge_window(
    window: TrafficSample,
    version: int,
    features: Sequence[str],
    baseline: tuple[Statistics, Constraints] | None,
    previous: Sequence[PreviousVolume] = (),
) -> DataQuality:
    """The data quality of `window` for `version`: with a baseline, every check; without one (a
    version trained before baselines were stored), the requests and volume checks alone, and a
    sentence saying so."""
    counts = window.requests
    requests = RequestQuality(
        total=round(counts.total, 3),
        accepted=round(counts.accepted, 3),
        rejected=counts.rejected,
        reject_rate=counts.reject_rate,
        sampled_rejections=counts.sampled_rejections,
        by_hour=counts.by_hour(),
    )
    rejections = _rejections(counts)
    limits = baseline[1].requests if baseline else RequestConstraints()
    usual, days = usual_volume(previous, window.start, window.end)
    volume = Volume(
        requests=requests.total,
        usual=usual,
        days=days,
        ratio=requests.total / usual if usual else None,
    )
    span = _span(window.start, window.end)
    violations: list[Violation] = []
    if requests.reject_rate is not None and requests.reject_rate > limits.max_reject_rate:
        violations.append(
            Violation(
                check="reject_rate",
                column=None,
                observed=requests.reject_rate,
                limit=limits.max_reject_rate,
                description=f"{_percent(requests.reject_rate)} of requests were rejected, above "
                f"{_percent(limits.max_reject_rate)}",
            )
        )
    columns: list[ColumnQuality] = []
    if baseline is not None:
        columns = _columns(window.sample, version, features, *baseline)
        violations += _column_violations(columns, baseline[1])
    if (
        volume.ratio is not None
        and days >= MIN_VOLUME_DAYS
        and not (limits.min_volume_ratio <= volume.ratio <= limits.max_volume_ratio)
    ):
        violations.append(
            Violation(
                check="volume",
                column=None,
                observed=volume.ratio,
                limit=limits.min_volume_ratio
                if volume.ratio < limits.min_volume_ratio
                else limits.max_volume_ratio,
                description=f"{volume.requests:,.0f} requests, {volume.ratio:.2g}× the usual {usual:,.0f}",
            )
        )
    summary = [_reject_sentence(requests, rejections, span)]
    if usual is None:
        summary.append(
            "No usual volume yet: no earlier check stored a window like this one on a previous day."
        )
    else:
        summary.append(
            f"{requests.total:,.0f} requests, {volume.ratio or 0:.2g}× the usual {usual:,.0f} for these "
            f"hours (the median of {days} previous day{'s' if days != 1 else ''})."
        )
    if baseline is None:
        summary.append(
            f"Version {version} has no data-quality baseline (trained before baselines were stored): "
            "completeness, ranges and categories are not checked; a retraining stores one."
        )
    summary += [f"Violated: {v.description}." for v in violations if v.check not in ("reject_rate", "volume")]
    return DataQuality(
        baseline=baseline is not None,
        requests=requests,
        rejections=rejections,
        columns=columns,
        volume=volume,
        violations=violations,
        summary=summary,
    )


def quality_of_report(document: Any) -> PreviousVolume | None:
    """The window and request count an earlier drift report stored; None when it has none."""
    try:
        window = document["window"]
        return PreviousVolume(
            start=datetime.fromisoformat(window["start"]),
            end=datetime.fromisoformat(window["end"]),
            requests=float(document["data_quality"]["requests"]["total"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
