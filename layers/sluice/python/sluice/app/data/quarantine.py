"""Quarantine: data that failed its checks is kept under quarantine/ in the artifact bucket with a
report beside it, recorded as an audit event and announced — an upload (app/ingest/upload.py) and labelled
traffic (app/data/labelled_traffic.py) alike."""

from __future__ import annotations

import logging
from typing import Any

from sluice.app.ports import CoreDeps
from sluice.domain.registry.records import AuditEvent, EventType, new_event_id, sha256_hex, utc_now

logger = logging.getLogger(__name__)


def record_quarantine(
    deps: CoreDeps,
    model: str,
    source: str,
    target: str,
    report: dict[str, Any],
    event_type: EventType,
    what: str = "upload",
    once: str | None = None,
) -> str:
    """The report of data already copied to the quarantine key `target`: written beside it as
    `<target>.report.json`, recorded as an audit event of `event_type` and announced (the subject names
    `what` was quarantined). With `once` (what names this data: an object version), recorded and
    announced once for it however often it is quarantined (an invocation run again after a fault).
    Returns the report's URI."""
    report_artifact = deps.artifacts.put_json(target + ".report.json", report | {"time": utc_now()})
    event = AuditEvent(
        model=model,
        type=event_type,
        id=new_event_id(),
        reason=str(report.get("message")),
        details={"source": source, "report_uri": report_artifact.uri, "reason": report.get("reason")},
    )
    if once is None:
        deps.registry.append_event(event)
    elif not deps.registry.record_once(f"QUARANTINED#{sha256_hex(once.encode())}", event):
        logger.info(f"{what} quarantined before", extra={"source": source})
        return report_artifact.uri
    deps.notifier.publish(
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
