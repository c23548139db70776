"""What DriftFunction does with an event: the drift check of the models in production. The event's
`action` names the task of the MonitoringStateMachine (statemachines/monitoring.asl.json) it runs:

- `list_models`: {} → {"models": [{"model", "version"}], "model_concurrency", "partition_concurrency"};
- `plan_window`: {"model", "version", "now"} → the window split in partitions (WindowPlan: its manifest
  in S3, the summaries prefix);
- `summarize`: one partition, {"model", "version", "window", "keys", "bytes", "window_bytes",
  "summaries_prefix", "index"} → {"summary_uri", "rows"} (PartitionResult), the summary written to S3;
- `check_summaries`: {"model", "version", "window", "summaries_prefix", "now"} → the model's check from
  the merged summaries (ModelCheck, without the parts only its report holds: IN_REPORT_ONLY), its
  metrics emitted;
- `check_model`: {"model", "version", "now"} → the same check in one pass over the window;
- `report_error`: {"model", "version", "now", "error": {"Error", "Cause"}} → the model's check with
  status "error" (DriftCheckErrors);
- `publish_dashboard`: {} → {"dashboard", "models"}, the registry's dashboard regenerated (its models named).

A failure raises: the state machine retries what is transient and reports the rest as the model's error.
No `action` (an EventBridge "Scheduled Event" sent to the function itself, `sluice invoke`): every
model checked in turn in this invocation, {"checked": [ModelCheck]}.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sluice.app.monitoring.act import ModelCheck
from sluice.app.monitoring.check import check_model, check_production_models, production_models
from sluice.app.monitoring.window_split import (
    PartitionRequest,
    WindowSpan,
    check_from_summaries,
    plan_window,
    summarize_partition,
)
from sluice.app.registry.dashboard import INDEX_JSON, publish_dashboard
from sluice.entrypoints.outcomes import report_drift_check
from sluice.observability import logger

if TYPE_CHECKING:
    from sluice.entrypoints.wiring import DriftFunction

# What the state machine leaves out of a check: its 256 KB payload holds every model's, and the report
# in S3 holds these parts in full (each model's check is then under 1 KB: over 250 models an execution).
IN_REPORT_ONLY = {"prediction_drift", "estimated", "multivariate"}


def run_monitoring_task(event: dict[str, Any], function: DriftFunction) -> dict[str, Any]:
    """The task the event's `action` names (above), run with the function's deps and limits: its answer."""
    action = event.get("action")
    deps, limits = function.deps, function.limits
    if action is None:
        checks = check_production_models(deps, limits, report=report_drift_check)
        return {"checked": [c.model_dump(mode="json") for c in checks]}
    if action == "list_models":
        return {
            "models": [{"model": m, "version": v} for m, v in production_models(deps)],
            "model_concurrency": limits.model_concurrency,
            "partition_concurrency": limits.partition_concurrency,
        }
    if action == "plan_window":
        return plan_window(deps, limits, event["model"], int(event["version"]), _moment(event)).model_dump(
            mode="json"
        )
    if action == "summarize":
        return summarize_partition(deps, limits, PartitionRequest.model_validate(event)).model_dump(
            mode="json"
        )
    if action == "check_summaries":
        window = WindowSpan.model_validate(event["window"])
        model, version, prefix = event["model"], int(event["version"]), event["summaries_prefix"]
        check = check_from_summaries(deps, limits, model, version, window, prefix, _moment(event))
    elif action == "check_model":
        check = check_model(deps, limits, event["model"], int(event["version"]), _moment(event))
    elif action == "report_error":
        check = ModelCheck.failed(event["model"], int(event["version"]), _error_message(event["error"]))
        logger.error("drift check failed", extra=check.model_dump(mode="json", include={"model", "error"}))
    elif action == "publish_dashboard":
        dashboard = publish_dashboard(deps)
        return {"dashboard": deps.artifacts.uri(INDEX_JSON), "models": [m.model for m in dashboard.models]}
    else:
        raise ValueError(f"unknown action {action!r}")
    report_drift_check(check)
    return check.model_dump(mode="json", exclude=IN_REPORT_ONLY)


def _moment(event: dict[str, Any]) -> datetime:
    """The end of the window: the execution's start (`now`, ISO 8601), else this moment."""
    now = event.get("now")
    return datetime.fromisoformat(now) if now else datetime.now(UTC)


def _error_message(error: Any) -> str:
    """What a Catch caught, in words: the Lambda error's message (its Cause is the error as JSON), else
    the error's name."""
    if not isinstance(error, dict):
        return str(error)
    cause = error.get("Cause")
    try:
        message = json.loads(cause).get("errorMessage") if cause else None
    except (ValueError, AttributeError):
        message = cause
    return f"{error.get('Error', 'Error')}: {message}" if message else str(error.get("Error", error))
