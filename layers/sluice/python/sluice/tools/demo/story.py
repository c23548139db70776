"""The story `sluice demo` tells, step by step: each step is one function that drives the stack through
`Demo` and prints what the stack did; `run_story` is the list of the ten steps (the concept-drift and
manual-approval chapters are in `chapters`, the concept-drift retraining's canary in `canary`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.app.registry import catalog
from sluice.app.registry.dashboard import build_dashboard
from sluice.domain.data.table import RawTable
from sluice.domain.registry.records import ModelVersion
from sluice.domain.spec.model_spec import ModelSpec
from sluice.entrypoints.cli.dashboard_folder import write_folder
from sluice.tools.demo.chapters import concept_drift, manual_approval, run_drift_check
from sluice.tools.demo.client import instances_of
from sluice.tools.demo.driver import MODEL, Demo, DemoError, DemoPlan, Progress
from sluice.tools.demo.summary import (
    DASHBOARD_FOLDER,
    LOG_FILE,
    ApprovalSummary,
    CanarySummary,
    ConceptDriftSummary,
    DemoSummary,
    DriftSummary,
    OutputFolder,
    RollbackSummary,
    TrafficSummary,
    VersionRow,
)
from sluice.tools.example_data import credit_risk


@dataclass(frozen=True)
class Address:
    """Where the local stack listens: the AWS endpoint on `port`, the HTTP API on `api_port`."""

    host: str
    port: int
    api_port: int


def run_story(root: Path, out: Path, plan: DemoPlan, progress: Progress, address: Address) -> DemoSummary:
    """Tell the ten steps on a local stack started from `root`, writing the model cards and the drift
    report to `out`; the story's summary (its duration is `run_demo`'s to fill in)."""
    with start_local_stack(root, plan, progress, address, log_path=out / LOG_FILE) as demo:
        data = StoryData.seeded(plan, demo.spec)
        first = train_first_version(demo, data.first)
        traffic = serve_traffic(demo, first, data.traffic[: plan.requests])
        challenge_the_champion(demo, data.better)
        reject_noisy_data(demo, data.noisy)
        shifted, drift = detect_drift_and_retrain(demo, data.shifted)
        rollback = roll_back(demo, data.traffic[plan.requests :])
        concept = concept_drift(demo, 8, data.changed_world, data.changed_world_after, data.canary)
        approval = manual_approval(demo, 9, data.new_world)
        versions, files = write_cards_and_reports(demo, out, drift, concept.canary)
        return summarize(demo, versions, traffic, shifted, drift, rollback, files, concept, approval)


@dataclass(frozen=True)
class StoryData:
    """The training datasets and the prediction traffic of the story, seeded. The changed world's
    tables keep their labels: the demo sends them back as feedback."""

    first: RawTable
    better: RawTable
    noisy: RawTable
    traffic: list[dict[str, Any]]  # the requests before drift, then those after the rollback
    shifted: RawTable  # labelled: part of its labels come back, so the drift retraining learns from them
    changed_world: RawTable  # concept drift: the same inputs' population, a changed label
    changed_world_after: RawTable  # more of it, served after the retraining
    canary: list[dict[str, Any]]  # more of it, the requests the retraining's canary answers part of
    new_world: RawTable  # a labelled batch of the changed world, uploaded under a manual rollout

    @classmethod
    def seeded(cls, plan: DemoPlan, spec: ModelSpec) -> StoryData:
        return cls(
            first=credit_risk(plan.first_rows, seed=1),
            better=credit_risk(plan.better_rows, seed=2),
            noisy=credit_risk(plan.noisy_rows, seed=3, label_noise=plan.label_noise),
            traffic=instances_of(credit_risk(plan.requests + plan.after_rollback_requests, seed=10), spec),
            shifted=credit_risk(plan.shifted_requests, seed=11, shift=plan.shift),
            changed_world=credit_risk(plan.concept_rows, seed=12, concept_shift=plan.concept_shift),
            changed_world_after=credit_risk(
                plan.after_retraining_rows, seed=13, concept_shift=plan.concept_shift
            ),
            canary=instances_of(
                credit_risk(plan.canary_max_requests, seed=15, concept_shift=plan.concept_shift), spec
            ),
            new_world=credit_risk(plan.new_world_rows, seed=14, concept_shift=plan.concept_shift),
        )


# ------------------------------------------------------------------------------------------ the steps
@contextlib.contextmanager
def start_local_stack(
    root: Path, plan: DemoPlan, progress: Progress, address: Address, log_path: Path
) -> Iterator[Demo]:
    """Step 1: deploy template.yaml into moto, serve the API over HTTP with the demo's alias TTL and
    rollout flush period, and yield the `Demo` driving it; everything is stopped on exit."""
    # Imported here, not at the top, so the demo's total time counts loading moto, as its user waits for it.
    from sluice.tools.local.server import running_server

    begun = progress.begin(
        1, f"start the local stack: template.yaml → SAM translator → moto on {address.host}:{address.port}"
    )
    with running_server(root, host=address.host, port=address.port) as stack:
        configured = stack.function_environment("PredictFunction")
        overrides = stack.env_overrides.setdefault("PredictFunction", {})
        overrides["ALIAS_TTL_SECONDS"] = str(plan.alias_ttl_seconds)
        overrides["ROLLOUT_FLUSH_SECONDS"] = str(plan.rollout_flush_seconds)
        api = stack.serve_api(address.api_port, host=address.host)
        progress.fact(
            f"AWS endpoint {stack.endpoint_url}; HTTP API {api.url} (like sam local start-api, "
            f"{stack.api_auth} auth: every request the demo sends is signed)"
        )
        progress.fact(
            f"buckets {stack.outputs['RawBucketName']}, {stack.outputs['ArtifactBucketName']}; "
            f"handler logs → {log_path}"
        )
        progress.fact(
            f"PredictFunction ALIAS_TTL_SECONDS={plan.alias_ttl_seconds:g} for the demo (configured: "
            f"{configured.get('ALIAS_TTL_SECONDS', '?')}), so promotions, the rollback and the canary "
            "reach the warm API within a second"
        )
        progress.fact(
            f"PredictFunction ROLLOUT_FLUSH_SECONDS={plan.rollout_flush_seconds:g} (configured: "
            f"{configured.get('ROLLOUT_FLUSH_SECONDS', '?')}): the canary's counts reach the registry "
            "with each request, so the run's next check sees its min_requests at once"
        )
        progress.done(begun)
        demo = Demo(stack, api.url, root, plan, progress)
        try:
            yield demo
        finally:
            demo.api.close()


def train_first_version(demo: Demo, first: RawTable) -> ModelVersion:
    """Step 2: register the spec, then train on the first dataset (promoted, there is no champion)."""
    spec = demo.spec
    with demo.progress.step(2, f"upload the {MODEL} spec and a first dataset → train, check, promote"):
        demo.progress.fact(
            f"PUT {MODEL}/spec.yaml ({demo.spec_path.relative_to(demo.spec_path.parents[2])}): "
            f"{spec.estimator.name.value} {spec.estimator.params}, metric {spec.metric.value}, "
            f"gates {spec.gates.model_dump(exclude_none=True)}"
        )
        demo.progress.fact(f"  + {demo.spec_text.splitlines()[-1]}")
        demo.upload(f"{MODEL}/spec.yaml", demo.spec_text.encode())
        demo.settle()
        if demo.registry.current_spec(MODEL) is None:
            raise DemoError("the spec was not registered (see stack.log)")
        return demo.train_on("first.csv", first)


def serve_traffic(demo: Demo, production: ModelVersion, instances: list[dict[str, Any]]) -> TrafficSummary:
    """Step 3: prediction requests over HTTP, every one answered by the first version."""
    with demo.progress.step(3, f"send {demo.plan.requests} prediction requests through the HTTP API"):
        return demo.send_to(production.version, instances, "requests")


def challenge_the_champion(demo: Demo, better: RawTable) -> ModelVersion:
    """Step 4: train on a bigger dataset; the challenger is compared with the champion on one holdout."""
    with demo.progress.step(
        4, "upload a better (bigger) dataset → challenger vs champion on the same holdout"
    ):
        return demo.train_on("better.csv", better)


def reject_noisy_data(demo: Demo, noisy: RawTable) -> ModelVersion:
    """Step 5: train on mostly random labels; the version fails the gates and production is untouched."""
    with demo.progress.step(
        5, f"upload a noisy dataset ({demo.plan.label_noise:.0%} of labels flipped) → gates"
    ):
        return demo.train_on("noisy.csv", noisy)


def detect_drift_and_retrain(demo: Demo, shifted: RawTable) -> tuple[TrafficSummary, DriftSummary]:
    """Step 6: shifted traffic to production, the true labels of part of it sent back through feedback,
    then the scheduled drift check on it, its alert, and the retraining it starts on the accepted upload
    plus those labelled rows (without them there would be nothing new to learn from since production's
    version, and the check would say so instead of retraining); the traffic sent and what the check
    found."""
    title = "shifted traffic through the API → scheduled drift check → alert → retraining"
    with demo.progress.step(6, title):
        production = demo.registry.get_alias(MODEL)
        if production is None:
            raise DemoError(f"{MODEL} has no production version to send traffic to")
        instances = instances_of(shifted, demo.spec)
        sent = demo.send_to(production.version, instances, f"shifted (shift={demo.plan.shift})")
        labelled = demo.plan.shifted_labels
        demo.send_feedback(demo.sent[:labelled], shifted.columns[demo.spec.target][:labelled])
        check = run_drift_check(demo)
        alerts = [subject for subject, message in demo.drain_alerts() if "drifted" in message]
        retrained, status = follow_retraining(demo, check)
        drift = DriftSummary(
            checked_version=check["version"],
            status=check["status"],
            rows=check["rows"],
            dataset_drift=check["dataset_drift"],
            drift_share=check["drift_share"],
            drifted_features=check["drifted_features"],
            alerted=check["alerted"],
            alerts_received=alerts,
            retraining_execution=check.get("retraining"),
            retraining_status=status,
            retrained_version=retrained.version if retrained else None,
            retrained_outcome=retrained.status.value if retrained else None,
            retrain_skipped=check.get("retrain_skipped"),
            report_json=check["report_uri"],
            report_html=check["html_uri"],
        )
    return sent, drift


def follow_retraining(demo: Demo, check: dict[str, Any]) -> tuple[ModelVersion | None, str | None]:
    """Wait for the retraining the drift check started, if any, and print its outcome; the version it
    made and its execution's status (None, None when the check started none)."""
    if not check.get("retraining"):
        demo.progress.fact(f"no retraining: {check.get('retrain_skipped')}")
        return None, None
    execution = check["retraining"]
    demo.progress.fact(f"retraining started (trigger drift): {execution.rsplit(':', 1)[-1]}")
    status = next((e["status"] for e in demo.settle() if e["executionArn"] == execution), None)
    demo.progress.fact(f"Step Functions execution: {status}")
    retrained = next((v for v in demo.registry.list_versions(MODEL) if v.execution_arn == execution), None)
    if retrained is not None:
        demo.describe_version(retrained)
    demo.drain_alerts()
    alias = demo.registry.get_alias(MODEL)
    demo.progress.fact(f"production is v{alias.version if alias else '-'}")
    return retrained, status


def roll_back(demo: Demo, instances: list[dict[str, Any]]) -> RollbackSummary:
    """Step 7: roll production back to the previous version, then show the API serving it."""
    with demo.progress.step(7, "roll back production to the previous version (sluice models rollback)"):
        event = catalog.rollback(
            demo.registry, demo.artifacts, MODEL, by=demo.operator, reason="demo: undo the last promotion"
        )
        demo.progress.fact(
            f"registry: {event.type.value} v{event.from_version} → v{event.to_version} by {event.by} "
            "(audit event)"
        )
        if event.to_version is None:
            raise DemoError("the rollback named no version")
        waited = demo.wait_for_alias_ttl()
        demo.progress.fact(
            f"waited {waited:.1f} s for the alias TTL"
            if waited
            else f"the alias TTL ({demo.plan.alias_ttl_seconds:g} s) has passed since the API's last request"
        )
        after = demo.send_to(event.to_version, instances, "requests after the rollback")
        return RollbackSummary(
            from_version=event.from_version,
            to_version=event.to_version,
            served_after=after.by_version,
            statuses_after={v.version: v.status.value for v in demo.registry.list_versions(MODEL)},
        )


def write_cards_and_reports(
    demo: Demo, out: Path, drift: DriftSummary, canary: CanarySummary
) -> tuple[list[VersionRow], list[str]]:
    """Step 10: every version's model card, the drift report (JSON and HTML) and the canary's comparison
    page written to `out`; the versions as summary rows and the names of the files written."""
    with demo.progress.step(10, f"summary, model cards, the drift report and the canary's page → {out}"):
        out.mkdir(parents=True, exist_ok=True)
        folder = OutputFolder(out)
        rows = []
        for version in demo.registry.list_versions(MODEL):
            row = demo.version_row(version)
            card = version.artifacts.get("card_html")
            if card is not None:
                row.card = f"{MODEL}-v{version.version}-card.html"
                folder.write(row.card, demo.artifacts.get_verified(card))
            rows.append(row)
        folder.write("drift-report.json", demo.artifacts.get_bytes(drift.report_json))
        folder.write("drift-report.html", demo.artifacts.get_bytes(drift.report_html))
        folder.write(f"{MODEL}-v{canary.version}-rollout.html", demo.artifacts.get_bytes(canary.report_html))
        # The registry dashboard, as `sluice dashboard --out` writes it: the page and every page it links.
        index = write_folder(demo.artifacts, build_dashboard(demo.deps), out / DASHBOARD_FOLDER)
        folder.files.append(str(index.relative_to(out)))
    return rows, folder.files


def summarize(
    demo: Demo,
    versions: list[VersionRow],
    traffic: TrafficSummary,
    shifted: TrafficSummary,
    drift: DriftSummary,
    rollback: RollbackSummary,
    files: list[str],
    concept: ConceptDriftSummary,
    approval: ApprovalSummary,
) -> DemoSummary:
    """The story's summary (its duration is filled in by `run_demo`, once everything has stopped)."""
    spec = demo.spec
    return DemoSummary(
        model=MODEL,
        duration_seconds=0.0,
        api_url=demo.api_url,
        endpoint_url=str(demo.stack.endpoint_url),
        alias_ttl_seconds=demo.plan.alias_ttl_seconds,
        algorithm={"name": spec.estimator.name.value, "params": spec.estimator.params},
        versions=versions,
        traffic=traffic,
        shifted_traffic=shifted,
        drift=drift,
        rollback=rollback,
        concept=concept,
        approval=approval,
        notifications=demo.notifications,
        executions=[{"name": e["name"], "status": e["status"]} for e in demo.settle()],
        events=[
            e.model_dump(
                mode="json",
                include={"type", "version", "from_version", "to_version", "trigger", "by", "note"},
            )
            for e in demo.registry.list_events(MODEL)
        ],
        files=files,
    )
