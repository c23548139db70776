"""The registry dashboard, built from the registry and the artifact bucket and stored beside them as
`dashboard/index.json` (every model's section: the data, for machines) and `dashboard/index.html` (the
page). A decision or a drift check rebuilds only its model's section: it reads the stored index, reuses
what the model's previous section already read (its spec's metric, the fairness of old versions, old
drift checks), and writes the index back, so a regeneration costs a handful of requests whatever the
number of models (the stored index is read once, not one object per model).

Regenerations for different models run at the same time (two executions deciding at once): the index
is written with S3's conditional writes, so one that lost the race merges its section into the index
the other wrote and tries again, and the page is rendered again whenever a newer index landed while
it was being written. `sluice dashboard` always builds afresh."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from pydantic import ValidationError

from sluice.app.ports import Artifacts, CoreDeps
from sluice.app.registry.catalog import primary_metric
from sluice.domain.registry.dashboard import (
    MAX_DRIFT_CHECKS,
    MAX_VERSIONS,
    Dashboard,
    DriftPoint,
    Fairness,
    ModelSection,
    RolloutView,
    assemble,
    audit_rows,
    drift_at,
    drift_point,
    last_training,
    open_incidents,
    version_row,
    with_reasons,
)
from sluice.domain.registry.records import ModelVersion, utc_now
from sluice.domain.reports.dashboard_html import render_dashboard
from sluice.errors import ArtifactNotFound, SluiceError, StackError

logger = logging.getLogger(__name__)

INDEX_HTML = "dashboard/index.html"
INDEX_JSON = "dashboard/index.json"
MAX_WRITES = 5  # conditional writes of the index before a regeneration gives up (DashboardFailures)
BUILDERS = 8  # model sections built concurrently when every model is rebuilt


def served_link(key: str) -> str:
    """Where the stored page links an artifact: relative to `GET /dashboard`, through
    `GET /dashboard/{key+}` (which serves only the keys the dashboard links)."""
    return f"dashboard/{key}"


def build_section(deps: CoreDeps, model: str, previous: ModelSection | None = None) -> ModelSection:
    """One model's section from the registry (alias, versions, audit events, open incidents) and the
    artifact bucket
    (its spec's primary metric, its newest MAX_VERSIONS versions' fairness, its newest
    MAX_DRIFT_CHECKS drift documents). What `previous` already holds (fairness of a version, a drift
    check) is reused, not read again."""
    registry, artifacts = deps.registry, deps.artifacts
    alias = registry.get_alias(model)
    versions = sorted(registry.list_versions(model), key=lambda v: v.version, reverse=True)[:MAX_VERSIONS]
    events = registry.list_events(model)
    production = next((v for v in versions if alias and v.version == alias.version), None)
    spec_sha = (production.spec_sha256 if production else None) or next(
        (v.spec_sha256 for v in versions if v.spec_sha256), None
    )
    if previous is not None and previous.spec_sha256 == spec_sha:
        metric = previous.metric  # a stored spec never changes: its metric is read once
    else:
        metric = primary_metric(artifacts, model, spec_sha)
    known_fairness = {v.version: v.fairness for v in (previous.versions if previous else [])}
    rows = with_reasons(
        [
            version_row(
                v,
                metric,
                known_fairness[v.version] if v.version in known_fairness else _fairness(artifacts, v),
            )
            for v in versions
        ],
        events,
    )
    rollout = alias.rollout if alias else None
    return ModelSection(
        model=model,
        built_at=utc_now(),
        metric=metric,
        spec_sha256=spec_sha,
        production_version=alias.version if alias else None,
        rollout=RolloutView(
            mode=rollout.mode,
            version=rollout.version,
            weight=rollout.weight,
            status=rollout.status.value,
            reason=rollout.reason,
        )
        if rollout
        else None,
        versions=rows,
        last_training=last_training(rows),
        drift=_drift_points(artifacts, model, metric, previous.drift if previous else []),
        events=audit_rows(events),
        incidents=open_incidents(registry.list_incidents(model)),
    )


def _fairness(artifacts: Artifacts, version: ModelVersion) -> Fairness | None:
    stored = version.artifacts.get("evaluation")
    if stored is None:
        return None
    try:
        found = json.loads(artifacts.get_verified(stored)).get("fairness")
        return Fairness.model_validate(found) if found else None
    except (SluiceError, ValueError, ValidationError, AttributeError):
        return None  # an unreadable evaluation shows no fairness rather than no dashboard


def _drift_points(
    artifacts: Artifacts, model: str, metric: str | None, known: list[DriftPoint]
) -> list[DriftPoint]:
    keys = sorted(k for k in artifacts.list_keys(f"drift/{model}/") if k.endswith(".json"))[
        -MAX_DRIFT_CHECKS:
    ]
    reused = {p.at: p for p in known}
    points = []
    for key in keys:
        at = drift_at(key)
        if at in reused:
            points.append(reused[at])
            continue
        try:
            document = json.loads(artifacts.get_bytes(artifacts.uri(key)))
        except (SluiceError, ValueError):
            continue
        if isinstance(document, dict):
            points.append(drift_point(document, at, key.removesuffix(".json") + ".html", metric))
    return points


def stored_dashboard(artifacts: Artifacts) -> Dashboard | None:
    """The stored index (None before the first regeneration, or when it cannot be read)."""
    return _stored_with_etag(artifacts)[0]


def _stored_with_etag(artifacts: Artifacts) -> tuple[Dashboard | None, str | None]:
    """The stored index and the ETag a conditional write names it by (None, None before the first)."""
    try:
        data, etag = artifacts.get_with_etag(INDEX_JSON)
    except ArtifactNotFound:
        return None, None
    try:
        return Dashboard.model_validate_json(data), etag
    except ValidationError:
        return None, etag  # unreadable (an older shape): rebuilt over, still conditionally


def _build_sections(
    deps: CoreDeps, names: list[str], known: dict[str, ModelSection]
) -> dict[str, ModelSection]:
    if len(names) == 1:
        return {names[0]: build_section(deps, names[0], known.get(names[0]))}
    with ThreadPoolExecutor(max_workers=BUILDERS) as pool:
        built = list(pool.map(lambda name: build_section(deps, name, known.get(name)), names))
    return {section.model: section for section in built}


def _model_names(deps: CoreDeps) -> list[str]:
    return [m.model for m in deps.registry.list_models()]


def _sections(dashboard: Dashboard | None) -> dict[str, ModelSection]:
    return {s.model: s for s in dashboard.models} if dashboard else {}


def build_dashboard(deps: CoreDeps, models: Iterable[str] | None = None) -> Dashboard:
    """The dashboard built from the registry: every model (or the ones named), each section rebuilt,
    reusing what the stored index already read (drift checks, fairness); nothing is written."""
    names = list(models) if models is not None else _model_names(deps)
    sections = _build_sections(deps, names, _sections(stored_dashboard(deps.artifacts)))
    return assemble(sections.values(), utc_now())


def publish_dashboard(deps: CoreDeps, model: str | None = None) -> Dashboard:
    """Rebuild `model`'s section (every model's when None) and store the index (JSON and HTML, links
    through `served_link`) with the other models' sections as stored. A regeneration that finds the
    index rewritten since it read it merges its section into the newer one and writes again; raises
    StackError after MAX_WRITES lost races."""
    artifacts = deps.artifacts
    stored, etag = _stored_with_etag(artifacts)
    rebuilt = _build_sections(deps, [model] if model else _model_names(deps), _sections(stored))
    for _ in range(MAX_WRITES):
        dashboard = assemble((_sections(stored) | rebuilt).values(), utc_now())
        written = artifacts.put_json_if_unchanged(INDEX_JSON, dashboard.model_dump(mode="json"), etag)
        if written is not None:
            _store_page(artifacts, dashboard, written)
            return dashboard
        stored, etag = _stored_with_etag(artifacts)  # another regeneration wrote first: build on its index
    raise StackError(
        f"the dashboard index changed under {MAX_WRITES} writes in a row", code="ConcurrentUpdates"
    )


def _store_page(artifacts: Artifacts, dashboard: Dashboard, written: str) -> None:
    """Write the page of the index written as `written`; when a newer index landed meanwhile, its own
    writer may have rendered it before this page overwrote it, so render the newer one again."""
    for _ in range(MAX_WRITES):
        artifacts.put_bytes(INDEX_HTML, render_dashboard(dashboard, served_link).encode(), "text/html")
        if artifacts.etag(INDEX_JSON) == written:  # a HEAD: the index is read again only when it changed
            return
        newest, etag = _stored_with_etag(artifacts)
        if newest is None or etag is None:
            return
        dashboard, written = newest, etag


def refresh_dashboard(deps: CoreDeps, model: str) -> float | None:
    """Regenerate the dashboard after `model` changed; never raises (a dashboard must not fail the
    decision that changed it): a failure is logged and counted (`deps.outcomes`: DashboardFailures). Returns the
    milliseconds it took, None when it failed."""
    started = time.perf_counter()
    try:
        publish_dashboard(deps, model)
    except Exception:  # whatever broke, the decision stands
        logger.exception("dashboard not regenerated", extra={"model": model})
        deps.outcomes.dashboard_failure()
        return None
    elapsed = (time.perf_counter() - started) * 1000
    logger.info("dashboard regenerated", extra={"model": model, "ms": round(elapsed, 1)})
    return elapsed


def linked_page(artifacts: Artifacts, key: str) -> bytes:
    """The bytes of a page the stored dashboard links (a card, a drift report). Raises
    ArtifactNotFound for any other key, and when there is no dashboard yet."""
    dashboard = stored_dashboard(artifacts)
    if dashboard is None or key not in dashboard.linked_keys():
        raise ArtifactNotFound(f"{key!r} is not a page the dashboard links")
    return artifacts.get_bytes(artifacts.uri(key))


def index_page(artifacts: Artifacts) -> bytes:
    """The stored dashboard page (ArtifactNotFound before the first regeneration)."""
    return artifacts.get_bytes(artifacts.uri(INDEX_HTML))
