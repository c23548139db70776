"""What the demo reports: the summary of the story (summary.json), the closing table it prints, and
the files it writes to the output folder (demo-output/ by default)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SUMMARY_FILE = "summary.json"
LOG_FILE = "stack.log"  # the handlers' logs (stderr while the stack runs)
DASHBOARD_FOLDER = "dashboard"  # the registry dashboard, as `sluice dashboard --out` writes it


class VersionRow(BaseModel):
    version: int
    status: str
    trigger: str
    metric: str
    value: float | None
    champion_version: int | None
    dataset: str | None
    rows: int | None
    reason: str | None
    failed_gates: list[dict[str, Any]] = Field(default_factory=list)
    card: str | None = None


class TrafficSummary(BaseModel):
    requests: int
    rows: int
    by_version: dict[int, int]
    latency_ms_median: float
    latency_ms_p95: float


class DriftSummary(BaseModel):
    checked_version: int
    status: str
    rows: int
    dataset_drift: bool
    drift_share: float
    drifted_features: list[str]
    alerted: bool
    alerts_received: list[str]
    retraining_execution: str | None
    retraining_status: str | None
    retrained_version: int | None
    retrained_outcome: str | None
    retrain_skipped: str | None
    report_json: str
    report_html: str


class RollbackSummary(BaseModel):
    from_version: int | None
    to_version: int | None
    served_after: dict[int, int]
    statuses_after: dict[int, str] = Field(default_factory=dict)  # every version's, right after it


class LiveQuality(BaseModel):
    """A production version's quality on live traffic, as a drift check measured it from feedback,
    and what CBPE estimated without labels (its accuracy and the spec's metric)."""

    version: int
    labelled_rows: int
    accuracy: float | None
    metric: float | None  # the spec's primary metric, live
    below_minimum: bool
    estimated_accuracy: float | None
    estimated_metric: float | None = None  # the spec's primary metric, estimated without labels


class RolloutSide(BaseModel):
    """One version's numbers in a rollout comparison (models/<m>/<v>/rollout.json)."""

    requests: int
    error_rate: float | None
    latency_p99_ms: float | None


class CanarySummary(BaseModel):
    """The retraining's canary: the spec's weight and min_requests, the requests the demo sent with
    X-Request-Id and which version answered each (as the responses named it), the run's last
    comparison (rollout.json) and its decision, and the version's audit events."""

    version: int
    production_version: int
    weight: float
    min_requests: int
    status_while_running: str
    requests_sent: int
    answered: dict[int, int]  # version -> requests it answered
    candidate_share: float
    decision: str
    reason: str
    candidate: RolloutSide
    production: RolloutSide
    report_json: str
    report_html: str
    status_after: str
    production_after: int | None
    events: list[dict[str, Any]]


class ConceptDriftSummary(BaseModel):
    requests: int
    rows: int
    labels_sent: int
    before: LiveQuality
    retrained_version: int
    retrained_status: str
    trigger: str
    dataset_kind: str | None
    dataset_lineage: str | None
    recent_holdout_rows: int
    recent_holdout_counted: bool
    recent_score: float | None  # the retrained version's primary metric on the recent holdout
    champion_version: int | None
    champion_recent_score: float | None  # production's on the same recent holdout
    canary: CanarySummary
    after_rows: int
    after: LiveQuality


class ApprovalSummary(BaseModel):
    version: int
    status_while_waiting: str
    production_while_waiting: int | None
    notification: str
    approve_command: str | None
    approved_by: str  # the principal ARN STS answered for the demo's credentials
    approval_note: str | None = None
    status_after: str
    production_after: int | None
    events: list[dict[str, Any]]


class DemoSummary(BaseModel):
    model: str
    duration_seconds: float
    api_url: str
    endpoint_url: str
    alias_ttl_seconds: float
    algorithm: dict[str, Any]
    versions: list[VersionRow]
    traffic: TrafficSummary
    shifted_traffic: TrafficSummary
    drift: DriftSummary
    rollback: RollbackSummary
    concept: ConceptDriftSummary
    approval: ApprovalSummary
    notifications: list[str]
    executions: list[dict[str, str]]
    events: list[dict[str, Any]]
    files: list[str]


@dataclass
class OutputFolder:
    """The output folder and the names of the files written to it, in the order they were written."""

    path: Path
    files: list[str] = field(default_factory=list)

    def write(self, name: str, data: bytes) -> None:
        """Write `data` as `name` in the folder and list the file."""
        (self.path / name).write_bytes(data)
        self.files.append(name)


def write_summary(summary: DemoSummary, out: Path) -> None:
    """List summary.json and stack.log among the summary's files, then write it as `out`/summary.json."""
    summary.files.append(SUMMARY_FILE)
    summary.files.append(LOG_FILE)
    (out / SUMMARY_FILE).write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")


def closing_lines(summary: DemoSummary, out: Path) -> list[str]:
    """What the demo prints last: the summary table, every file with its path, and the total time."""
    return [
        "",
        *summary_table(summary),
        "",
        f"files in {out}:",
        *(f"  {out / name}" for name in summary.files),
        f"finished in {summary.duration_seconds:.1f} s",
        *(
            [f"dashboard: {out / DASHBOARD_FOLDER / 'index.html'}"]
            if f"{DASHBOARD_FOLDER}/index.html" in summary.files
            else []
        ),
    ]


def summary_table(summary: DemoSummary) -> list[str]:
    """The closing table: one line per version, then traffic and drift."""
    production = {r.version for r in summary.versions if r.status == "production"}
    lines = [
        f"{'version':<8} {'status':<11} {'roc_auc':>8}  {'trigger':<8} {'dataset':<18} {'rows':>6}  note"
    ]
    for row in summary.versions:
        value = f"{row.value:.4f}" if row.value is not None else "-"
        if row.failed_gates:
            note = "failed " + ", ".join(
                f"{g['gate']} ({g['value']:.4f} vs {g['limit']})" if g.get("value") is not None else g["gate"]
                for g in row.failed_gates
            )
        else:
            note = "serving" if row.version in production else ""
        lines.append(
            f"v{row.version:<7} {row.status:<11} {value:>8}  {row.trigger:<8} {row.dataset or '-':<18} "
            f"{row.rows or 0:>6}  {note}"
        )
    t, s, c = summary.traffic, summary.shifted_traffic, summary.concept
    after = sum(summary.rollback.served_after.values())
    lines.append(
        f"predictions sent: {t.requests + s.requests + after} requests over HTTP "
        f"({t.requests} normal, {s.requests} shifted, {after} after the rollback), then "
        f"{c.rows} + {c.after_rows} rows of the changed world before and after its retraining"
    )
    d = summary.drift
    retraining = (
        f"retraining (trigger drift) → v{d.retrained_version} {d.retrained_outcome}"
        if d.retrained_version is not None
        else f"no retraining ({d.retrain_skipped})"
    )
    lines.append(
        f"drift on v{d.checked_version}: {'DRIFT' if d.dataset_drift else 'no drift'} "
        f"(share {d.drift_share:.2f}; {', '.join(d.drifted_features) or 'no column'}); "
        f"alerts {len(d.alerts_received)}; {retraining}"
    )
    lines.append(
        f"rollback: v{summary.rollback.from_version} → v{summary.rollback.to_version}, "
        f"serving v{summary.rollback.to_version} again"
    )
    lines.extend(concept_and_approval_lines(summary.concept, summary.approval))
    return lines


def live_text(live: LiveQuality) -> str:
    accuracy = "n/a" if live.accuracy is None else f"{live.accuracy:.3f}"
    metric = "n/a" if live.metric is None else f"{live.metric:.3f}"
    estimate = "n/a" if live.estimated_accuracy is None else f"{live.estimated_accuracy:.3f}"
    estimated_metric = "n/a" if live.estimated_metric is None else f"{live.estimated_metric:.3f}"
    return (
        f"v{live.version} accuracy {accuracy}, roc_auc {metric} on {live.labelled_rows} labelled rows "
        f"(estimated without labels: accuracy {estimate}, roc_auc {estimated_metric})"
    )


def canary_line(canary: CanarySummary) -> str:
    answered = canary.answered.get(canary.version, 0)
    return (
        f"  canary at {canary.weight:.0%}: v{canary.version} answered {answered} of {canary.requests_sent} "
        f"requests ({canary.candidate_share:.1%}) → {canary.decision} → {canary.status_after}, "
        f"production v{canary.production_after}"
    )


def concept_and_approval_lines(concept: ConceptDriftSummary, approval: ApprovalSummary) -> list[str]:
    """The closing table's lines for the concept-drift and manual-approval chapters."""
    recent = "n/a" if concept.recent_score is None else f"{concept.recent_score:.4f}"
    champion = "n/a" if concept.champion_recent_score is None else f"{concept.champion_recent_score:.4f}"
    return [
        f"concept drift: live before {live_text(concept.before)}",
        f"  retraining ({concept.trigger}) on {concept.dataset_lineage} → v{concept.retrained_version} "
        f"{concept.retrained_status}; recent holdout ({concept.recent_holdout_rows} rows) {recent} vs "
        f"production v{concept.champion_version} {champion}",
        canary_line(concept.canary),
        f"  live after: {live_text(concept.after)}",
        f"manual approval: v{approval.version} {approval.status_while_waiting} (production stayed "
        f"v{approval.production_while_waiting}) → approved by {approval.approved_by} → "
        f"{approval.status_after}, production v{approval.production_after}",
    ]
