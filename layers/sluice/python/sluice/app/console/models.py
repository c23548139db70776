"""The console's models: the list (each model's production version, rollout, last drift check, live
metric, what needs attention, those first) and a model's page (versions, the run in progress as steps,
the production version's card, the decision waiting (a pending version's facts beside production's), drift and data quality in words, the audit trail, what the user may do now)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml

from sluice.app.console.access import require_reader
from sluice.app.console.ports import ConsoleDeps
from sluice.app.data.stored import REPORT_TIME, spec_key
from sluice.app.registry.catalog import rollback_target
from sluice.app.registry.dashboard import build_section, stored_dashboard
from sluice.domain.registry.dashboard import DriftPoint, ModelSection
from sluice.domain.registry.identity import ConsoleUser
from sluice.domain.registry.records import AuditEvent, EventType, ModelVersion, VersionStatus
from sluice.domain.registry.run_steps import entered_states, rollout_step, run_steps
from sluice.errors import ModelNotFound, SluiceError

MAX_AUDIT = 50  # audit events a model's page lists, newest first
LIVE = (VersionStatus.SHADOW, VersionStatus.CANARY)
WAITING = (VersionStatus.PENDING_APPROVAL, *LIVE)  # a decision's, not the card's


def _checked_at(point: DriftPoint) -> str:
    try:
        return datetime.strptime(point.at, REPORT_TIME).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return point.at


def _gates(deps: ConsoleDeps, model: str, spec_sha256: str | None) -> dict[str, Any]:
    """The spec's gates (read as YAML, not re-validated), {} when unreadable."""
    if not spec_sha256:
        return {}
    try:
        document = yaml.safe_load(deps.artifacts.get_bytes(deps.artifacts.uri(spec_key(model, spec_sha256))))
    except (SluiceError, yaml.YAMLError):
        return {}
    gates = document.get("gates") if isinstance(document, dict) else None
    return gates if isinstance(gates, dict) else {}


def _live_metric(section: ModelSection, gates: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The last check's live metric with its gate, and a sentence when it is on the wrong side of it."""
    point = section.last_drift
    if point is None or point.live_metric is None or not section.metric:
        return None, None
    low, high = gates.get("min_metric"), gates.get("max_metric")
    gate = low if isinstance(low, int | float) else high if isinstance(high, int | float) else None
    live = {"name": section.metric, "value": point.live_metric, "gate": gate}
    if isinstance(low, int | float) and point.live_metric < low:
        return live, f"The live {section.metric} {point.live_metric:.3g} is under its gate of {low:g}."
    if isinstance(high, int | float) and not isinstance(low, int | float) and point.live_metric > high:
        return live, f"The live {section.metric} {point.live_metric:.3g} is over its limit of {high:g}."
    return live, None


def _rollout(section: ModelSection) -> dict[str, Any] | None:
    if section.rollout is not None:
        return {
            "state": section.rollout.status,
            "version": section.rollout.version,
            "percent": round(section.rollout.weight * 100),
        }
    pending = [v.version for v in section.versions if v.status == VersionStatus.PENDING_APPROVAL.value]
    return {"state": "waiting for approval", "version": max(pending), "percent": 0} if pending else None


def model_summary(deps: ConsoleDeps, section: ModelSection) -> dict[str, Any]:
    """One model of the list, from its dashboard section."""
    attention = [f"Open incident: {i.words[0].upper()}{i.words[1:]}." for i in section.incidents]
    attention += [
        f"Version {v.version} is waiting for approval."
        for v in sorted(section.versions, key=lambda v: v.version)
        if v.status == VersionStatus.PENDING_APPROVAL.value
    ]
    point = section.last_drift
    if point is not None and point.dataset_drift:
        attention.append(f"Drift in the last check: {point.headline}")
    if point is not None and point.quality_violations:
        attention.append(f"The last check found {point.quality_violations} data-quality problem(s).")
    live, under = _live_metric(section, _gates(deps, section.model, section.spec_sha256))
    if under:
        attention.append(under)
    return {
        "name": section.model,
        "production_version": section.production_version,
        "rollout": _rollout(section),
        "drift": point.headline if point else None,
        "checked_at": _checked_at(point) if point else None,
        "live_metric": live,
        "attention": attention,
    }


def list_models(deps: ConsoleDeps, user: ConsoleUser) -> dict[str, Any]:
    """{"models": [...]}: those needing attention first, then by name."""
    require_reader(user)
    stored = stored_dashboard(deps.artifacts)
    known = {s.model: s for s in stored.models} if stored else {}
    models = [
        model_summary(deps, build_section(deps, meta.model, known.get(meta.model)))
        for meta in deps.registry.list_models()
    ]
    return {"models": sorted(models, key=lambda m: (not m["attention"], m["name"]))}


def _newest_run(events: list[AuditEvent]) -> str | None:
    started = [e for e in events if e.type is EventType.TRAINING_STARTED and e.execution_arn]
    return max(started, key=lambda e: e.time).execution_arn if started else None


def _run(
    deps: ConsoleDeps, model: str, events: list[AuditEvent], versions: list[ModelVersion]
) -> dict[str, Any] | None:
    arn = _newest_run(events)
    if arn is None:
        return None
    try:
        execution = deps.runs.describe(arn)
        history = deps.runs.history(arn)
    except SluiceError:
        return None
    version = next((v for v in versions if v.execution_arn == arn), None)
    alias = deps.registry.get_alias(model)
    live = (
        alias.rollout
        if alias and alias.rollout and version and alias.rollout.version == version.version
        else None
    )
    steps = run_steps(
        entered_states(history),
        str(execution.get("status")),
        rollout=rollout_step(live.mode if live else None, live.weight if live else None),
        reason=version.reason if version else None,
    )
    started = execution.get("startDate")
    return {
        "execution": arn,
        "status": str(execution.get("status")),
        "started_at": started.isoformat() if isinstance(started, datetime) else str(started),
        "steps": [{"name": s.name, "state": s.state, "detail": s.detail} for s in steps],
    }


def _stored_card(deps: ConsoleDeps, version: ModelVersion) -> dict[str, Any] | None:
    stored = version.artifacts.get("card")
    if stored is None:
        return None
    try:
        card = json.loads(deps.artifacts.get_verified(stored))
    except (SluiceError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def _sentences(card: dict[str, Any], parts: tuple[str, ...]) -> list[str]:
    summary = card.get("summary")
    if not isinstance(summary, dict):
        return []
    return [str(summary[p]) for p in parts if summary.get(p)]


STATUS_WORDS = {
    VersionStatus.PRODUCTION: "Version {v} is in production: it answers prediction requests.",
    VersionStatus.ARCHIVED: "Version {v} is archived: it no longer answers requests.",
}


def _card(deps: ConsoleDeps, version: ModelVersion | None) -> dict[str, Any] | None:
    """The card of `version` (production's, or with none in production the newest settled version):
    its sentences, the last saying what the version is now (the card's own decision sentence, written
    when it was trained, only while it still holds: a rejection)."""
    card = _stored_card(deps, version) if version else None
    if version is None or card is None:
        return None
    now = STATUS_WORDS.get(version.status, "").format(v=version.version)
    sentences = _sentences(card, ("purpose", "quality", "catches", "fairness"))
    sentences += [now] if now else _sentences(card, ("decision",))
    return {
        "version": version.version,
        "status": version.status.value,
        "sentences": sentences,
        "metrics": card.get("metrics") or {},
    }


def _decision(
    deps: ConsoleDeps, waiting: ModelVersion | None, production: ModelVersion | None
) -> dict[str, Any] | None:
    """What a person decides about the version waiting for approval (or tried as a canary or in
    shadow): its card's sentences, its metrics beside production's, and what approving or rejecting does."""
    if waiting is None:
        return None
    card = _stored_card(deps, waiting)
    names = sorted(set(waiting.metrics) | set(production.metrics if production else {}))
    metrics = [
        {
            "name": n,
            "version": waiting.metrics.get(n),
            "production": production.metrics.get(n) if production else None,
        }
        for n in names
    ]
    v, p = waiting.version, production.version if production else None
    if waiting.status is VersionStatus.PENDING_APPROVAL:
        approving = (
            f"Approving puts version {v} in production in place of version {p}; Roll back brings version {p} back."
            if p is not None
            else f"Approving puts version {v} in production: it starts answering prediction requests."
        )
    else:
        approving = f"Version {v} is tried beside production ({waiting.status.value}); it is promoted only if it holds up."
    rejecting = f"Rejecting ends version {v}'s run" + (
        f"; version {p} keeps serving." if p is not None else "."
    )
    return {
        "version": v,
        "status": waiting.status.value,
        "production_version": p,
        "sentences": _sentences(card, ("quality", "catches", "fairness", "decision")) if card else [],
        "metrics": metrics,
        "approving": approving,
        "rejecting": rejecting,
    }


def _can_roll_back(deps: ConsoleDeps, model: str) -> bool:
    try:
        rollback_target(deps.registry, model)
    except SluiceError:
        return False
    return True


def model_page(deps: ConsoleDeps, user: ConsoleUser, model: str) -> dict[str, Any]:
    """Everything a model's page shows. Raises ModelNotFound for a model the registry does not know."""
    require_reader(user)
    if deps.registry.model_meta(model) is None:
        raise ModelNotFound(f"no model named {model!r}")
    versions = sorted(deps.registry.list_versions(model), key=lambda v: v.version, reverse=True)
    events = sorted(deps.registry.list_events(model), key=lambda e: e.time, reverse=True)
    stored = stored_dashboard(deps.artifacts)
    section = build_section(
        deps, model, next((s for s in stored.models if s.model == model), None) if stored else None
    )
    pending = next((v for v in versions if v.status is VersionStatus.PENDING_APPROVAL), None)
    live = next((v for v in versions if v.status in LIVE), None)
    production = next((v for v in versions if v.version == section.production_version), None)
    point = section.last_drift
    can = user.can_act
    return {
        "name": model,
        "production_version": section.production_version,
        "versions": [
            {
                "version": v.version,
                "status": v.status.value,
                "metrics": v.metrics,
                "created_at": v.created_at,
                "dataset_sha256": v.dataset_sha256,
                "trigger": v.trigger.value,
            }
            for v in versions
        ],
        "run": _run(deps, model, events, versions),
        "pending_version": pending.version if pending else None,
        "card": _card(deps, production or next((v for v in versions if v.status not in WAITING), None)),
        "decision": _decision(deps, pending or live, production),
        "drift": [s for s in (point.headline, point.next) if s] if point else [],
        "data_quality": list(point.quality_summary) if point else [],
        "audit": [
            {
                "time": e.time,
                "type": e.type.value,
                "version": e.version if e.version is not None else e.to_version,
                "by": e.by,
                "by_email": e.by_email,
                "reason": e.reason,
            }
            for e in events[:MAX_AUDIT]
        ],
        "actions": {
            "approve": pending.version if can and pending else None,
            "reject": (pending or live).version if can and (pending or live) else None,  # type: ignore[union-attr]
            "rollback": can and _can_roll_back(deps, model),
            "retrain": can and bool(deps.registry.list_datasets(model)),
        },
    }
