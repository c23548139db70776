"""The story's two later chapters: concept drift (the world changed how inputs lead to the label; the
labels that came back through feedback show it, and a retraining on accepted data plus that labelled
traffic fixes it, reaching production through a canary, in `canary`) and a manual approval (the spec asks a person before a version reaches production).
Like the other steps, they only drive the stack and print what it did. `run_drift_check`, which step 6
uses too, fires the scheduled drift check and prints its verdict."""

from __future__ import annotations

import json
from typing import Any

from sluice.app.rollout import plan as rollout
from sluice.app.training.start import start_manual_run
from sluice.domain.data.table import RawTable
from sluice.domain.registry.records import ModelVersion, VersionStatus
from sluice.tools.demo.canary import run_canary, use_canary_rollout
from sluice.tools.demo.client import instances_of
from sluice.tools.demo.driver import MODEL, Demo, DemoError
from sluice.tools.demo.rejections import BROKEN_FEED_REQUESTS, print_data_quality, send_from_a_broken_feed
from sluice.tools.demo.summary import ApprovalSummary, ConceptDriftSummary, LiveQuality

# The note the manual-approval chapter's approval carries beside `by` (the demo's principal, from STS).
APPROVAL_NOTE = "demo-operator: checked the model card"
MANUAL_ROLLOUT = "rollout: {mode: manual, timeout_hours: 72}\n"


def concept_drift(
    demo: Demo, number: int, before: RawTable, after: RawTable, canary: list[dict[str, Any]]
) -> ConceptDriftSummary:
    """Traffic from a world whose label depends on the inputs differently, served by production and
    labelled in part through feedback; the drift check's live metric and its estimate; the spec switched
    to a canary rollout; a retraining on the accepted upload plus the labelled traffic (`sluice models
    train`'s use case), scored on the recent holdout against production; if its gates pass, a canary on
    the `canary` traffic that the run promotes or rolls back; then the live metric again."""
    plan = demo.plan
    title = "concept drift: labelled traffic → live metric falls → retrain on it → recent holdout → canary"
    with demo.progress.step(number, title):
        production = _production(demo)
        sent = demo.send_to(
            production,
            instances_of(before, demo.spec),
            f"changed-world (concept_shift={plan.concept_shift})",
            plan.rows_per_request,
        )
        send_from_a_broken_feed(demo, instances_of(before, demo.spec), BROKEN_FEED_REQUESTS)
        labels = demo.send_feedback(
            demo.sent[: plan.concept_labels], _labels(demo, before, plan.concept_labels)
        )
        explain_one(demo, instances_of(before, demo.spec)[0])
        live_before = _live_quality(demo, production)
        demo.drain_alerts()
        use_canary_rollout(demo)
        candidate = _retrain_on_labelled_traffic(demo)
        summary = _retraining_facts(demo, candidate, production)
        if candidate.status is not VersionStatus.CANARY:
            demo.describe_version(candidate)
            raise DemoError(f"the retraining v{candidate.version} is {candidate.status.value}, not canary")
        demo.drain_alerts()
        rollout = run_canary(demo, candidate, canary)
        retrained = demo.registry.get_version(MODEL, candidate.version)
        demo.describe_version(retrained)
        demo.drain_alerts()
        demo.progress.fact(f"production is v{_production(demo)}")
        if _production(demo) != retrained.version:
            raise DemoError(f"the retraining on labelled traffic, v{retrained.version}, was not promoted")
        served = demo.send_to(
            retrained.version,
            instances_of(after, demo.spec),
            "changed-world, after the retraining",
            plan.rows_per_request,
        )
        demo.send_feedback(
            demo.sent[: plan.after_retraining_labels], _labels(demo, after, plan.after_retraining_labels)
        )
        live_after = _live_quality(demo, retrained.version)
        demo.drain_alerts()
        return ConceptDriftSummary(
            requests=sent.requests,
            rows=sent.rows,
            labels_sent=labels,
            before=live_before,
            retrained_status=retrained.status.value,
            canary=rollout,
            after_rows=served.rows,
            after=live_after,
            **summary,
        )


def run_drift_check(demo: Demo, *, per_feature: bool = True) -> dict[str, Any]:
    """Fire the drift schedule (it starts the Monitoring state machine) and print its verdict (per feature when `per_feature`);
    the model's check."""
    demo.pass_buffer_interval()
    demo.progress.fact("DriftSchedule fires: the Monitoring state machine checks every production model")
    execution = demo.stack.fire_schedules().executions["MonitoringStateMachine"]
    ended = demo.stack.execution_ended(execution)
    if ended["status"] != "SUCCEEDED":
        raise DemoError(
            f"the Monitoring execution {ended['status']}: {ended.get('cause') or ended.get('error')}"
        )
    check: dict[str, Any] = next(c for c in ended["result"]["checked"] if c["model"] == MODEL)
    verdict = "DATASET DRIFT" if check["dataset_drift"] else "no dataset drift"
    demo.progress.fact(
        f"v{check['version']}, {check['rows']} captured rows vs its reference sample: {verdict}, "
        f"drift share {check['drift_share']:.2f}, drifted: {', '.join(check['drifted_features']) or '-'}"
    )
    print_data_quality(demo, check)
    if not per_feature:
        return check
    report = json.loads(demo.artifacts.get_bytes(check["report_uri"]))
    for name, column in sorted(report["features"].items(), key=lambda kv: not kv[1]["drifted"]):
        score = "n/a" if column["score"] is None else f"{column['score']:.3f}"
        demo.progress.fact(
            f"  {name:<16} {column['method']:<14} score {score:>7} (threshold {column['threshold']})"
            f"{'  DRIFTED' if column['drifted'] else ''}"
        )
    explained = report.get("explanation") or {}
    sentences = [
        *explained.get("columns", {}).values(),
        explained.get("predictions"),
        explained.get("multivariate"),
    ]
    for sentence in sentences:
        if sentence:
            demo.progress.fact(f"  in words: {sentence}")
    if explained.get("next"):
        demo.progress.fact(f"  next: {explained['next']}")
    demo.progress.fact(f"report: {check['report_uri']} (+ .html)")
    return check


def explain_one(demo: Demo, instance: dict[str, Any]) -> dict[str, Any]:
    """POST /explain for one instance; print what is explained, its base value and the sentences."""
    status, answer = demo.api.post(f"/models/{MODEL}/explain", {"instances": [instance]})
    if status != 200:
        raise DemoError(f"POST /models/{MODEL}/explain answered {status}: {answer}")
    explanation: dict[str, Any] = answer["explanations"][0]
    demo.progress.fact(
        f"one changed-world request explained (POST /explain, v{answer['version']}, {explanation['method']}): "
        f"{explanation['explained']} {explanation['output']:.3f}, from a base value of "
        f"{explanation['base_value']:.3f}"
    )
    for sentence in explanation["sentences"]:
        demo.progress.fact(f"  {sentence}")
    return explanation


def _production(demo: Demo) -> int:
    alias = demo.registry.get_alias(MODEL)
    if alias is None:
        raise DemoError(f"{MODEL} has no production version")
    return alias.version


def _labels(demo: Demo, table: RawTable, count: int) -> list[str]:
    """The true labels of the table's first `count` rows (the target column, as the CSV holds it)."""
    return table.columns[demo.spec.target][:count]


def _live_quality(demo: Demo, version: int) -> LiveQuality:
    """Fire the drift check and read its live metric for `version`, printing it beside the estimate."""
    check = run_drift_check(demo, per_feature=False)
    if check["version"] != version:
        raise DemoError(f"the drift check looked at v{check['version']}, not v{version}")
    live: dict[str, Any] = check.get("live_metric") or {}
    gate: dict[str, Any] = check.get("live_gate") or {}
    report = json.loads(demo.artifacts.get_bytes(check["report_uri"]))  # the estimates are in the report
    estimate: dict[str, Any] = report.get("estimated") or {}
    # the report writes each estimated metric beside its band: {"accuracy": 0.71, "band": {"accuracy": [...]}}
    estimated: dict[str, float] = {metric: estimate[metric] for metric in estimate.get("band") or {}}
    metric = demo.spec.metric.value
    quality = LiveQuality(
        version=version,
        labelled_rows=int(live.get("labelled_rows", 0)),
        accuracy=live.get("accuracy"),
        metric=live.get(demo.spec.metric.value),
        below_minimum=bool(gate.get("below_minimum")),
        estimated_accuracy=estimated.get("accuracy"),
        estimated_metric=estimated.get(metric),
    )
    if quality.accuracy is None or quality.estimated_accuracy is None:
        raise DemoError(f"the drift check measured no live accuracy for v{version}: {live}")
    verdict = (
        f"below its gate min_metric {gate.get('limit')} → LiveMetricBelowMinimum = 1"
        if quality.below_minimum
        else f"meets its gate min_metric {gate.get('limit')}"
    )
    demo.progress.fact(
        f"live on v{version}: accuracy {quality.accuracy:.3f}, {demo.spec.metric.value} "
        f"{quality.metric if quality.metric is None else round(quality.metric, 3)} over "
        f"{quality.labelled_rows} labelled rows ({verdict})"
    )
    if quality.estimated_metric is not None and quality.metric is not None:
        low, high = (estimate.get("band") or {}).get(metric, (quality.estimated_metric,) * 2)
        demo.progress.fact(
            f"estimated {metric} {quality.estimated_metric:.3f} ({low:.3f}–{high:.3f}) without labels on "
            f"{estimate.get('rows')} captured rows (CBPE); realized {quality.metric:.3f} on "
            f"{quality.labelled_rows} labelled rows"
        )
    demo.progress.fact(
        f"estimated accuracy without labels (CBPE, {estimate.get('rows')} rows): "
        f"{quality.estimated_accuracy:.3f}, {quality.estimated_accuracy - quality.accuracy:+.3f} from the "
        f"labelled truth"
    )
    if check.get("retraining") is None and check.get("retrain_skipped"):
        demo.progress.fact(f"the check starts no retraining itself: {check['retrain_skipped']}")
    return quality


def _retrain_on_labelled_traffic(demo: Demo) -> ModelVersion:
    """Start a retraining as `sluice models train credit-risk` does and wait until its version is
    decided (its execution goes on running while a canary waits for traffic)."""
    demo.progress.fact(
        "the operator answers the alarm: sluice models train credit-risk (accepted upload + labelled traffic)"
    )
    started = start_manual_run(MODEL, demo.deps, by=demo.operator, note="demo: answer the alarm")
    demo.stack.drain()
    version = demo.await_version(lambda v: v.execution_arn == started.arn, f"the retraining {started.name}")
    demo.progress.fact(
        f"Step Functions execution {started.name} made v{version.version}: {version.status.value}"
    )
    return version


def _retraining_facts(demo: Demo, version: ModelVersion, champion: int) -> dict[str, Any]:
    """Print the retraining's lineage, its score and production's on the recent holdout; the
    ConceptDriftSummary fields that describe it (its outcome is the rollout's to tell)."""
    dataset = demo.registry.get_dataset(MODEL, version.dataset_sha256 or "")
    demo.progress.fact(
        f"v{version.version} trained on {dataset.n_rows if dataset else '?'} rows, "
        f"{dataset.kind.value if dataset else '?'}: {dataset.lineage if dataset else '?'}"
    )
    document = json.loads(demo.artifacts.get_verified(version.artifacts["evaluation"]))
    recent: dict[str, Any] = document.get("recent_holdout") or {}
    metric = demo.spec.metric.value
    score = (recent.get("evaluation") or {}).get("metrics", {}).get(metric)
    champion_score = (recent.get("champion") or {}).get("metrics", {}).get(metric)
    demo.progress.fact(
        f"recent holdout (newest {recent.get('rows', 0)} labelled rows, never trained on"
        f"{', counted by the gates' if recent.get('counted') else ''}): {metric} v{version.version} "
        f"{_score(score)} vs production v{champion} {_score(champion_score)}"
    )
    return {
        "retrained_version": version.version,
        "trigger": version.trigger.value,
        "dataset_kind": dataset.kind.value if dataset else None,
        "dataset_lineage": dataset.lineage if dataset else None,
        "recent_holdout_rows": int(recent.get("rows", 0)),
        "recent_holdout_counted": bool(recent.get("counted")),
        "recent_score": score,
        "champion_version": champion,
        "champion_recent_score": champion_score,
    }


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def manual_approval(demo: Demo, number: int, batch: RawTable) -> ApprovalSummary:
    """The spec now asks for a manual rollout; an upload's version waits as pending_approval (production
    unchanged, the SNS message says what to run) until it is approved as `sluice models approve` does;
    then the run promotes it, and the audit trail names who approved."""
    with demo.progress.step(number, "manual approval: rollout {mode: manual} → pending_approval → approve"):
        spec_text = demo.spec_text + MANUAL_ROLLOUT
        demo.progress.fact(f"PUT {MODEL}/spec.yaml with {MANUAL_ROLLOUT.strip()} (a new current spec)")
        demo.upload(f"{MODEL}/spec.yaml", spec_text.encode())
        demo.settle()
        before = _production(demo)
        pending = _upload_and_await_decision(demo, "new-world.csv", batch)
        if pending.status is not VersionStatus.PENDING_APPROVAL:
            demo.describe_version(pending)
            raise DemoError(f"v{pending.version} is {pending.status.value}, not pending_approval")
        waiting = _production(demo)
        demo.progress.fact(
            f"v{pending.version}: PENDING_APPROVAL ({pending.reason}); production is still v{waiting}"
        )
        alerts = [(s, m) for s, m in demo.drain_alerts() if m.get("status") == "pending_approval"]
        subject, message = alerts[-1] if alerts else ("", {})
        demo.progress.fact(f"the message says: {message.get('approve')}  (or: {message.get('reject')})")
        event = rollout.approve(
            demo.deps,
            MODEL,
            pending.version,
            by=demo.operator,
            reason="demo: looks good",
            note=APPROVAL_NOTE,
        )
        demo.progress.fact(
            f"registry: {event.type.value} v{event.version} by {event.by} (the STS principal), "
            f"note {event.note!r} (audit event)"
        )
        demo.settle()
        decided = demo.registry.get_version(MODEL, pending.version)
        after = _production(demo)
        demo.describe_version(decided)
        demo.drain_alerts()
        demo.progress.fact(f"production: v{before} → v{after}")
        events = [
            e.model_dump(
                mode="json",
                include={"type", "version", "from_version", "to_version", "by", "note", "details"},
            )
            for e in demo.registry.list_events(MODEL)
            if e.version == pending.version or e.to_version == pending.version
        ]
        return ApprovalSummary(
            version=pending.version,
            status_while_waiting=pending.status.value,
            production_while_waiting=waiting,
            notification=subject,
            approve_command=message.get("approve"),
            approved_by=str(event.by),
            approval_note=event.note,
            status_after=decided.status.value,
            production_after=after,
            events=events,
        )


def _upload_and_await_decision(demo: Demo, name: str, table: RawTable) -> ModelVersion:
    """Upload a dataset and wait until its version is decided (pending_approval or otherwise)."""
    from sluice.domain.data.table import to_csv_bytes

    before = {v.version for v in demo.registry.list_versions(MODEL)}
    data = to_csv_bytes(table)
    demo.progress.fact(f"PUT s3://{demo.outputs['RawBucketName']}/{MODEL}/data/{name} ({len(data):,} bytes)")
    demo.upload(f"{MODEL}/data/{name}", data)
    demo.stack.drain()
    return demo.await_version(lambda v: v.version not in before, name)
