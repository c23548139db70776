"""A console user's actions on a model: approve or reject a version, roll back, retrain. Each calls the
use case the CLI calls, recorded as the user (their Cognito id and email), then regenerates the
dashboard (which never fails the action)."""

from __future__ import annotations

from typing import Any

from sluice.app.console.access import require_actor
from sluice.app.console.ports import ConsoleDeps
from sluice.app.registry import catalog
from sluice.app.registry.dashboard import refresh_dashboard
from sluice.app.rollout import plan
from sluice.app.training.start import start_manual_run
from sluice.domain.registry.identity import ConsoleUser
from sluice.errors import ModelNotFound


def approve(
    deps: ConsoleDeps, user: ConsoleUser, model: str, version: int, reason: str | None
) -> dict[str, Any]:
    """Let a version waiting for approval go on to production; the audit event."""
    require_actor(user, "Approving")
    event = plan.approve(deps, model, version, by=user.principal, reason=reason)
    refresh_dashboard(deps, model)
    return event.model_dump(mode="json")


def reject(deps: ConsoleDeps, user: ConsoleUser, model: str, version: int, reason: str) -> dict[str, Any]:
    """Reject a version waiting for approval (or stop its shadow or canary rollout); the audit event."""
    require_actor(user, "Rejecting")
    event = plan.refuse(deps, model, version, by=user.principal, reason=reason)
    refresh_dashboard(deps, model)
    return event.model_dump(mode="json")


def rollback(deps: ConsoleDeps, user: ConsoleUser, model: str, reason: str | None) -> dict[str, Any]:
    """Put the previous production version back; the audit event."""
    require_actor(user, "Rolling back")
    event = catalog.rollback(deps.registry, deps.artifacts, model, by=user.principal, reason=reason)
    refresh_dashboard(deps, model)
    return event.model_dump(mode="json")


def retrain(deps: ConsoleDeps, user: ConsoleUser, model: str) -> dict[str, Any]:
    """Start a manual run on the latest accepted dataset; its execution."""
    require_actor(user, "Retraining")
    if deps.registry.model_meta(model) is None:
        raise ModelNotFound(f"no model named {model!r}")
    started = start_manual_run(model, deps, by=user.principal)
    return {"execution": started.arn}
