"""A live rollout on the in-memory ports, the state machine's side and a person's: StartRollout puts the
candidate on the production alias beside version 1, CheckRollout judges the counts serving added, and
Promote, Reject or Fail end it; `sluice models show` and `sluice models reject` see and stop it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sluice.app.data.stored import model_prefix
from sluice.app.registry.catalog import show_model
from sluice.app.rollout import plan as rollout
from sluice.app.rollout.live import REPORT_HTML, REPORT_JSON
from sluice.domain.registry.records import EventType, RunState, VersionStatus
from sluice.domain.rollout.live import CANDIDATE, PRODUCTION, RolloutStatus, VersionTally
from sluice.errors import PromotionConflict, RolloutBusy, SluiceError
from tests.unit.app.fakes import BOB, FakePorts
from tests.unit.app.test_rollout import gated_run
from tests.unit.app.test_steps import MODEL, SPEC_TEXT, step

LIMITS = "min_requests: 20, check_seconds: 60, timeout_hours: 2"
CANARY_SPEC = SPEC_TEXT + f"rollout: {{mode: canary, weight: 0.5, {LIMITS}}}\n"
SHADOW_SPEC = SPEC_TEXT + f"rollout: {{mode: shadow, {LIMITS}}}\n"


def with_production(fakes: FakePorts) -> None:
    """Version 1 of the model in production."""
    fakes.train_version(MODEL, {"model": ("model.onnx", b"version 1")})
    fakes.put_in_production(MODEL, 1)


def planned(fakes: FakePorts, spec_text: str = CANARY_SPEC, name: str = "run") -> RunState:
    """A run whose version passed its gates against production (version 1), through PlanRollout."""
    run = gated_run(fakes, spec_text, name).model_copy(update={"champion_version": 1})
    return step(fakes, "plan_rollout", run, name)


def started(fakes: FakePorts, spec_text: str = CANARY_SPEC, name: str = "run") -> RunState:
    """Version 1 in production and the run's version 2 in a live rollout beside it."""
    with_production(fakes)
    return step(fakes, "start_rollout", planned(fakes, spec_text, name), name)


def add_counts(fakes: FakePorts, role: str, requests: int, errors: int = 0, version: int = 2) -> None:
    """What serving adds to the registry: `requests` requests of the role, `errors` of them failed."""
    tally = VersionTally()
    for i in range(requests):
        tally.add(milliseconds=None if i < errors else 5.0, error=i < errors, instances=int(i >= errors))
    fakes.registry.add_rollout_counts(MODEL, version, role, tally)


def checked(fakes: FakePorts, run: RunState, name: str = "run") -> RunState:
    return step(fakes, "check_rollout", run, name)


# --------------------------------------------------------------------------------------------- StartRollout
@pytest.mark.parametrize(
    ("spec_text", "mode", "weight"), [(CANARY_SPEC, "canary", 0.5), (SHADOW_SPEC, "shadow", 1.0)]
)
def test_start_puts_the_candidate_beside_production(
    fakes: FakePorts, spec_text: str, mode: str, weight: float
) -> None:
    # When StartRollout runs for a version that passed its gates against version 1
    run = started(fakes, spec_text)
    # Then the alias still serves 1 and carries the rollout of 2, on the spec's share of requests
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1 and alias.rollout is not None
    live = alias.rollout
    assert (live.mode, live.version, live.production_version, live.weight, live.status) == (
        mode,
        2,
        1,
        weight,
        RolloutStatus.RUNNING,
    )
    assert live.started_at < live.deadline
    # And the version is in shadow or canary, with its evaluation, the run waiting for the first check
    version = fakes.registry.get_version(MODEL, 2)
    assert version.status is VersionStatus(mode)
    assert version.metrics == {"roc_auc": 0.8}
    assert version.reason is not None and version.reason.startswith(f"{mode} beside version 1")
    assert (run.status, run.rollout and run.rollout.decision) == (VersionStatus(mode), "wait")
    # And it is audited with its limits, and announced
    event = fakes.registry.list_events(MODEL)[-1]
    assert (event.type, event.version, event.from_version) == (EventType.ROLLOUT_STARTED, 2, 1)
    assert event.details["limits"]["min_requests"] == 20
    subject, message = fakes.notifier.published[-1]
    assert subject == f"Sluice: {MODEL} version 2 is in {mode}"
    assert (message["status"], message["production_version"]) == (mode, 1)


def test_a_first_version_has_nothing_to_compare_with_and_is_promoted(fakes: FakePorts) -> None:
    # Given a run with no production version
    run = step(fakes, "plan_rollout", gated_run(fakes, CANARY_SPEC), "first")
    # When StartRollout runs / Then it decides to promote at once, and nothing is tried live
    run = step(fakes, "start_rollout", run, "first")
    assert run.rollout is not None and run.rollout.decision == "promote"
    assert fakes.registry.get_alias(MODEL) is None
    assert EventType.ROLLOUT_STARTED not in fakes.registry.event_types(MODEL)
    # And Promote makes it production, with no rollout on the alias
    step(fakes, "promote", run, "first")
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and (alias.version, alias.rollout) == (1, None)


def test_a_start_run_again_by_its_execution_keeps_the_rollout_and_audits_it_once(fakes: FakePorts) -> None:
    # Given version 2 in canary, started by its run's StartRollout
    run = planned(fakes)
    with_production(fakes)
    first = step(fakes, "start_rollout", run, "run")
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.rollout is not None
    began = alias.rollout
    # When the same step runs again (its answer was lost, so Step Functions runs it again)
    again = step(fakes, "start_rollout", run, "run")
    # Then the rollout runs as it was started (same start, same deadline), started and announced once
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.rollout == began
    assert fakes.registry.event_types(MODEL).count(EventType.ROLLOUT_STARTED) == 1
    assert len([s for s, _ in fakes.notifier.published if s.endswith("is in canary")]) == 1
    assert (again.status, again.rollout and again.rollout.decision) == (first.status, "wait")


def test_one_live_rollout_at_a_time(fakes: FakePorts) -> None:
    # Given version 2 in canary
    started(fakes, name="first")
    # When another run's version 3 tries to start its own
    other = planned(fakes, name="second")
    assert other.version == 3
    with pytest.raises(RolloutBusy):
        step(fakes, "start_rollout", other, "second")
    # Then version 2's rollout is untouched
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.rollout is not None and alias.rollout.version == 2
    assert fakes.registry.get_version(MODEL, 3).status is VersionStatus.TRAINING


def test_start_refuses_when_production_moved_since_evaluation(fakes: FakePorts) -> None:
    with_production(fakes)
    run = planned(fakes)
    fakes.train_version(MODEL, {"model": ("model.onnx", b"version 3")})
    fakes.put_in_production(MODEL, 3)
    with pytest.raises(PromotionConflict):
        step(fakes, "start_rollout", run, "run")
    assert fakes.registry.get_version(MODEL, 2).status is VersionStatus.TRAINING


# --------------------------------------------------------------------------------------------- CheckRollout
def test_check_waits_for_traffic_and_writes_its_report(fakes: FakePorts) -> None:
    # Given a canary that has answered 5 requests
    run = started(fakes)
    add_counts(fakes, CANDIDATE, 5)
    # When CheckRollout runs / Then it waits for the rest, and the report says so
    run = checked(fakes, run)
    assert run.rollout is not None
    assert (run.rollout.decision, run.rollout.reason) == ("wait", "waiting for 5 of 20 requests")
    prefix = model_prefix(MODEL, 2)
    report = fakes.artifacts.json(prefix + REPORT_JSON)
    assert (report["decision"], report["candidate"]["requests"]) == ("wait", 5)
    assert run.artifacts["rollout_report"].uri == fakes.artifacts.uri(prefix + REPORT_JSON)
    assert fakes.artifacts.content_types[fakes.artifacts.uri(prefix + REPORT_HTML)] == "text/html"
    # And the check's numbers are reported for the entry point's metrics: no limit breached
    ((model, breached, roles),) = fakes.outcomes.rollouts
    assert (model, breached, roles["candidate"]["RolloutRequests"]) == (MODEL, False, 5.0)


def test_check_promotes_a_candidate_with_enough_healthy_requests(fakes: FakePorts) -> None:
    run = started(fakes)
    add_counts(fakes, CANDIDATE, 12)
    add_counts(fakes, CANDIDATE, 8)  # another container's
    add_counts(fakes, PRODUCTION, 25)
    run = checked(fakes, run)
    assert run.rollout is not None and run.rollout.decision == "promote"
    assert run.rollout.reason is not None and run.rollout.reason.startswith(
        "promoted after 20 requests in canary"
    )


def test_check_rolls_back_a_candidate_that_fails_requests(fakes: FakePorts) -> None:
    run = started(fakes)
    add_counts(fakes, CANDIDATE, 10, errors=3)
    add_counts(fakes, PRODUCTION, 10)
    run = checked(fakes, run)
    assert run.rollout is not None and run.rollout.decision == "roll_back"
    assert run.rollout.reason is not None
    assert run.rollout.reason.startswith("rolled back: max_error_rate_increase breached, error rate 30.00%")
    assert [breached for _, breached, _ in fakes.outcomes.rollouts] == [True]


def test_check_rolls_back_a_rollout_stopped_from_outside_with_its_reason(fakes: FakePorts) -> None:
    # Given a canary a person stopped (sluice models reject)
    run = started(fakes)
    rollout.refuse(fakes.deps(), MODEL, 2, by=BOB, reason="too slow")
    # When CheckRollout runs / Then it rolls back with the person's reason
    run = checked(fakes, run)
    assert run.rollout is not None
    assert (run.rollout.decision, run.rollout.reason) == ("roll_back", f"rolled back by {BOB.arn}: too slow")


def test_check_rolls_back_when_production_moved_under_the_rollout(fakes: FakePorts) -> None:
    # Given a canary, and someone promoting another version meanwhile (the alias loses the rollout)
    run = started(fakes)
    fakes.train_version(MODEL, {"model": ("model.onnx", b"version 3")})
    fakes.put_in_production(MODEL, 3)
    run = checked(fakes, run)
    assert run.rollout is not None
    assert (run.rollout.decision, run.rollout.reason) == (
        "roll_back",
        "rolled back: the rollout was ended from outside (production is version 3)",
    )


def shadow_traffic(fakes: FakePorts, rows: int) -> None:
    """`rows` requests production (version 1) answered with the shadow's outputs captured beside, each
    labelled: production ranks every row rightly, the shadow every row wrongly."""
    time = datetime.now(UTC).isoformat()
    for i in range(rows):
        truth, sure = i % 2, 0.6 + 0.3 * i / rows
        right = [1 - sure, sure] if truth else [sure, 1 - sure]
        records = [
            {
                "request_id": f"r{i}",
                "instance": 0,
                "time": time,
                "model": MODEL,
                "version": 1,
                "inputs": {},
                "outputs": {"prediction": truth, "probabilities": right},
                "shadow": {"version": 2, "outputs": {"prediction": 1 - truth, "probabilities": right[::-1]}},
            }
        ]
        fakes.traffic.write(MODEL, f"r{i}", records)
        fakes.traffic.put_feedback(MODEL, f"r{i}", 0, truth)


def test_check_scores_a_shadow_on_the_labelled_rows_production_answered(fakes: FakePorts) -> None:
    # Given a shadow that predicted every labelled row wrongly where production was right
    run = started(fakes, SHADOW_SPEC)
    shadow_traffic(fakes, 40)
    # When CheckRollout runs
    run = checked(fakes, run)
    # Then both versions are scored on the same 40 rows, and the shadow is rolled back for its metric
    report = fakes.artifacts.json(model_prefix(MODEL, 2) + REPORT_JSON)
    assert report["candidate_score"] == {"value": 0.0, "rows": 40}
    assert report["production_score"] == {"value": 1.0, "rows": 40}
    assert run.rollout is not None and run.rollout.reason is not None
    assert run.rollout.reason.startswith("rolled back: max_metric_drop breached, roc_auc 0.000")


def test_a_metric_on_too_few_labelled_rows_is_not_judged(fakes: FakePorts) -> None:
    run = started(fakes, SHADOW_SPEC)
    shadow_traffic(fakes, 29)
    run = checked(fakes, run)
    assert run.rollout is not None and run.rollout.decision == "wait"
    assert fakes.artifacts.json(model_prefix(MODEL, 2) + REPORT_JSON)["candidate_score"]["rows"] == 29


# -------------------------------------------------------------------------------- Promote, Reject, Fail
def test_promote_after_a_live_rollout_marks_it_promoted_and_audits_the_comparison(
    fakes: FakePorts,
) -> None:
    # Given a canary the check decided to promote
    run = started(fakes)
    add_counts(fakes, CANDIDATE, 20)
    add_counts(fakes, PRODUCTION, 30)
    run = checked(fakes, run)
    # When Promote runs
    promoted = step(fakes, "promote", run, "run")
    # Then version 2 is production and the alias keeps its rollout, ended as promoted with the reason
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 2 and alias.rollout is not None
    assert run.rollout is not None
    assert (alias.rollout.status, alias.rollout.reason) == (RolloutStatus.PROMOTED, run.rollout.reason)
    assert fakes.registry.get_version(MODEL, 1).status is VersionStatus.ARCHIVED
    # And the audit event carries the comparison's summary
    event = fakes.registry.list_events(MODEL)[-1]
    assert (event.type, event.reason, promoted.reason) == (
        EventType.PROMOTED,
        run.rollout.reason,
        run.rollout.reason,
    )
    summary = event.details["rollout"]
    assert summary["mode"] == "canary"
    assert (summary["candidate"]["requests"], summary["production"]["requests"]) == (20, 30)


def test_reject_after_a_roll_back_ends_the_rollout_and_rejects_the_version(fakes: FakePorts) -> None:
    # Given a canary the check rolled back
    run = started(fakes)
    add_counts(fakes, CANDIDATE, 10, errors=5)
    run = checked(fakes, run)
    assert run.rollout is not None and run.rollout.reason is not None
    # When Reject runs
    step(fakes, "reject", run, "run")
    # Then requests stop reaching it (the rollout ended as rolled back), production is untouched
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1 and alias.rollout is not None
    assert (alias.rollout.status, alias.rollout.reason) == (RolloutStatus.ROLLED_BACK, run.rollout.reason)
    # And the version is rejected with the check's reason, the comparison in the audit event
    version = fakes.registry.get_version(MODEL, 2)
    assert (version.status, version.reason) == (VersionStatus.REJECTED, run.rollout.reason)
    event = fakes.registry.list_events(MODEL)[-1]
    assert event.type is EventType.REJECTED
    assert event.details["rollout"]["candidate"]["error_rate"] == 0.5


def test_fail_during_a_rollout_takes_the_candidate_off_the_alias(fakes: FakePorts) -> None:
    run = started(fakes).model_copy(update={"error": {"Error": "States.Timeout", "Cause": "check timed out"}})
    step(fakes, "fail", run, "run")
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.rollout is not None
    assert (alias.rollout.status, alias.rollout.reason) == (
        RolloutStatus.ROLLED_BACK,
        "States.Timeout: check timed out",
    )
    assert fakes.registry.get_version(MODEL, 2).status is VersionStatus.FAILED


# ---------------------------------------------------------------------------- what a person sees and does
def test_show_model_describes_the_running_canary(fakes: FakePorts) -> None:
    started(fakes)
    add_counts(fakes, CANDIDATE, 7, errors=2)
    add_counts(fakes, PRODUCTION, 9)
    detail = show_model(fakes.registry, MODEL)
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.rollout is not None
    assert detail.rollout == {
        "mode": "canary",
        "version": 2,
        "weight": 0.5,
        "requests": 7,
        "errors": 2,
        "status": "running",
        "production_version": 1,
        "started_at": alias.rollout.started_at,
        "deadline": alias.rollout.deadline,
        "reason": None,
    }


def test_rejecting_a_canary_stops_its_rollout_and_audits_who(fakes: FakePorts) -> None:
    # Given a canary
    started(fakes)
    # When a person rejects it
    event = rollout.refuse(fakes.deps(), MODEL, 2, by=BOB, reason=" too slow ")
    # Then requests stop reaching it at once, with who and why, and the refusal is audited
    alias = fakes.registry.get_alias(MODEL)
    assert alias is not None and alias.rollout is not None
    assert (alias.rollout.status, alias.rollout.reason) == (
        RolloutStatus.ROLLED_BACK,
        f"rolled back by {BOB.arn}: too slow",
    )
    assert (event.type, event.version, event.by) == (EventType.APPROVAL_REFUSED, 2, BOB.arn)
    assert fakes.registry.list_events(MODEL)[-1] == event
    assert fakes.executions.answers == []  # no task waits on a token during a live rollout
    # And rejecting it again is an error: there is nothing left to stop
    with pytest.raises(SluiceError, match="not running"):
        rollout.refuse(fakes.deps(), MODEL, 2, by=BOB, reason="again")
