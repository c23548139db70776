"""Reading and steering the registry: what `sluice models` and `GET /models` show, and the
manual promote and rollback, which go through the same conditional write and audit trail as the
state machine."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, Field

from sluice.app.ports import Artifacts, Registry
from sluice.domain.registry.incidents import incident_words
from sluice.domain.registry.records import (
    Alias,
    AuditEvent,
    EventType,
    ModelVersion,
    Principal,
    Trigger,
    VersionStatus,
    new_event_id,
)
from sluice.domain.rollout.live import tallies
from sluice.errors import ModelNotFound, SluiceError

PROMOTABLE = {VersionStatus.CANDIDATE, VersionStatus.ARCHIVED}


class ModelSummary(BaseModel):
    model: str
    production_version: int | None
    latest_version: int | None
    versions: int
    current_spec_sha256: str | None = None
    metric: str | None = None  # the primary metric of the production version's spec
    metrics: dict[str, float | None] = Field(default_factory=dict)  # production's, primary first


class ModelDetail(BaseModel):
    model: str
    production: dict[str, Any] | None
    versions: list[dict[str, Any]]
    events: list[dict[str, Any]]
    metric: str | None = None  # the current spec's primary metric
    # The version a staged rollout holds, if any: {"mode", "version", "status"} (manual: pending_approval).
    rollout: dict[str, Any] | None = None
    # The model's open incidents (drift, live metric, data quality), oldest first, each with its words.
    incidents: list[dict[str, Any]] = Field(default_factory=list)


def primary_metric(artifacts: Artifacts, model: str, spec_sha256: str | None) -> str | None:
    """The `metric` of a stored spec (read as YAML, not re-validated: a spec registered under older
    rules still names its metric), or None when it cannot be read."""
    if not spec_sha256:
        return None
    try:
        document = yaml.safe_load(artifacts.get_bytes(artifacts.uri(f"specs/{model}/{spec_sha256}.yaml")))
    except (SluiceError, yaml.YAMLError):
        return None
    metric = document.get("metric") if isinstance(document, dict) else None
    return str(metric) if metric else None


def ordered_metrics(metrics: dict[str, float | None], primary: str | None) -> dict[str, float | None]:
    """The primary metric first, then the others by name."""
    first = {primary: metrics[primary]} if primary in metrics else {}
    return first | {k: metrics[k] for k in sorted(metrics) if k != primary}


def list_models(registry: Registry, artifacts: Artifacts | None = None) -> list[ModelSummary]:
    """Every model with its production version; with `artifacts`, also production's metrics, the
    spec's primary metric first."""
    summaries = []
    for meta in registry.list_models():
        name = meta.model
        alias = registry.get_alias(name)
        metric: str | None = None
        metrics: dict[str, float | None] = {}
        if artifacts is not None and alias is not None:
            production = registry.get_version(name, alias.version)
            metric = primary_metric(artifacts, name, production.spec_sha256)
            metrics = ordered_metrics(dict(production.metrics), metric)
        summaries.append(
            ModelSummary(
                model=name,
                production_version=alias.version if alias else None,
                latest_version=meta.version_counter or None,
                versions=meta.version_counter,
                current_spec_sha256=meta.current_spec_sha256,
                metric=metric,
                metrics=metrics,
            )
        )
    return summaries


def _version_view(version: ModelVersion) -> dict[str, Any]:
    return version.model_dump(mode="json", exclude={"approval_token"})


def _rollout_view(
    registry: Registry, alias: Alias | None, versions: list[ModelVersion]
) -> dict[str, Any] | None:
    """The running live rollout (or the last one, with how it ended), else a version waiting for
    approval: `{mode, version, status, [weight, requests, errors, production_version, started_at,
    deadline, reason]}`."""
    live = alias.rollout if alias else None
    if alias is not None and live is not None:
        candidate, _ = tallies(registry.rollout_counts(alias.model, live.version))
        return {
            "mode": live.mode,
            "version": live.version,
            "weight": live.weight,
            "requests": candidate.requests,
            "errors": candidate.errors,
            "status": live.status.value,
            "production_version": live.production_version,
            "started_at": live.started_at,
            "deadline": live.deadline,
            "reason": live.reason,
        }
    pending = [v for v in versions if v.status is VersionStatus.PENDING_APPROVAL]
    if not pending:
        return None
    newest = max(pending, key=lambda v: v.version)
    return {"mode": "manual", "version": newest.version, "status": newest.status.value}


def show_model(registry: Registry, model: str, artifacts: Artifacts | None = None) -> ModelDetail:
    """One model as an operator sees it: the production version (with when it became production), its
    open incidents, every version, the audit trail, the version a manual rollout holds (`rollout`), and with `artifacts` the
    current spec's primary metric. Raises
    ModelNotFound for a model the registry does not know."""
    meta = registry.model_meta(model)
    if meta is None:
        raise ModelNotFound(f"no model named {model!r} in the registry")
    metric = primary_metric(artifacts, model, meta.current_spec_sha256) if artifacts else None
    versions = registry.list_versions(model)
    alias = registry.get_alias(model)
    production = next((v for v in versions if alias and v.version == alias.version), None)
    return ModelDetail(
        model=model,
        production=_version_view(production) | {"since": alias.updated_at} if production and alias else None,
        versions=[_version_view(v) for v in versions],
        events=[e.model_dump(mode="json") for e in registry.list_events(model)],
        metric=metric,
        rollout=_rollout_view(registry, alias, versions),
        incidents=[
            i.model_dump(mode="json") | {"words": incident_words(i)}
            for i in sorted(registry.list_incidents(model), key=lambda i: i.opened_at)
            if i.is_open
        ],
    )


def _verified(artifacts: Artifacts, version: ModelVersion) -> None:
    model = version.artifacts.get("model")
    if model is None:
        raise SluiceError(f"{version.model} version {version.version} has no model artifact; it cannot serve")
    artifacts.get_verified(model)


def promote_version(
    registry: Registry,
    artifacts: Artifacts,
    model: str,
    version: int,
    *,
    by: Principal,
    reason: str | None = None,
    note: str | None = None,
    event_type: EventType = EventType.PROMOTED,
) -> AuditEvent:
    """Put `version` in production after checking its model file against the recorded sha256, with an
    audit event of `event_type` by `by` (the principal STS answered for the caller) with their `note`.
    Raises SluiceError for the version already in production or one that is
    not candidate or archived, ArtifactCorrupt/ArtifactNotFound for a model file that fails the check,
    and PromotionConflict when production moved meanwhile."""
    target = registry.get_version(model, version)
    alias = registry.get_alias(model)
    current = alias.version if alias else None
    if current == version:
        raise SluiceError(f"{model} version {version} is already in production")
    if target.status not in PROMOTABLE:
        raise SluiceError(
            f"{model} version {version} is {target.status.value}; only candidate or archived versions "
            "can be promoted"
        )
    _verified(artifacts, target)
    event = AuditEvent(
        model=model,
        type=event_type,
        id=new_event_id(),
        from_version=current,
        to_version=version,
        version=version,
        reason=reason or ("manual promotion" if event_type is EventType.PROMOTED else "rollback"),
        trigger=Trigger.MANUAL,
        by=by.arn,
        by_email=by.email,
        note=note,
    )
    registry.promote(target, expected=current, event=event)
    return event


def rollback_target(registry: Registry, model: str) -> int:
    """The version production had before the current one: the newest archived version below it."""
    alias = registry.get_alias(model)
    if alias is None:
        raise ModelNotFound(f"{model} has no production version to roll back from")
    earlier = [
        v.version
        for v in registry.list_versions(model)
        if v.status is VersionStatus.ARCHIVED and v.version < alias.version
    ]
    if not earlier:
        raise SluiceError(f"{model} has no earlier production version than {alias.version}")
    return max(earlier)


def rollback(
    registry: Registry,
    artifacts: Artifacts,
    model: str,
    *,
    by: Principal,
    reason: str | None = None,
    note: str | None = None,
) -> AuditEvent:
    """Put the previous production version (`rollback_target`) back in production, audited as
    `rolled_back` by `by` with their `note`."""
    target = rollback_target(registry, model)
    return promote_version(
        registry,
        artifacts,
        model,
        target,
        by=by,
        reason=reason or "rollback",
        note=note,
        event_type=EventType.ROLLED_BACK,
    )
