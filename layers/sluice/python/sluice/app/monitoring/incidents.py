"""One alert per incident: what a check found of each kind (drift, live metric, data quality) opens,
repeats or resolves the model's incident in the registry, and only the check whose write won announces it
(one SNS message, with the attributes subscribers filter on)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sluice.app.monitoring.assess import DriftAssessment
from sluice.app.ports import CoreDeps
from sluice.domain.registry.incidents import (
    Finding,
    Incident,
    IncidentKind,
    IncidentState,
    next_announcement,
    opened,
    since_words,
    still_open_sentence,
    subject,
)
from sluice.domain.registry.records import AuditEvent, EventType, new_event_id
from sluice.errors import SluiceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncidentsOfCheck:
    """What a check did with the model's incidents: by kind, what it announced (open, repeat,
    resolved) or "ongoing" (open, not announced again yet), and a sentence for each ongoing one."""

    states: dict[str, str]
    notes: dict[str, str]

    def announced(self, kind: IncidentKind) -> bool:
        return self.states.get(kind.value) in (IncidentState.OPEN.value, IncidentState.REPEAT.value)


def findings(assessment: DriftAssessment, min_rows: int) -> list[Finding]:
    """What the check found of each kind; `present` None where it could not judge: too few rows for a
    drift verdict, no labelled rows enough or no gate for the live metric, fewer than `min_rows`
    requests for data quality (unless the volume itself is the violation)."""
    report = assessment.report
    drift = Finding(
        kind=IncidentKind.DRIFT,
        present=report.dataset_drift if report.status == "ok" else None,
        summary=f"drifted: {', '.join(assessment.drifted_features) or 'the columns together'}"
        if report.dataset_drift
        else "",
    )
    gate = assessment.live_gate
    judged = gate is not None and gate.gate is not None and gate.value is not None
    live = Finding(
        kind=IncidentKind.LIVE_METRIC,
        present=gate.below_minimum if judged and gate and gate.labelled_rows >= gate.min_rows else None,
        summary=f"live {gate.metric} {gate.value:.3g}, gate {gate.gate} {gate.limit:g}"
        if gate and gate.value is not None and gate.limit is not None
        else "",
    )
    quality = assessment.data_quality
    quality_present: bool | None = None
    if quality is not None:
        volume_violated = any(v.check == "volume" for v in quality.violations)
        if quality.requests.total >= min_rows or volume_violated:
            quality_present = bool(quality.violations)
    data_quality = Finding(
        kind=IncidentKind.DATA_QUALITY,
        present=quality_present,
        summary="; ".join(v.description for v in quality.violations) if quality else "",
    )
    return [drift, live, data_quality]


def handle_incidents(
    deps: CoreDeps,
    assessment: DriftAssessment,
    *,
    min_rows: int,
    repeat_hours: float,
    reports: tuple[str, str],
    now: datetime,
) -> IncidentsOfCheck:
    """Open, repeat or resolve each of the model's incidents as this check's findings say; announce
    each change this check won (a racing check that wrote first announces it instead). An announcement
    that could not be published is given back (the next check announces it) and its error raised.
    `reports` are the check's JSON and HTML report URIs."""
    model, version = assessment.model, assessment.version
    stored = {i.kind: i for i in deps.registry.list_incidents(model)}
    states: dict[str, str] = {}
    notes: dict[str, str] = {}
    for finding in findings(assessment, min_rows):
        incident = stored.get(finding.kind)
        state = next_announcement(incident, finding, now, repeat_hours)
        if state is None:
            if finding.present and incident is not None and incident.is_open:
                states[finding.kind.value] = "ongoing"
                notes[finding.kind.value] = still_open_sentence(incident, repeat_hours, now)
            continue
        changed = (
            opened(model, version, finding, now, reports[0])
            if incident is None
            else incident.announced(state, version, now, finding, reports[0])
        )
        event = _event(changed, state, now)
        if not deps.registry.record_incident(changed, incident.revision if incident else None, event):
            logger.info(
                "another check announced this incident first",
                extra={"model": model, "kind": finding.kind.value, "state": state.value},
            )
            continue
        try:
            _announce(deps, changed, assessment, reports, now)
        except SluiceError:
            _release(deps, incident, changed, now)
            raise
        states[finding.kind.value] = state.value
    return IncidentsOfCheck(states=states, notes=notes)


def _release(deps: CoreDeps, before: Incident | None, claimed: Incident, now: datetime) -> None:
    """Give back an announcement that could not be published, so the next check (the invocation's
    retry) announces it again: the incident as it was before (an opening: resolved), one revision on.
    Best effort: the publish's error is what the check raises."""
    was = before or claimed.model_copy(
        update={"state": IncidentState.RESOLVED, "resolved_at": now.isoformat(timespec="seconds")}
    )
    try:
        deps.registry.record_incident(
            was.model_copy(update={"revision": claimed.revision + 1}), claimed.revision
        )
    except SluiceError:
        logger.exception("an unannounced incident could not be given back", extra={"model": claimed.model})


def _event(incident: Incident, state: IncidentState, now: datetime) -> AuditEvent | None:
    """The audit event of an opening or a resolution (a repeat is not a decision: none)."""
    if state is IncidentState.REPEAT:
        return None
    return AuditEvent(
        model=incident.model,
        type=EventType.INCIDENT_OPENED if state is IncidentState.OPEN else EventType.INCIDENT_RESOLVED,
        id=new_event_id(),
        time=now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        version=incident.version,
        reason=incident.summary or None,
        details={"kind": incident.kind.value, "severity": incident.severity, "opened_at": incident.opened_at},
    )


def _announce(
    deps: CoreDeps, incident: Incident, assessment: DriftAssessment, reports: tuple[str, str], now: datetime
) -> None:
    message: dict[str, Any] = {
        "event": f"incident_{incident.state.value}",
        "model": incident.model,
        "version": assessment.version,
        "kind": incident.kind.value,
        "severity": incident.severity,
        "state": incident.state.value,
        "opened_at": incident.opened_at,
        "since": since_words(incident, now),
        "summary": incident.summary,
        "report": reports[0],
        "html": reports[1],
    }
    if incident.kind is IncidentKind.DRIFT and incident.state is not IncidentState.RESOLVED:
        together = assessment.report.multivariate
        message |= {
            "drifted": assessment.drifted_features,
            "multivariate": together.model_dump(mode="json") if together else None,
        }
    deps.notifier.publish(
        subject(incident),
        message,
        {
            "model": incident.model,
            "kind": incident.kind.value,
            "severity": incident.severity,
            "state": incident.state.value,
            "event": message["event"],
        },
    )
