"""Quarantine: data that failed its checks is kept under quarantine/ in the artifact bucket with a
report beside it, recorded as an audit event and announced — an upload (app/ingest.py) and labelled
traffic (app/labelled_traffic.py) alike."""

from __future__ import annotations

from typing import Any

from sluice.app.ports import Services
from sluice.domain.records import AuditEvent, EventType, new_event_id, utc_now
from sluice.observability import logger


def record_quarantine(
    services: Services,
    model: str,
    source: str,
    target: str,
    report: dict[str, Any],
    event_type: EventType,
    what: str = "upload",
) -> str:
    """The report of data already copied to the quarantine key `target`: written beside it as
    `<target>.report.json`, recorded as an audit event of `event_type` and announced (the subject names
    `what` was quarantined). Returns the report's URI."""
    report_artifact = services.artifacts.put_json(target + ".report.json", report | {"time": utc_now()})
    services.registry.append_event(
        AuditEvent(
            model=model,
            type=event_type,
            id=new_event_id(),
            reason=str(report.get("message")),
            details={"source": source, "report_uri": report_artifact.uri, "reason": report.get("reason")},
        )
    )
    services.notifier.publish(
        f"Sluice: {model} {what} quarantined ({report.get('reason')})",
        {
            "event": event_type.value,
            "model": model,
            "source": source,
            "report_uri": report_artifact.uri,
            "reason": report.get("reason"),
            "message": report.get("message"),
        },
    )
    logger.warning(f"{what} quarantined", extra={"source": source, "reason": report.get("reason")})
    return report_artifact.uri
