"""The Registry port's contract, kept alike by the in-memory registry of the use-case tests and the
DynamoDB registry (on moto, its table as template.yaml declares it): what is read back after each write,
what a missing thing answers, which racing writes are refused, how listings are ordered, which audit
events a write leaves, and which repeats change nothing. Live rollouts and searches:
test_registry_rollout_contract.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sluice.app.ports import Registry
from sluice.domain.registry.records import (
    Artifact,
    AuditEvent,
    EventType,
    ModelMeta,
    Trigger,
    VersionStatus,
    new_event_id,
)
from sluice.domain.rollout.live import RolloutStatus
from sluice.errors import ModelNotFound, PromotionConflict
from tests.unit.contracts.registry_world import (
    EXECUTION,
    MODEL,
    T0,
    allocate,
    dataset,
    event,
    point_production_at,
    promoted,
    rollout,
    spec,
    types,
    version,
)


def test_nothing_written_is_not_found_or_empty(registry: Registry) -> None:
    # Given an empty registry
    # When anything of a model is read, Then a version is ModelNotFound and the rest is None or empty
    with pytest.raises(ModelNotFound):
        registry.get_version(MODEL, 1)
    assert registry.model_meta(MODEL) is None and registry.get_alias(MODEL) is None
    assert registry.current_spec(MODEL) is None and registry.get_dataset(MODEL, "a" * 64) is None
    assert registry.run_version(MODEL, "run-1") is None
    assert registry.list_models() == [] and registry.list_versions(MODEL) == []
    assert registry.list_datasets(MODEL) == [] and registry.list_events(MODEL) == []
    assert registry.list_candidates(MODEL, 1) == [] and registry.rollout_counts(MODEL, 1) == {}


def test_a_version_is_allocated_once_per_run_from_the_models_counter(registry: Registry) -> None:
    # Given two runs allocating versions, the first retried
    first = allocate(registry, "run-1")
    again = allocate(registry, "run-1")
    second = allocate(registry, "run-2")
    # Then the retry gets the same number, the next run the next one, and the counter says so
    assert (first, again, second) == (1, 1, 2)
    assert registry.run_version(MODEL, "run-1") == 1 and registry.run_version(MODEL, "run-2") == 2
    assert registry.model_meta(MODEL) == ModelMeta(model=MODEL, version_counter=2)
    assert registry.list_models() == [ModelMeta(model=MODEL, version_counter=2)]
    # And the version is recorded as training, with what it trains on
    record = registry.get_version(MODEL, 1)
    assert record.status is VersionStatus.TRAINING and record.trigger is Trigger.UPLOAD
    assert (record.execution_arn, record.dataset_sha256, record.spec_sha256) == (
        EXECUTION,
        "d" * 64,
        "s" * 64,
    )
    assert record.created_at == record.updated_at
    # And each allocation (not the retry) left one event naming the version, its run and its data
    events = registry.list_events(MODEL)
    assert [(e.type, e.version) for e in events] == [
        (EventType.VERSION_ALLOCATED, 1),
        (EventType.VERSION_ALLOCATED, 2),
    ]
    assert events[0].execution_arn == EXECUTION and events[0].trigger is Trigger.UPLOAD
    assert events[0].details == {"dataset_sha256": "d" * 64}


def test_models_are_listed_by_name_and_versions_by_number(registry: Registry) -> None:
    # Given models allocated out of name order, and versions decided out of number order
    for model in ("zebra", MODEL, "ants"):
        allocate(registry, "run-1", model)
    for number in (10, 2):
        registry.decide(version(number), event(EventType.REJECTED, number))
    # Then models come by name, versions by number (10 after 2)
    assert [m.model for m in registry.list_models()] == ["ants", MODEL, "zebra"]
    assert [registry.run_version(m, "run-1") for m in ("zebra", MODEL, "ants")] == [1, 1, 1]
    assert [v.version for v in registry.list_versions(MODEL)] == [1, 2, 10]


def test_the_latest_spec_is_current_and_each_registration_is_audited(registry: Registry) -> None:
    # Given two specs registered one after the other
    registry.register_spec(spec("a" * 64), event(EventType.SPEC_REGISTERED))
    registry.register_spec(spec("b" * 64), event(EventType.SPEC_REGISTERED))
    # Then the second is current, on the model's item too, and both were audited
    assert registry.current_spec(MODEL) == spec("b" * 64)
    current = ModelMeta(model=MODEL, current_spec_sha256="b" * 64, current_spec_uri=spec("b" * 64).uri)
    assert registry.model_meta(MODEL) == current and registry.list_models() == [current]
    assert types(registry) == [EventType.SPEC_REGISTERED, EventType.SPEC_REGISTERED]
    # And a version allocated afterwards counts on the same model item
    allocate(registry, "run-1")
    assert registry.model_meta(MODEL) == replace(current, version_counter=1)


def test_a_dataset_is_registered_once_and_datasets_are_listed_by_hash(registry: Registry) -> None:
    # Given datasets registered out of hash order, one with its event
    assert registry.put_dataset(dataset("c" * 64), event(EventType.DATASET_REGISTERED)) is True
    assert registry.put_dataset(dataset("a" * 64)) is True
    # When the first is registered again
    again = registry.put_dataset(dataset("c" * 64), event(EventType.DATASET_REGISTERED))
    # Then nothing is written, not even its event
    assert again is False
    assert types(registry) == [EventType.DATASET_REGISTERED]
    # And each reads back as written, listed by hash
    assert registry.get_dataset(MODEL, "c" * 64) == dataset("c" * 64)
    assert registry.list_datasets(MODEL) == [dataset("a" * 64), dataset("c" * 64)]


def test_a_promotion_happens_only_from_the_expected_production_version(registry: Registry) -> None:
    # Given version 1 promoted when there was no production version
    promoted(registry, 1, expected=None)
    # When another promotion also expects no production version, or a stale one
    with pytest.raises(PromotionConflict, match="expected production version None, found 1"):
        promoted(registry, 2, expected=None)
    with pytest.raises(PromotionConflict, match="expected production version 7, found 1"):
        promoted(registry, 2, expected=7)
    # Then both are refused: version 1 stays in production, the losers left no event
    alias = registry.get_alias(MODEL)
    assert alias is not None and (alias.model, alias.name, alias.version) == (MODEL, "production", 1)
    assert alias.rollout is None
    assert [v.version for v in registry.list_versions(MODEL)] == [1]
    assert types(registry) == [EventType.PROMOTED]


def test_a_promotion_archives_the_version_it_replaces(registry: Registry) -> None:
    # Given version 1 in production and version 2 allocated and trained
    promoted(registry, 1, expected=None)
    # When version 2 is promoted over it, with the rollout that led there
    finished = rollout(2).model_copy(update={"status": RolloutStatus.PROMOTED})
    registry.promote(version(2), expected=1, event=event(EventType.PROMOTED, 2), rollout=finished)
    # Then 2 is production, 1 archived, and the alias carries 2 and the finished rollout
    assert [(v.version, v.status) for v in registry.list_versions(MODEL)] == [
        (1, VersionStatus.ARCHIVED),
        (2, VersionStatus.PRODUCTION),
    ]
    alias = registry.get_alias(MODEL)
    assert alias is not None and alias.version == 2 and alias.rollout == finished
    assert registry.get_version(MODEL, 2).updated_at > T0
    assert types(registry) == [EventType.PROMOTED, EventType.PROMOTED]


def test_a_promotion_over_a_production_version_without_its_item_says_so(registry: Registry) -> None:
    # Given an alias naming version 1, whose item the registry does not have (written by hand)
    point_production_at(registry, 1)
    # When version 2 is promoted over it
    with pytest.raises(ModelNotFound) as refused:
        promoted(registry, 2, expected=1)
    # Then the refusal names the missing version, not a production that moved, and nothing changed
    assert "production version 1 has no version item to archive" in str(refused.value)
    assert "found" not in str(refused.value)
    alias = registry.get_alias(MODEL)
    assert alias is not None and alias.version == 1
    assert registry.list_versions(MODEL) == [] and registry.list_events(MODEL) == []


def test_a_final_decision_is_recorded_once_and_never_over_production(registry: Registry) -> None:
    # Given version 2 rejected, and version 1 in production
    promoted(registry, 1, expected=None)
    rejected = version(2, VersionStatus.REJECTED).model_copy(update={"reason": "gates"})
    registry.decide(rejected, event(EventType.REJECTED, 2))
    # When the rejection is made again (a retried step), and version 1 is decided over
    registry.decide(rejected, event(EventType.REJECTED, 2))
    with pytest.raises(PromotionConflict, match="in production already"):
        registry.decide(version(1, VersionStatus.REJECTED), event(EventType.REJECTED, 1))
    # Then version 2 is rejected once, version 1 stays in production, one rejection is audited
    assert registry.get_version(MODEL, 2).status is VersionStatus.REJECTED
    assert registry.get_version(MODEL, 2).reason == "gates"
    assert registry.get_version(MODEL, 1).status is VersionStatus.PRODUCTION
    assert types(registry) == [EventType.PROMOTED, EventType.REJECTED]


def test_a_non_final_decision_is_recorded_each_time(registry: Registry) -> None:
    # Given a version allocated, When it is decided pending approval twice
    allocate(registry, "run-1")
    pending = registry.get_version(MODEL, 1).model_copy(update={"status": VersionStatus.PENDING_APPROVAL})
    registry.decide(pending, event(EventType.APPROVAL_REQUESTED, 1))
    registry.decide(pending, event(EventType.APPROVAL_REQUESTED, 1))
    # Then it is pending, and both decisions are audited
    assert registry.get_version(MODEL, 1).status is VersionStatus.PENDING_APPROVAL
    assert types(registry).count(EventType.APPROVAL_REQUESTED) == 2


def test_artifacts_set_on_a_version_are_added_to_its_others(registry: Registry) -> None:
    # Given a version with a model artifact
    registry.decide(
        version(1).model_copy(update={"artifacts": {"onnx": Artifact(uri="s3://a/m.onnx", sha256="1" * 64)}}),
        event(EventType.APPROVAL_REQUESTED, 1),
    )
    # When its card is pointed at a rewritten object, twice
    registry.set_version_artifacts(MODEL, 1, {"card": Artifact(uri="s3://a/card1.md", sha256="2" * 64)})
    registry.set_version_artifacts(MODEL, 1, {"card": Artifact(uri="s3://a/card2.md", sha256="3" * 64)})
    # Then it keeps the model artifact and has the latest card
    assert registry.get_version(MODEL, 1).artifacts == {
        "onnx": Artifact(uri="s3://a/m.onnx", sha256="1" * 64),
        "card": Artifact(uri="s3://a/card2.md", sha256="3" * 64),
    }


def test_artifacts_set_on_a_version_there_is_not_are_refused(registry: Registry) -> None:
    # Given version 1 and no version 2
    registry.decide(version(1), event(EventType.APPROVAL_REQUESTED, 1))
    # When version 2's card is pointed at an object
    # Then it is ModelNotFound, as reading version 2 is, and no version 2 was made
    with pytest.raises(ModelNotFound, match="has no version 2"):
        registry.set_version_artifacts(MODEL, 2, {"card": Artifact(uri="s3://a/card.md", sha256="2" * 64)})
    with pytest.raises(ModelNotFound):
        registry.get_version(MODEL, 2)
    assert [v.version for v in registry.list_versions(MODEL)] == [1]


def test_an_event_is_recorded_once_per_marker(registry: Registry) -> None:
    # Given a run's start and a decision recorded, When each is recorded again
    first = registry.record_run_started("run-1", event(EventType.TRAINING_STARTED))
    again = registry.record_run_started("run-1", event(EventType.TRAINING_STARTED))
    once = registry.record_once("BATCH#job-1", event(EventType.BATCH_STARTED))
    twice = registry.record_once("BATCH#job-1", event(EventType.BATCH_STARTED))
    # Then only the first of each is recorded
    assert (first, again, once, twice) == (True, False, True, False)
    assert types(registry) == [EventType.TRAINING_STARTED, EventType.BATCH_STARTED]


def test_a_marker_is_the_models_own(registry: Registry) -> None:
    # Given a marker recorded for one model
    registry.record_once("BATCH#job-1", event(EventType.BATCH_STARTED))
    # When another model records the same marker
    other = AuditEvent(model="other", type=EventType.BATCH_STARTED, id=new_event_id())
    recorded = registry.record_once("BATCH#job-1", other)
    # Then it is recorded for that model too
    assert recorded is True and registry.list_events("other") == [other]


def test_events_are_listed_by_time_then_id_per_model(registry: Registry) -> None:
    # Given events appended out of time order, one of another model
    late = event(EventType.PROMOTED, 2, time="2026-12-01T13:00:00.000000Z")
    early = event(EventType.REJECTED, 1, time="2026-12-01T11:00:00.000000Z")
    same_a = AuditEvent(model=MODEL, type=EventType.APPROVED, id="a", time=T0)
    same_b = AuditEvent(model=MODEL, type=EventType.FAILED, id="b", time=T0)
    for e in (late, same_b, early, same_a):
        registry.append_event(e)
    registry.append_event(AuditEvent(model="other", type=EventType.PROMOTED, id="x", time=T0))
    # Then the model's events come oldest first, ties by id, and read back as appended
    assert registry.list_events(MODEL) == [early, same_a, same_b, late]
