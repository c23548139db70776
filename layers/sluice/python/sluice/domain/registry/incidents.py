"""Incidents: one alert per problem, not one per check. A model's incident of a kind (its inputs drifted,
its live metric is worse than its gate, its traffic violates its data-quality constraints) opens with one
message, is announced again at most every `repeat_hours` while checks keep finding it, and closes with
one "resolved" message when a check finds it gone. A check that could not judge the kind (too few rows,
no labels, no gate) neither opens nor closes it. Pure: the registry stores the `Incident`, the use case
publishes what `next_announcement` decides."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel


class IncidentKind(StrEnum):
    DRIFT = "drift"  # the inputs drifted (the report's dataset_drift)
    LIVE_METRIC = "live_metric"  # the primary metric on labelled traffic is worse than the spec's gate
    DATA_QUALITY = "data_quality"  # the traffic violated a constraint of the version's baseline


class IncidentState(StrEnum):
    OPEN = "open"  # first announced
    REPEAT = "repeat"  # announced again: still open after repeat_hours
    RESOLVED = "resolved"  # a check found it gone


# What a subscriber may page on: the live metric is measured harm; drift and data quality may become one.
SEVERITY: dict[IncidentKind, str] = {
    IncidentKind.LIVE_METRIC: "high",
    IncidentKind.DRIFT: "medium",
    IncidentKind.DATA_QUALITY: "medium",
}

_WHAT: dict[IncidentKind, str] = {
    IncidentKind.DRIFT: "drift",
    IncidentKind.LIVE_METRIC: "live metric under its gate",
    IncidentKind.DATA_QUALITY: "data-quality violations",
}


class Finding(BaseModel):
    """What one check found of one kind: `present` None when the check could not judge it."""

    kind: IncidentKind
    present: bool | None
    summary: str = ""


class Incident(BaseModel):
    """A model's incident of one kind, as the registry keeps it (one per model and kind, reused by the
    next incident of that kind once resolved). `revision` counts its writes: each write expects the
    revision it read, so of two racing checks only one opens, repeats or resolves it."""

    model: str
    kind: IncidentKind
    state: IncidentState
    severity: str
    version: int  # the production version the last announcement was about
    opened_at: str  # ISO-8601 UTC
    announced_at: str  # when it was last announced (opened or repeated)
    announcements: int = 1
    resolved_at: str | None = None
    summary: str = ""  # what the last announcement said was found
    report: str | None = None  # the report of the check that last announced it
    revision: int = 1

    @property
    def is_open(self) -> bool:
        return self.state is not IncidentState.RESOLVED

    def announced(
        self, state: IncidentState, version: int, now: datetime, finding: Finding, report: str | None
    ) -> Incident:
        """This incident as `state` announces it at `now` (reopened, as a new incident, by OPEN)."""
        at = now.isoformat(timespec="seconds")
        revision = self.revision + 1
        if state is IncidentState.RESOLVED:
            return self.model_copy(update={"state": state, "resolved_at": at, "revision": revision})
        update = {
            "state": state,
            "version": version,
            "announced_at": at,
            "summary": finding.summary,
            "report": report,
            "revision": revision,
        }
        if state is IncidentState.REPEAT:
            return self.model_copy(update=update | {"announcements": self.announcements + 1})
        return self.model_copy(update=update | {"opened_at": at, "announcements": 1, "resolved_at": None})


def opened(model: str, version: int, finding: Finding, now: datetime, report: str | None) -> Incident:
    """A model's first incident of the finding's kind, opening at `now`."""
    at = now.isoformat(timespec="seconds")
    return Incident(
        model=model,
        kind=finding.kind,
        state=IncidentState.OPEN,
        severity=SEVERITY[finding.kind],
        version=version,
        opened_at=at,
        announced_at=at,
        summary=finding.summary,
        report=report,
        revision=1,
    )


def next_announcement(
    incident: Incident | None, finding: Finding, now: datetime, repeat_hours: float
) -> IncidentState | None:
    """What this check announces of the finding's kind, given the stored incident: open (found, none
    open), repeat (found, open and last announced at least `repeat_hours` ago), resolved (not found,
    one open), or nothing (not judged, or nothing changed)."""
    if finding.present is None:
        return None
    is_open = incident is not None and incident.is_open
    if not finding.present:
        return IncidentState.RESOLVED if is_open else None
    if incident is None or not is_open:
        return IncidentState.OPEN
    announced = datetime.fromisoformat(incident.announced_at)
    return IncidentState.REPEAT if now - announced >= timedelta(hours=repeat_hours) else None


def subject(incident: Incident) -> str:
    """The SNS subject of an announcement (one line, at most 100 characters once sent)."""
    what = _WHAT[incident.kind]
    if incident.state is IncidentState.RESOLVED:
        return f"Sluice: {what} in {incident.model} resolved"
    if incident.state is IncidentState.REPEAT:
        return f"Sluice: {what} in {incident.model} continues"
    return f"Sluice: {what} in {incident.model}"


def since_words(incident: Incident, now: datetime) -> str:
    """How long it has been open, and when it was last announced, in words."""
    opened_ago = _ago(now - datetime.fromisoformat(incident.opened_at))
    announced_ago = _ago(now - datetime.fromisoformat(incident.announced_at))
    times = "once" if incident.announcements == 1 else f"{incident.announcements} times"
    return (
        f"open since {_at(incident.opened_at)} ({opened_ago} ago); "
        f"announced {times}, last {announced_ago} ago"
    )


def incident_words(incident: Incident) -> str:
    """An open incident in words, with absolute times (a stored page does not go stale): "drift in loans
    (v3, severity medium), open since 2026-12-01 12:00 UTC; announced 2 times, last 2026-12-02 12:00 UTC:
    drifted: income"."""
    times = "once" if incident.announcements == 1 else f"{incident.announcements} times"
    words = (
        f"{_WHAT[incident.kind]} in {incident.model} (v{incident.version}, severity {incident.severity}), "
        f"open since {_at(incident.opened_at)}; announced {times}, last {_at(incident.announced_at)}"
    )
    return f"{words}: {incident.summary}" if incident.summary else words


def _at(iso: str) -> str:
    return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M} UTC"


def still_open_sentence(incident: Incident, repeat_hours: float, now: datetime) -> str:
    """The check's words for an open incident it did not announce again."""
    return (
        f"No new alert: this {_WHAT[incident.kind]} is the incident {since_words(incident, now)}; "
        f"it is announced again every {repeat_hours:g} hours while it lasts."
    )


def _ago(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"
