"""The registry dashboard's data: one section per model (production version, rollout, versions with
their metric and fairness, drift checks over time, the audit log), derived from registry records and
the drift checks' stored documents. Pure: the app layer reads the records, this module shapes them, and
`sluice.domain.reports.dashboard_html` draws them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from sluice.domain.registry.incidents import Incident, incident_words
from sluice.domain.registry.records import AuditEvent, EventType, ModelVersion, VersionStatus

MAX_DRIFT_CHECKS = 30  # drift documents per model the dashboard reads and charts
MAX_VERSIONS = 12  # versions per model shown (and whose evaluation is read for fairness)
MAX_EVENTS = 25  # audit events per model, newest first
DECISIONS = frozenset(
    {
        EventType.PROMOTED,
        EventType.REJECTED,
        EventType.FAILED,
        EventType.ROLLED_BACK,
        EventType.APPROVAL_REQUESTED,
        EventType.APPROVED,
        EventType.APPROVAL_REFUSED,
        EventType.ROLLOUT_STARTED,
    }
)


class Fairness(BaseModel):
    """A version's fairness on its holdout (from its evaluation), when its spec names a sensitive column."""

    attribute: str
    demographic_parity_gap: float | None = None
    equal_opportunity_gap: float | None = None


class VersionRow(BaseModel):
    """One version as the dashboard lists it; `card` is the key of its card page, when it has one."""

    version: int
    status: str
    trigger: str
    created_at: str
    metric: float | None = None  # the model's primary metric on the holdout
    reason: str | None = None
    fairness: Fairness | None = None
    card: str | None = None


class RolloutView(BaseModel):
    """The live rollout on the production alias, if any."""

    mode: str
    version: int
    weight: float
    status: str
    reason: str | None = None


class DriftPoint(BaseModel):
    """One drift check, from its stored JSON document; `report` is the key of its HTML page."""

    at: str  # the check's time, as in its key (YYYYMMDDTHHMMSSZ)
    version: int | None = None
    status: str
    dataset_drift: bool
    drift_share: float
    drifted: list[str] = Field(default_factory=list)
    scores: dict[str, float | None] = Field(default_factory=dict)  # per column
    column_drifted: dict[str, bool] = Field(default_factory=dict)
    live_metric: float | None = None
    labelled_rows: int | None = None
    # the spec's metric (else the first) estimated without labels, with its band [low, high]
    estimated_metric: float | None = None
    estimated_band: list[float] | None = None
    headline: str | None = None  # the drift explanation's headline, else a summary of the verdict
    next: str | None = None  # what happens next (the explanation's), when stated
    report: str | None = None
    # the classifier judging the columns together (the document's `multivariate`), when it ran
    multivariate_auc: float | None = None
    multivariate_drift: bool | None = None
    multivariate_threshold: float | None = None
    multivariate_columns: list[str] = Field(default_factory=list)
    reject_rate: float | None = None  # data quality: rejected over all requests in the window
    quality_violations: int | None = None  # data quality: constraints the window violated
    quality_summary: list[str] = Field(default_factory=list)  # data quality, in words


class AuditRow(BaseModel):
    time: str
    type: str
    version: int | None = None
    from_version: int | None = None
    to_version: int | None = None
    reason: str | None = None
    by: str | None = None  # a person's action: their principal ARN (or a console user's Cognito id)
    by_email: str | None = None  # a console user's email
    note: str | None = None  # and their note


class IncidentView(BaseModel):
    """An open incident of a model, as the dashboard lists it (first, before everything else)."""

    kind: str
    severity: str
    version: int
    since: str  # when it opened (ISO-8601 UTC)
    last_announced: str
    announcements: int
    words: str  # the incident in words: what, since when, announced how often and last when


def open_incidents(incidents: Iterable[Incident]) -> list[IncidentView]:
    """The open ones of a model's incidents, oldest first."""
    return [
        IncidentView(
            kind=i.kind.value,
            severity=i.severity,
            version=i.version,
            since=i.opened_at,
            last_announced=i.announced_at,
            announcements=i.announcements,
            words=incident_words(i),
        )
        for i in sorted(incidents, key=lambda i: i.opened_at)
        if i.is_open
    ]


class ModelSection(BaseModel):
    """Everything the dashboard shows for one model."""

    model: str
    built_at: str
    metric: str | None = None  # the primary metric's name
    spec_sha256: str | None = None  # the spec that names it (production's, else the newest version's)
    production_version: int | None = None
    rollout: RolloutView | None = None
    versions: list[VersionRow] = Field(default_factory=list)  # newest first
    last_training: VersionRow | None = None
    drift: list[DriftPoint] = Field(default_factory=list)  # oldest first
    events: list[AuditRow] = Field(default_factory=list)  # newest first
    incidents: list[IncidentView] = Field(default_factory=list)  # open ones, oldest first

    @property
    def last_drift(self) -> DriftPoint | None:
        return self.drift[-1] if self.drift else None

    def linked_keys(self) -> set[str]:
        """The artifact keys the section links to (cards and drift reports)."""
        keys = {v.card for v in self.versions if v.card}
        if self.last_training and self.last_training.card:
            keys.add(self.last_training.card)
        return keys | {point.report for point in self.drift if point.report}


class Dashboard(BaseModel):
    """The whole deployment: one section per model, by name."""

    generated_at: str
    models: list[ModelSection] = Field(default_factory=list)

    def linked_keys(self) -> set[str]:
        """Every artifact key the page links to: the only keys `GET /dashboard/{key}` may serve."""
        return set().union(*(section.linked_keys() for section in self.models))


def card_key(model: str, version: int) -> str:
    return f"models/{model}/{version}/card.html"


def version_row(record: ModelVersion, metric: str | None, fairness: Fairness | None = None) -> VersionRow:
    """The dashboard's row of a version: its primary metric, decision reason, fairness and card link."""
    value = record.metrics.get(metric) if metric else None
    return VersionRow(
        version=record.version,
        status=record.status.value,
        trigger=record.trigger.value,
        created_at=record.created_at,
        metric=value,
        reason=record.reason,
        fairness=fairness,
        card=card_key(record.model, record.version) if "card_html" in record.artifacts else None,
    )


def with_reasons(rows: Iterable[VersionRow], events: Iterable[AuditEvent]) -> list[VersionRow]:
    """The rows, each without a reason of its own given the reason of the newest decision event about
    its version (a promotion records its reason on the event, not on the version)."""
    reasons: dict[int, str] = {}
    for event in sorted(events, key=lambda e: e.time):  # the newest reason wins
        version = event.to_version if event.type is EventType.PROMOTED else event.version
        if event.type in DECISIONS and version is not None and event.reason:
            reasons[version] = event.reason
    return [
        row
        if row.reason or row.version not in reasons
        else row.model_copy(update={"reason": reasons[row.version]})
        for row in rows
    ]


def last_training(rows: Iterable[VersionRow]) -> VersionRow | None:
    """The newest decided version (not still training)."""
    decided = [row for row in rows if row.status != VersionStatus.TRAINING.value]
    return max(decided, key=lambda row: row.version) if decided else None


def audit_rows(events: Iterable[AuditEvent], limit: int = MAX_EVENTS) -> list[AuditRow]:
    """The newest `limit` audit events, newest first."""
    newest = sorted(events, key=lambda e: e.time, reverse=True)[:limit]
    return [
        AuditRow(
            time=e.time,
            type=e.type.value,
            version=e.version,
            from_version=e.from_version,
            to_version=e.to_version,
            reason=e.reason,
            by=e.by,
            by_email=e.by_email,
            note=e.note,
        )
        for e in newest
    ]


def _estimated(document: Mapping[str, Any], metric: str | None) -> dict[str, Any]:
    """The check's estimate of `metric` (else of its first estimated metric) and its band."""
    estimated = document.get("estimated")
    if not isinstance(estimated, dict):
        return {}
    band: Mapping[str, Any] = estimated.get("band") or {}
    name = metric if metric in band else next(iter(band), None)
    if name is None or not isinstance(estimated.get(name), int | float):
        return {}
    return {"estimated_metric": float(estimated[name]), "estimated_band": [float(v) for v in band[name]]}


def drift_point(document: Mapping[str, Any], at: str, report: str | None, metric: str | None) -> DriftPoint:
    """A drift check's point from its stored document (app/monitoring/check.py): the verdict, each column's
    score and verdict, the live metric (the primary one, else the first measured) and the explanation's
    headline and next step when the document has them (else a summary of the verdict)."""
    features: Mapping[str, Any] = document.get("features") or {}
    live: Mapping[str, Any] = document.get("live_metric") or {}
    measured = {k: v for k, v in live.items() if k != "labelled_rows" and isinstance(v, int | float)}
    live_value = measured.get(metric) if metric in measured else next(iter(measured.values()), None)
    explanation = document.get("explanation") if isinstance(document.get("explanation"), dict) else None
    drifted = sorted(name for name, column in features.items() if column.get("drifted"))
    point = DriftPoint(
        at=at,
        version=document.get("version"),
        status=str(document.get("status", "ok")),
        dataset_drift=bool(document.get("dataset_drift")),
        drift_share=float(document.get("drift_share") or 0.0),
        drifted=drifted,
        scores={name: column.get("score") for name, column in features.items()},
        column_drifted={name: bool(column.get("drifted")) for name, column in features.items()},
        live_metric=None if live_value is None else float(live_value),
        labelled_rows=int(live["labelled_rows"]) if "labelled_rows" in live else None,
        report=report,
        **_estimated(document, metric),
    )
    point = point.model_copy(update=quality_of_point(document.get("data_quality")))
    headline = str(explanation["headline"]) if explanation and explanation.get("headline") else None
    next_step = str(explanation["next"]) if explanation and explanation.get("next") else None
    found = document.get("multivariate")
    together: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return point.model_copy(
        update={
            "headline": headline or verdict_summary(point, document),
            "next": next_step,
            "multivariate_auc": together.get("roc_auc"),
            "multivariate_drift": together.get("drift"),
            "multivariate_threshold": together.get("threshold"),
            "multivariate_columns": list(together.get("columns") or []),
        }
    )


def verdict_summary(point: DriftPoint, document: Mapping[str, Any]) -> str:
    """The verdict in one sentence, when the document has no explanation."""
    if point.status != "ok":
        return str(document.get("message") or f"not checked ({point.status})")
    columns = len(point.column_drifted)
    if point.dataset_drift:
        return (
            f"Drift: {len(point.drifted)} of {columns} columns drifted ({', '.join(point.drifted)}), "
            f"share {point.drift_share:.0%}."
        )
    if point.drifted:
        return (
            f"No dataset drift; {len(point.drifted)} of {columns} columns moved ({', '.join(point.drifted)})."
        )
    return f"No drift in {columns} columns."


def quality_of_point(quality: Any) -> dict[str, Any]:
    """A drift document's `data_quality` as a point's fields (none when the check had none)."""
    quality = quality if isinstance(quality, dict) else {}
    requests = quality.get("requests")
    rate = requests.get("reject_rate") if isinstance(requests, dict) else None
    violations = quality.get("violations")
    return {
        "reject_rate": float(rate) if isinstance(rate, int | float) else None,
        "quality_violations": len(violations) if isinstance(violations, list) else None,
        "quality_summary": [str(s) for s in quality.get("summary") or []],
    }


def drift_at(key: str) -> str:
    """The check time in a drift document's key (drift/<model>/<ts>.json → <ts>)."""
    return key.rsplit("/", 1)[-1].removesuffix(".json")


def assemble(sections: Iterable[ModelSection], generated_at: str) -> Dashboard:
    """The deployment's dashboard from its model sections: those with open incidents first, then by
    model name."""
    return Dashboard(
        generated_at=generated_at, models=sorted(sections, key=lambda s: (not s.incidents, s.model))
    )
