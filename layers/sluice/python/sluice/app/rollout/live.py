"""A live rollout (shadow or canary), the state machine's side: `begin_live_rollout` puts the candidate on
the production alias beside production; `check_live_rollout`, every `check_seconds`, compares the two
over the rollout so far (the counts PredictFunction adds to the registry, and the labelled rows of
captured traffic) and says wait, promote or roll back; `end_live_rollout` takes the candidate off the
alias when the run rejects it or fails. Promotion itself is the usual conditional write (steps.promote)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice.app.data.stored import load_spec, model_prefix
from sluice.app.ports import CoreDeps, Traffic
from sluice.domain.registry.records import AuditEvent, EventType, ModelVersion, RunState, VersionStatus
from sluice.domain.rollout.live import (
    Decision,
    LabelledScore,
    RolloutComparison,
    RolloutLimits,
    RolloutState,
    RolloutStatus,
    tallies,
)
from sluice.domain.spec.model_spec import ModelSpec, RolloutMode, RolloutSpec

logger = logging.getLogger(__name__)

REPORT_JSON = "rollout.json"
REPORT_HTML = "rollout.html"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rollout_limits(spec: ModelSpec) -> RolloutLimits:
    """The spec's rollout limits, with the gates that also apply on labelled rows (min_metric or
    max_metric) and max_metric_drop defaulting to the gates' max_regression (else 0)."""
    rollout = spec.rollout or RolloutSpec()
    higher = spec.metric.higher_is_better
    drop = rollout.max_metric_drop
    if drop is None:
        drop = spec.gates.max_regression or 0.0
    return RolloutLimits(
        mode=rollout.mode.value,
        min_requests=rollout.min_requests,
        min_hours=rollout.min_hours,
        min_labelled_rows=rollout.min_labelled_rows,
        max_error_rate_increase=rollout.max_error_rate_increase,
        max_latency_p99_ratio=rollout.max_latency_p99_ratio,
        max_metric_drop=drop,
        min_agreement=rollout.min_agreement,
        metric=spec.metric.value,
        higher_is_better=higher,
        metric_floor=spec.gates.min_metric if higher else spec.gates.max_metric,
    )


def begin_live_rollout(run: RunState, decided: ModelVersion, execution_arn: str, deps: CoreDeps) -> RunState:
    """Put the run's version beside production as the spec's rollout says (status shadow or canary), on
    the condition that production is still the version it was evaluated against; audit and notify.
    With no production version there is nothing to compare with: the decision is to promote at once.
    Run again by the same execution (its answer was lost), it finds its rollout running and starts
    nothing: the rollout keeps its start and deadline, and is audited once. Raises PromotionConflict
    when production moved, RolloutBusy when another rollout runs."""
    spec = load_spec(run.spec_uri, deps.artifacts)
    rollout = spec.rollout or RolloutSpec()
    plan = run.rollout
    assert plan is not None and decided.version == run.version
    if run.champion_version is None:
        reason = "no production version to compare with: promoted without a live rollout"
        return run.model_copy(
            update={"rollout": plan.model_copy(update={"decision": Decision.PROMOTE.value, "reason": reason})}
        )
    status = VersionStatus.SHADOW if rollout.mode is RolloutMode.SHADOW else VersionStatus.CANARY
    alias = deps.registry.get_alias(run.model)
    running = alias.rollout if alias else None
    if (
        running is not None
        and running.status is RolloutStatus.RUNNING
        and running.version == decided.version
        and running.execution_arn == execution_arn
    ):  # this step ran before and started it; its answer was lost: the rollout runs, started once
        reason = f"{running.mode} beside version {running.production_version} on {running.weight:.0%} of requests until {running.deadline}"
        decision = plan.model_copy(update={"decision": Decision.WAIT.value, "reason": reason})
        return run.model_copy(update={"status": status, "reason": reason, "rollout": decision})
    now = datetime.now(UTC)
    state = RolloutState(
        mode=rollout.mode.value,
        version=decided.version,
        production_version=run.champion_version,
        weight=rollout.traffic_weight,
        started_at=_stamp(now),
        deadline=_stamp(now + timedelta(hours=rollout.timeout_hours)),
        execution_arn=execution_arn,
    )
    reason = (
        f"{rollout.mode.value} beside version {run.champion_version} on {state.weight:.0%} of requests "
        f"until {state.deadline}"
    )
    deps.registry.start_rollout(
        decided.model_copy(update={"status": status, "reason": reason}),
        state,
        AuditEvent.of_run(
            run,
            EventType.ROLLOUT_STARTED,
            execution_arn,
            version=decided.version,
            from_version=run.champion_version,
            reason=reason,
            details=state.model_dump(mode="json", exclude={"execution_arn"})
            | {"limits": rollout.model_dump(mode="json")},
        ),
    )
    deps.notifier.publish(
        f"Sluice: {run.model} version {decided.version} is in {rollout.mode.value}",
        {
            "model": run.model,
            "version": decided.version,
            "status": status.value,
            "reason": reason,
            "production_version": run.champion_version,
            "metrics": run.metrics,
            "execution_arn": execution_arn,
        },
    )
    logger.info(
        "live rollout started", extra={"model": run.model, "version": decided.version, "mode": state.mode}
    )
    decision = plan.model_copy(update={"decision": Decision.WAIT.value, "reason": reason})
    return run.model_copy(update={"status": status, "reason": reason, "rollout": decision})


def labelled_scores(
    spec: ModelSpec, state: RolloutState, traffic: Traffic, now: datetime
) -> tuple[LabelledScore | None, LabelledScore | None]:
    """The candidate's and production's primary metric on the labelled rows captured since the rollout
    began: a canary's rows are the ones each version answered; a shadow's are the same rows, scored by
    production (answered) and the candidate (captured beside). None for a side without labelled rows."""
    from sluice.domain.monitoring.drift.live import live_metric

    start = datetime.fromisoformat(state.started_at)
    window = traffic.window(spec.name, start, now, max_rows=0)  # labelled rows only, whatever the size
    labels = window.labels
    if not labels:
        return None, None
    records = window.labelled
    production = [r for r in records if r.get("version") == state.production_version]
    if state.mode == RolloutMode.SHADOW.value:
        candidate = [
            {**r, "outputs": r["shadow"]["outputs"]}
            for r in production
            if isinstance(r.get("shadow"), dict) and "outputs" in r["shadow"]
        ]
    else:
        candidate = [r for r in records if r.get("version") == state.version]

    def scored(rows: list[dict[str, Any]]) -> LabelledScore | None:
        metric = live_metric(spec.task, rows, labels, spec.metric)
        if not metric:
            return None
        value = metric.get(spec.metric.value)
        return LabelledScore(value=None if value is None else float(value), rows=int(metric["labelled_rows"]))

    return scored(candidate), scored(production)


def check_live_rollout(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """Compare the run's candidate with production over its rollout so far and decide: wait, promote,
    or roll back (a breached limit, the deadline, or a rollout ended from outside, e.g. by `sluice
    models promote`). Writes the comparison report (rollout.json and rollout.html beside the card) and
    the rollout's numbers for its metrics (`deps.outcomes`)."""
    from sluice.domain.reports.rollout_html import render_rollout_html
    from sluice.domain.rollout.live import judge

    assert run.rollout is not None and run.version is not None
    alias = deps.registry.get_alias(run.model)
    state = alias.rollout if alias else None
    if state is None or state.version != run.version or state.status is not RolloutStatus.RUNNING:
        mine = state is not None and state.version == run.version
        reason = (
            state.reason
            if mine and state is not None and state.reason
            else "rolled back: the rollout was ended from outside "
            f"(production is version {alias.version if alias else None})"
        )
        return _decided(run, Decision.ROLL_BACK, reason)
    spec = load_spec(run.spec_uri, deps.artifacts)
    now = datetime.now(UTC)
    candidate, production = tallies(deps.registry.rollout_counts(run.model, run.version))
    candidate_score, production_score = labelled_scores(spec, state, deps.traffic, now)
    comparison = judge(
        rollout_limits(spec),
        state,
        candidate=candidate,
        production=production,
        candidate_score=candidate_score,
        production_score=production_score,
        now=now,
    )
    prefix = model_prefix(run.model, run.version)
    report = deps.artifacts.put_json(prefix + REPORT_JSON, comparison.model_dump(mode="json"))
    page = deps.artifacts.put_bytes(
        prefix + REPORT_HTML, render_rollout_html(run.model, comparison).encode(), "text/html"
    )
    deps.outcomes.rollout_checked(
        run.model,
        any(g.breached for g in comparison.guards),
        {
            role: {
                "RolloutRequests": float(tally.requests),
                "RolloutErrorRate": tally.error_rate,
                "RolloutLatencyP99": tally.latency_quantile_ms(0.99),
            }
            for role, tally in (("candidate", comparison.candidate), ("production", comparison.production))
        },
    )
    logger.info(
        "live rollout checked",
        extra={
            "model": run.model,
            "version": run.version,
            "decision": comparison.decision.value,
            "reason": comparison.reason,
        },
    )
    checked = _decided(run, comparison.decision, comparison.reason)
    return checked.model_copy(
        update={"artifacts": run.artifacts | {"rollout_report": report, "rollout_html": page}}
    )


def _decided(run: RunState, decision: Decision, reason: str) -> RunState:
    assert run.rollout is not None
    plan = run.rollout.model_copy(update={"decision": decision.value, "reason": reason})
    return run.model_copy(update={"rollout": plan})


def comparison_of(run: RunState, deps: CoreDeps) -> RolloutComparison | None:
    """The run's last rollout comparison (rollout.json), if a check wrote one."""
    report = run.artifacts.get("rollout_report")
    if report is None:
        return None
    return RolloutComparison.model_validate_json(deps.artifacts.get_verified(report))


def _is_live(run: RunState) -> bool:
    """Whether the run's rollout tries its candidate on live traffic (shadow or canary)."""
    return run.rollout is not None and RolloutMode(run.rollout.mode).is_live


def finished_rollout(run: RunState, deps: CoreDeps) -> RolloutState | None:
    """The alias's rollout of the run's version, marked promoted with the run's reason, for the alias a
    promotion writes (None when the run had no live rollout)."""
    if run.rollout is None or not _is_live(run):
        return None
    alias = deps.registry.get_alias(run.model)
    state = alias.rollout if alias else None
    if state is None or state.version != run.version:
        return None
    return state.model_copy(update={"status": RolloutStatus.PROMOTED, "reason": run.rollout.reason})


def end_live_rollout(run: RunState, reason: str, deps: CoreDeps) -> bool:
    """Take the run's candidate off the production alias (its rollout ends as rolled back, so requests
    stop reaching it); False when it had no running rollout there."""
    if not _is_live(run) or run.version is None:
        return False
    stopped = deps.registry.stop_rollout(run.model, run.version, RolloutStatus.ROLLED_BACK, reason)
    if stopped:
        logger.info(
            "live rollout stopped", extra={"model": run.model, "version": run.version, "reason": reason}
        )
    return stopped
