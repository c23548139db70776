"""Reading and steering the registry on the in-memory ports: the model list and detail, manual promotion
and rollback through the same conditional write and audit trail as the state machine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sluice.app.data.stored import spec_key
from sluice.app.registry.catalog import list_models, promote_version, rollback, rollback_target, show_model
from sluice.domain.registry.incidents import Finding, IncidentKind, IncidentState, opened
from sluice.domain.registry.records import (
    AuditEvent,
    EventType,
    ModelVersion,
    SpecRecord,
    Trigger,
    VersionStatus,
    new_event_id,
    utc_now,
)
from sluice.errors import ArtifactCorrupt, ModelNotFound, SluiceError
from tests.unit.app.fakes import ALICE, BOB, FakePorts

SPEC_SHA = "5" * 64


def store_spec(fakes: FakePorts, model: str, metric: str = "roc_auc") -> None:
    """The model's current spec, naming its primary metric."""
    uri = fakes.artifacts.put_bytes(
        spec_key(model, SPEC_SHA), f"name: {model}\nmetric: {metric}\n".encode()
    ).uri
    fakes.registry.register_spec(
        SpecRecord(
            model=model, sha256=SPEC_SHA, uri=uri, source_key=f"{model}/spec.yaml", created_at=utc_now()
        ),
        AuditEvent(model=model, type=EventType.SPEC_REGISTERED, id=new_event_id()),
    )


def trained(fakes: FakePorts, model: str, metrics: dict[str, float | None] | None = None) -> ModelVersion:
    """A new version of `model` with its model file stored and its metrics, not decided yet."""
    onnx = f"onnx of version {len(fakes.registry.list_versions(model)) + 1}".encode()  # bytes of its own
    return fakes.train_version(model, {"model": ("model.onnx", onnx)}, spec_sha256=SPEC_SHA, metrics=metrics)


def decided(fakes: FakePorts, model: str, status: VersionStatus, **metrics: float | None) -> int:
    """A version decided as `status`: rejected by its gates, or a candidate (which no run leaves today,
    but an operator may promote)."""
    record = trained(fakes, model, metrics).model_copy(update={"status": status})
    fakes.registry.decide(
        record, AuditEvent(model=model, type=EventType.REJECTED, id=new_event_id(), version=record.version)
    )
    return record.version


def promoted(fakes: FakePorts, model: str, **metrics: float | None) -> int:
    """A version the state machine put in production (the one before it is archived)."""
    record = trained(fakes, model, metrics)
    alias = fakes.registry.get_alias(model)
    fakes.registry.promote(
        record,
        expected=alias.version if alias else None,
        event=AuditEvent(model=model, type=EventType.PROMOTED, id=new_event_id(), to_version=record.version),
    )
    return record.version


def production(fakes: FakePorts, model: str) -> int | None:
    alias = fakes.registry.get_alias(model)
    return alias.version if alias else None


# Reading


def test_models_are_listed_with_production_and_its_primary_metric_first(fakes: FakePorts) -> None:
    # Given "zeta" with version 2 of 2 in production, and "alpha" with one rejected version only
    store_spec(fakes, "zeta", metric="roc_auc")
    promoted(fakes, "zeta", accuracy=0.8, roc_auc=0.85)
    promoted(fakes, "zeta", accuracy=0.82, roc_auc=0.9, f1=0.7)
    store_spec(fakes, "alpha")
    decided(fakes, "alpha", VersionStatus.REJECTED, roc_auc=0.5)
    # When the models are listed with the artifacts at hand
    summaries = list_models(fakes.registry, fakes.artifacts)
    # Then they come in the registry's order, each with its production and latest version
    assert [(s.model, s.production_version, s.latest_version, s.versions) for s in summaries] == [
        ("alpha", None, 1, 1),
        ("zeta", 2, 2, 2),
    ]
    # And production's metrics lead with the spec's primary metric, then the others by name
    zeta = summaries[1]
    assert zeta.metric == "roc_auc" and list(zeta.metrics) == ["roc_auc", "accuracy", "f1"]
    assert zeta.metrics["roc_auc"] == 0.9 and zeta.current_spec_sha256 == SPEC_SHA
    assert summaries[0].metric is None and summaries[0].metrics == {}


def test_models_without_artifacts_or_a_readable_spec_list_metrics_by_name(fakes: FakePorts) -> None:
    # Given a model in production whose stored spec is no longer readable YAML
    store_spec(fakes, "zeta")
    promoted(fakes, "zeta", roc_auc=0.9, accuracy=0.8)
    fakes.artifacts.put_bytes(spec_key("zeta", SPEC_SHA), b"metric: [unclosed")
    # When the models are listed, with and without the artifacts
    (unread,) = list_models(fakes.registry, fakes.artifacts)
    (bare,) = list_models(fakes.registry)
    # Then without a primary metric the metrics go by name, and without artifacts there are none
    assert unread.metric is None and list(unread.metrics) == ["accuracy", "roc_auc"]
    assert bare.production_version == 1 and bare.metric is None and bare.metrics == {}


def test_a_model_is_shown_with_production_versions_and_audit_trail(fakes: FakePorts) -> None:
    # Given a model with a version in production and a later rejected one
    store_spec(fakes, "zeta", metric="accuracy")
    promoted(fakes, "zeta", accuracy=0.8)
    decided(fakes, "zeta", VersionStatus.REJECTED, accuracy=0.6)
    # When it is shown
    detail = show_model(fakes.registry, "zeta", fakes.artifacts)
    # Then production is version 1 with when it became production, every version is listed in order,
    # and the audit trail and the current spec's primary metric come along
    alias = fakes.registry.get_alias("zeta")
    assert detail.production is not None and alias is not None
    assert detail.production["version"] == 1 and detail.production["since"] == alias.updated_at
    assert [(v["version"], v["status"]) for v in detail.versions] == [(1, "production"), (2, "rejected")]
    assert [e["type"] for e in detail.events] == [t.value for t in fakes.registry.event_types("zeta")]
    assert detail.metric == "accuracy" and detail.incidents == []


def test_a_model_is_shown_with_its_open_incidents_in_words(fakes: FakePorts) -> None:
    # Given a model in production with an open drift incident and a resolved live-metric one
    store_spec(fakes, "zeta", metric="accuracy")
    promoted(fakes, "zeta", accuracy=0.8)
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    drift = Finding(kind=IncidentKind.DRIFT, present=True, summary="drifted: income")
    live = Finding(kind=IncidentKind.LIVE_METRIC, present=True)
    fakes.registry.record_incident(opened("zeta", 1, drift, at, None), None)
    gone = opened("zeta", 1, live, at, None)
    fakes.registry.record_incident(gone.announced(IncidentState.RESOLVED, 1, at, live, None), None)
    # When it is shown
    detail = show_model(fakes.registry, "zeta", fakes.artifacts)
    # Then the open incident is listed, in words
    assert [(i["kind"], i["words"]) for i in detail.incidents] == [
        (
            "drift",
            "drift in zeta (v1, severity medium), open since 2026-12-01 12:00 UTC; announced once, last "
            "2026-12-01 12:00 UTC: drifted: income",
        )
    ]


def test_an_unknown_model_cannot_be_shown(fakes: FakePorts) -> None:
    with pytest.raises(ModelNotFound, match="no model named 'nope'"):
        show_model(fakes.registry, "nope")


# Steering


def test_a_candidate_is_promoted_with_an_audit_event(fakes: FakePorts) -> None:
    # Given version 1 in production and version 2 a candidate
    promoted(fakes, "zeta")
    candidate = decided(fakes, "zeta", VersionStatus.CANDIDATE)
    # When an operator promotes version 2
    event = promote_version(fakes.registry, fakes.artifacts, "zeta", candidate, by=ALICE)
    # Then it is production, version 1 is archived, and the audit trail says who moved what
    assert production(fakes, "zeta") == 2
    assert fakes.registry.get_version("zeta", 1).status is VersionStatus.ARCHIVED
    assert (event.type, event.from_version, event.to_version) == (EventType.PROMOTED, 1, 2)
    assert event.trigger is Trigger.MANUAL and event.reason == "manual promotion"
    assert (event.by, event.note) == (ALICE.arn, None)
    assert fakes.registry.list_events("zeta")[-1] == event


def test_a_rejected_version_is_not_promoted(fakes: FakePorts) -> None:
    # Given version 1 in production and version 2 rejected by its gates
    promoted(fakes, "zeta")
    rejected = decided(fakes, "zeta", VersionStatus.REJECTED)
    # When an operator tries to promote version 2 / Then it is refused, saying why
    with pytest.raises(SluiceError, match="version 2 is rejected; only candidate or archived versions"):
        promote_version(fakes.registry, fakes.artifacts, "zeta", rejected, by=ALICE)
    assert production(fakes, "zeta") == 1


def test_a_version_whose_model_file_was_tampered_with_is_not_promoted(fakes: FakePorts) -> None:
    # Given a candidate whose model file no longer matches the sha256 the registry recorded
    promoted(fakes, "zeta")
    candidate = decided(fakes, "zeta", VersionStatus.CANDIDATE)
    fakes.artifacts.put_bytes(f"models/zeta/{candidate}/model.onnx", b"something else")
    # When an operator promotes it / Then the integrity check refuses, and production stays
    with pytest.raises(ArtifactCorrupt, match=r"model\.onnx: sha256 \w+ != recorded"):
        promote_version(fakes.registry, fakes.artifacts, "zeta", candidate, by=ALICE)
    assert production(fakes, "zeta") == 1
    assert fakes.registry.event_types("zeta").count(EventType.PROMOTED) == 1


def test_the_version_in_production_is_not_promoted_again(fakes: FakePorts) -> None:
    current = promoted(fakes, "zeta")
    with pytest.raises(SluiceError, match="version 1 is already in production"):
        promote_version(fakes.registry, fakes.artifacts, "zeta", current, by=ALICE)


def test_a_version_without_a_model_file_is_not_promoted(fakes: FakePorts) -> None:
    # Given a candidate with no model artifact recorded
    record = trained(fakes, "zeta").model_copy(update={"status": VersionStatus.CANDIDATE, "artifacts": {}})
    fakes.registry.decide(record, AuditEvent(model="zeta", type=EventType.REJECTED, id=new_event_id()))
    # When promoted / Then refused: it could not serve
    with pytest.raises(SluiceError, match="has no model artifact; it cannot serve"):
        promote_version(fakes.registry, fakes.artifacts, "zeta", record.version, by=ALICE)
    assert production(fakes, "zeta") is None


def test_rollback_returns_to_the_previous_production_version(fakes: FakePorts) -> None:
    # Given versions 1 and 2 were production in turn, 3 was rejected, and 4 is production now
    promoted(fakes, "zeta")
    promoted(fakes, "zeta")
    decided(fakes, "zeta", VersionStatus.REJECTED)
    promoted(fakes, "zeta")
    # When an operator rolls back
    assert rollback_target(fakes.registry, "zeta") == 2
    event = rollback(fakes.registry, fakes.artifacts, "zeta", by=BOB, reason="bad answers", note="INC-7")
    # Then version 2 is production again, 4 is archived, and the audit trail has the rollback
    assert production(fakes, "zeta") == 2
    assert fakes.registry.get_version("zeta", 4).status is VersionStatus.ARCHIVED
    assert (event.type, event.from_version, event.to_version) == (EventType.ROLLED_BACK, 4, 2)
    assert event.reason == "bad answers" and event.trigger is Trigger.MANUAL
    assert (event.by, event.note) == (BOB.arn, "INC-7")
    assert fakes.registry.list_events("zeta")[-1] == event


def test_rollback_without_a_reason_says_rollback(fakes: FakePorts) -> None:
    promoted(fakes, "zeta")
    promoted(fakes, "zeta")
    assert rollback(fakes.registry, fakes.artifacts, "zeta", by=BOB).reason == "rollback"


def test_rollback_without_a_previous_version_is_refused(fakes: FakePorts) -> None:
    # Given only version 1 was ever in production (version 2 was rejected)
    promoted(fakes, "zeta")
    decided(fakes, "zeta", VersionStatus.REJECTED)
    # When an operator rolls back / Then it is refused and production stays
    with pytest.raises(SluiceError, match="zeta has no earlier production version than 1"):
        rollback(fakes.registry, fakes.artifacts, "zeta", by=BOB)
    assert production(fakes, "zeta") == 1


def test_rollback_without_production_is_refused(fakes: FakePorts) -> None:
    decided(fakes, "zeta", VersionStatus.CANDIDATE)
    with pytest.raises(ModelNotFound, match="zeta has no production version to roll back from"):
        rollback_target(fakes.registry, "zeta")
