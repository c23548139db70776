"""The Registry port's contract for live rollouts (one at a time on the production alias, stopped once,
counts that add up) and candidate searches, kept alike by the in-memory registry and the DynamoDB
registry on moto (registry_world.py)."""

from __future__ import annotations

import pytest

from sluice.app.ports import Registry
from sluice.domain.registry.records import (
    CandidateRecord,
    EventType,
    VersionStatus,
)
from sluice.domain.rollout.live import RolloutStatus, VersionTally
from sluice.domain.training.search import CandidateScore, Experiment
from sluice.errors import ModelNotFound, PromotionConflict, RolloutBusy
from tests.unit.contracts.registry_world import (
    MODEL,
    T0,
    event,
    promoted,
    rollout,
    types,
    version,
)


def test_one_live_rollout_at_a_time_and_only_against_production(registry: Registry) -> None:
    # Given version 1 in production
    promoted(registry, 1, expected=None)
    before = registry.get_alias(MODEL)
    assert before is not None
    # When version 2 starts a canary, then version 3 tries to, and against a stale production
    registry.start_rollout(version(2, VersionStatus.CANARY), rollout(2), event(EventType.ROLLOUT_STARTED, 2))
    with pytest.raises(RolloutBusy):
        registry.start_rollout(
            version(3, VersionStatus.CANARY), rollout(3), event(EventType.ROLLOUT_STARTED, 3)
        )
    with pytest.raises(PromotionConflict):
        registry.start_rollout(
            version(3, VersionStatus.CANARY), rollout(3, production=7), event(EventType.ROLLOUT_STARTED, 3)
        )
    # Then the alias carries version 2's rollout, version 2 is canary and 3 was never recorded
    alias = registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1 and alias.rollout == rollout(2)
    assert registry.get_version(MODEL, 2).status is VersionStatus.CANARY
    # And the start stamped the version as updated, not the alias: production did not change
    assert alias.updated_at == before.updated_at and registry.get_version(MODEL, 2).updated_at > T0
    with pytest.raises(ModelNotFound):
        registry.get_version(MODEL, 3)
    assert types(registry) == [EventType.PROMOTED, EventType.ROLLOUT_STARTED]
    # And the same rollout started again (a retried step) is accepted
    registry.start_rollout(version(2, VersionStatus.CANARY), rollout(2), event(EventType.ROLLOUT_STARTED, 2))


def test_a_rollout_without_production_is_a_conflict(registry: Registry) -> None:
    # Given no production version, When a rollout starts, Then it is refused
    with pytest.raises(PromotionConflict):
        registry.start_rollout(
            version(2, VersionStatus.SHADOW), rollout(2), event(EventType.ROLLOUT_STARTED, 2)
        )
    assert registry.get_alias(MODEL) is None and registry.list_events(MODEL) == []


def test_a_stop_ends_only_the_running_rollout_it_names(registry: Registry) -> None:
    # Given version 2's canary running against version 1
    promoted(registry, 1, expected=None)
    registry.start_rollout(version(2, VersionStatus.CANARY), rollout(2), event(EventType.ROLLOUT_STARTED, 2))
    started = registry.get_alias(MODEL)
    assert started is not None
    # When another version's rollout is stopped, then version 2's, twice
    other = registry.stop_rollout(MODEL, 3, RolloutStatus.ROLLED_BACK, "not mine")
    stopped = registry.stop_rollout(MODEL, 2, RolloutStatus.ROLLED_BACK, "errors")
    again = registry.stop_rollout(MODEL, 2, RolloutStatus.PROMOTED, "late")
    # Then only the first stop of version 2 ends it, with its status and reason
    assert (other, stopped, again) == (False, True, False)
    alias = registry.get_alias(MODEL)
    assert alias is not None and alias.rollout is not None
    assert (alias.rollout.status, alias.rollout.reason) == (RolloutStatus.ROLLED_BACK, "errors")
    # And the alias still says when production last changed
    assert alias.updated_at == started.updated_at and alias.version == 1
    # And a model without a production version has nothing to stop
    assert registry.stop_rollout("other", 2, RolloutStatus.ROLLED_BACK, "none") is False
    # And once ended, another version's rollout may start
    registry.start_rollout(version(3, VersionStatus.SHADOW), rollout(3), event(EventType.ROLLOUT_STARTED, 3))


def test_the_alias_s_updated_at_moves_only_when_production_changes(registry: Registry) -> None:
    # Given version 1 in production
    promoted(registry, 1, expected=None)
    promoted_at = registry.get_alias(MODEL)
    assert promoted_at is not None
    # When version 2's canary starts and is stopped beside it
    registry.start_rollout(version(2, VersionStatus.CANARY), rollout(2), event(EventType.ROLLOUT_STARTED, 2))
    registry.stop_rollout(MODEL, 2, RolloutStatus.ROLLED_BACK, "errors")
    # Then the alias still says when version 1 became production
    beside = registry.get_alias(MODEL)
    assert beside is not None and beside.updated_at == promoted_at.updated_at
    # And when version 3 is promoted, it says when that happened
    promoted(registry, 3, expected=1)
    replaced = registry.get_alias(MODEL)
    assert replaced is not None and replaced.version == 3 and replaced.updated_at > promoted_at.updated_at


def test_rollout_counts_from_many_containers_add_up_by_role(registry: Registry) -> None:
    # Given two containers' counts for version 2's candidate, and one for production
    registry.add_rollout_counts(
        MODEL, 2, "candidate", VersionTally(requests=3, errors=1, instances=5, agreed=4, latency={2: 3})
    )
    registry.add_rollout_counts(
        MODEL, 2, "candidate", VersionTally(requests=2, instances=2, abs_diff=0.5, latency={2: 1, 5: 1})
    )
    registry.add_rollout_counts(MODEL, 2, "production", VersionTally(requests=1, instances=1, latency={1: 1}))
    registry.add_rollout_counts(MODEL, 3, "candidate", VersionTally(requests=9))
    # Then version 2's counts are their sums, by role, and version 3's are apart
    assert registry.rollout_counts(MODEL, 2) == {
        "candidate": VersionTally(
            requests=5, errors=1, instances=7, agreed=4, abs_diff=0.5, latency={2: 4, 5: 1}
        ),
        "production": VersionTally(requests=1, instances=1, latency={1: 1}),
    }
    assert registry.rollout_counts(MODEL, 3) == {"candidate": VersionTally(requests=9)}


def test_a_search_is_listed_by_candidate_and_recorded_again_unchanged(registry: Registry) -> None:
    # Given a version's search of three candidates, recorded twice (a retried Train step)
    search = Experiment(
        model=MODEL,
        metric="roc_auc",
        higher_is_better=True,
        folds=3,
        rows=100,
        candidates=[candidate(i) for i in (2, 0, 1)],
        chosen=1,
    )
    registry.record_experiment(MODEL, 1, search)
    registry.record_experiment(MODEL, 1, search)
    # Then its candidates come by index, once each, the chosen one marked, each with its scores as
    # recorded (a score without a value, None, too)
    assert registry.list_candidates(MODEL, 1) == [
        CandidateRecord(model=MODEL, version=1, chosen=index == 1, score=candidate(index))
        for index in (0, 1, 2)
    ]
    assert registry.list_candidates(MODEL, 2) == []


def candidate(index: int) -> CandidateScore:
    return CandidateScore(
        index=index,
        algorithm="random_forest",
        params={"max_depth": index + 2},
        folds=3,
        metric="roc_auc",
        mean=0.8,
        std=0.01,
        fold_scores=[0.79, 0.8, 0.81],
        fit_seconds=0.25,
        model_size_bytes=1000,
        latency_ms_single_row=None if index else 0.5,
        error=None if index != 2 else "export failed",
    )
