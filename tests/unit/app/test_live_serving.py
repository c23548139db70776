"""Serving during a live rollout, with two real ONNX versions of the credit-risk model: a canary answers
the requests its hash gives it, a shadow scores production's requests for capture only, a failing
candidate never fails a request production can answer, and each version's requests are tallied and
added to the registry's counts (never raising when the registry is down)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from sluice.app.serving.live import RolloutTally, serve
from sluice.app.serving.production import Deployment, ServedModel, predict
from sluice.domain.candidate import train_candidate
from sluice.domain.data.features import Feed
from sluice.domain.data.table import RawTable
from sluice.domain.rollout.live import CANDIDATE, PRODUCTION, RolloutState, VersionTally, scores_on_candidate
from sluice.domain.scoring.onnx_model import ModelOutputs, OnnxModel
from sluice.errors import InvalidRequest
from sluice.tools.example_data import credit_risk
from tests.unit.app.fake_registry import InMemoryRegistry
from tests.unit.app.fakes import RecordedOutcomes
from tests.unit.app.test_serving import INSTANCE, MODEL, SPEC, Clock

MAX_INSTANCES = 100
IDS = [f"request-{i}" for i in range(60)]
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def model_files() -> dict[int, bytes]:
    """Versions 1 and 2 of the model, trained on different samples (so they disagree now and then)."""
    files = {}
    for version in (1, 2):
        candidate = train_candidate(
            SPEC, credit_risk(800, seed=version), dataset_sha256="0" * 64, version=str(version)
        )
        assert candidate.onnx_model is not None
        files[version] = candidate.onnx_model
    return files


@pytest.fixture(scope="module")
def production(model_files: dict[int, bytes]) -> ServedModel:
    return ServedModel(MODEL, 1, OnnxModel(model_files[1]))


@pytest.fixture(scope="module")
def candidate(model_files: dict[int, bytes]) -> ServedModel:
    return ServedModel(MODEL, 2, OnnxModel(model_files[2]))


@pytest.fixture(scope="module")
def broken(model_files: dict[int, bytes]) -> ServedModel:
    """Version 2 loaded, but failing every inference (what an onnxruntime error looks like)."""
    return ServedModel(MODEL, 2, FailingModel(model_files[2]))


class FailingModel(OnnxModel):
    def run(self, feed: Feed) -> ModelOutputs:
        raise RuntimeError("onnxruntime: out of memory")

    def run_table(self, table: RawTable) -> ModelOutputs:
        raise RuntimeError("onnxruntime: out of memory")


def rollout(mode: str, weight: float = 0.5) -> RolloutState:
    return RolloutState(
        mode=mode,
        version=2,
        production_version=1,
        weight=weight,
        started_at=(NOW - timedelta(hours=1)).isoformat(),
        deadline=(NOW + timedelta(hours=1)).isoformat(),
    )


def instances(n: int, seed: int = 5) -> list[dict[str, Any]]:
    """`n` varied instances of the model's features, as clients send them."""
    rng = np.random.default_rng(seed)
    return [
        {
            "income": float(rng.lognormal(10.8, 0.5)),
            "age": int(rng.integers(18, 80)),
            "debt_ratio": float(rng.uniform(0, 2)),
            "credit_lines": int(rng.integers(0, 15)),
            "segment": str(rng.choice(["retail", "sme", "corporate"])),
        }
        for _ in range(n)
    ]


def counts(registry: InMemoryRegistry) -> dict[str, VersionTally]:
    return registry.rollout_counts(MODEL, 2)


class DownCounter:
    """A registry that fails `failures` writes, then adds counts as the real one does."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.registry = InMemoryRegistry()

    def add_rollout_counts(self, model: str, version: int, role: str, tally: VersionTally) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("DynamoDB is throttling")
        self.registry.add_rollout_counts(model, version, role, tally)


# --------------------------------------------------------------------------------------------- no rollout
def test_without_a_rollout_production_answers_and_nothing_is_tallied(production: ServedModel) -> None:
    registry = InMemoryRegistry()
    answer = serve(
        Deployment(production),
        [INSTANCE],
        request_id="r1",
        max_instances=MAX_INSTANCES,
        tally=RolloutTally(registry, 0),
    )
    assert answer.body == predict(production, [INSTANCE], max_instances=MAX_INSTANCES, request_id="r1")
    assert answer.shadow is None
    assert registry.counts == {}


# ------------------------------------------------------------------------------------------------ canary
def test_a_canary_answers_the_requests_its_hash_gives_it(
    production: ServedModel, candidate: ServedModel
) -> None:
    # Given a canary on half the requests
    registry = InMemoryRegistry()
    deployment = Deployment(production, rollout("canary"), candidate)
    tally = RolloutTally(registry, 0)
    # When 60 requests of two instances arrive
    versions = {
        rid: serve(deployment, [INSTANCE, INSTANCE], request_id=rid, max_instances=MAX_INSTANCES, tally=tally)
        for rid in IDS
    }
    # Then each is answered by the version its hash names, and nothing goes to capture as a shadow
    chosen = [rid for rid in IDS if scores_on_candidate(rid, 2, 0.5)]
    assert 0 < len(chosen) < len(IDS)
    assert {rid: a.body["version"] for rid, a in versions.items()} == {
        rid: 2 if rid in chosen else 1 for rid in IDS
    }
    assert all(a.shadow is None for a in versions.values())
    # And each role's requests are counted, with their instances and latencies
    tallies = counts(registry)
    assert (tallies[CANDIDATE].requests, tallies[CANDIDATE].instances) == (len(chosen), 2 * len(chosen))
    assert tallies[PRODUCTION].requests == len(IDS) - len(chosen)
    assert (tallies[CANDIDATE].errors, tallies[PRODUCTION].errors) == (0, 0)
    assert tallies[CANDIDATE].timed == len(chosen)


def test_a_retried_request_gets_the_same_version(production: ServedModel, candidate: ServedModel) -> None:
    deployment = Deployment(production, rollout("canary"), candidate)
    tally = RolloutTally(InMemoryRegistry(), 0)
    first = [serve(deployment, [INSTANCE], request_id=r, max_instances=9, tally=tally).body for r in IDS]
    again = [serve(deployment, [INSTANCE], request_id=r, max_instances=9, tally=tally).body for r in IDS]
    assert [b["version"] for b in first] == [b["version"] for b in again]


@pytest.mark.parametrize("failure", ["raises", "not loaded"])
def test_a_failing_canary_leaves_the_answer_to_production_and_counts_an_error(
    production: ServedModel, broken: ServedModel, failure: str
) -> None:
    # Given a canary on every request whose model raises, or could not be loaded at all
    registry = InMemoryRegistry()
    deployment = Deployment(production, rollout("canary", 1.0), broken if failure == "raises" else None)
    outcomes = RecordedOutcomes()
    # When a request arrives
    tally = RolloutTally(registry, 0, outcomes=outcomes)
    answer = serve(deployment, [INSTANCE], request_id="r1", max_instances=MAX_INSTANCES, tally=tally)
    # Then production answers it, and the candidate's failed request is counted (untimed)
    assert answer.body == predict(production, [INSTANCE], max_instances=MAX_INSTANCES, request_id="r1")
    tallies = counts(registry)
    assert (tallies[CANDIDATE].requests, tallies[CANDIDATE].errors, tallies[CANDIDATE].timed) == (1, 1, 0)
    assert PRODUCTION not in tallies
    assert outcomes.counted == ["rollout_candidate_error"]


@pytest.mark.parametrize(("mode", "weight"), [("canary", 1.0), ("canary", 1e-9), ("shadow", 1.0)])
def test_a_client_error_is_raised_and_counted_for_neither_version(
    production: ServedModel, candidate: ServedModel, mode: str, weight: float
) -> None:
    # Given a rollout that gives the request to the candidate, or to production
    registry = InMemoryRegistry()
    deployment = Deployment(production, rollout(mode, weight), candidate)
    # When a client sends an instance neither version can score
    bad = [INSTANCE | {"income": "a lot"}]
    outcomes = RecordedOutcomes()
    tally = RolloutTally(registry, 0, outcomes=outcomes)
    with pytest.raises(InvalidRequest, match="problem"):
        serve(deployment, bad, request_id="r1", max_instances=MAX_INSTANCES, tally=tally)
    # Then the client hears why, and neither version is blamed for it
    assert registry.counts == {}
    assert outcomes.counted == []


# ------------------------------------------------------------------------------------------------ shadow
def test_a_shadow_never_changes_the_answer_and_returns_its_outputs_for_capture(
    production: ServedModel, candidate: ServedModel
) -> None:
    # Given a shadow on every request, and a request of many instances (where the versions disagree)
    registry = InMemoryRegistry()
    batch = instances(80)
    alone = predict(production, batch, max_instances=MAX_INSTANCES, request_id="r1")
    mine = predict(candidate, batch, max_instances=MAX_INSTANCES, request_id="r1")
    # When it is served
    answer = serve(
        Deployment(production, rollout("shadow", 1.0), candidate),
        batch,
        request_id="r1",
        max_instances=MAX_INSTANCES,
        tally=RolloutTally(registry, 0),
    )
    # Then the body is production's alone, and the shadow's outputs come beside it with its version
    assert answer.body == alone
    assert answer.shadow == {
        "version": 2,
        "predictions": mine["predictions"],
        "probabilities": mine["probabilities"],
    }
    # And both versions scored the request, the shadow's agreement with production counted
    agreed = sum(a == b for a, b in zip(mine["predictions"], alone["predictions"], strict=True))
    assert 0 < agreed <= len(batch)
    tallies = counts(registry)
    assert (tallies[CANDIDATE].requests, tallies[CANDIDATE].instances) == (1, 80)
    assert tallies[CANDIDATE].agreed == agreed
    assert (tallies[PRODUCTION].requests, tallies[PRODUCTION].instances) == (1, 80)


def test_a_shadow_scores_only_the_requests_its_hash_gives_it(
    production: ServedModel, candidate: ServedModel
) -> None:
    registry = InMemoryRegistry()
    deployment = Deployment(production, rollout("shadow", 0.5), candidate)
    tally = RolloutTally(registry, 0)
    answers = {
        r: serve(deployment, [INSTANCE], request_id=r, max_instances=MAX_INSTANCES, tally=tally) for r in IDS
    }
    chosen = {r for r in IDS if scores_on_candidate(r, 2, 0.5)}
    assert {r for r, a in answers.items() if a.shadow is not None} == chosen
    assert all(a.body["version"] == 1 for a in answers.values())
    assert (counts(registry)[CANDIDATE].requests, counts(registry)[PRODUCTION].requests) == (len(chosen), 60)


def test_a_failing_shadow_leaves_the_answer_alone_and_counts_an_error(
    production: ServedModel, broken: ServedModel
) -> None:
    registry = InMemoryRegistry()
    answer = serve(
        Deployment(production, rollout("shadow", 1.0), broken),
        [INSTANCE],
        request_id="r1",
        max_instances=MAX_INSTANCES,
        tally=RolloutTally(registry, 0),
    )
    assert answer.body == predict(production, [INSTANCE], max_instances=MAX_INSTANCES, request_id="r1")
    assert answer.shadow == {"version": 2, "error": "RuntimeError: onnxruntime: out of memory"}
    tallies = counts(registry)
    assert (tallies[CANDIDATE].requests, tallies[CANDIDATE].errors) == (1, 1)
    assert (tallies[PRODUCTION].requests, tallies[PRODUCTION].errors) == (1, 0)


# ------------------------------------------------------------------------------------------ RolloutTally
def test_counts_are_added_once_flush_seconds_have_passed() -> None:
    # Given a container's tally flushing every 60 seconds
    registry, clock = InMemoryRegistry(), Clock()
    tally = RolloutTally(registry, 60, clock)
    tally.record(MODEL, 2, CANDIDATE, milliseconds=3.0, instances=1)
    # When less than 60 seconds have passed / Then nothing is written yet
    clock.now = 59.9
    tally.flush_if_due()
    assert registry.counts == {}
    # When they have / Then the pending counts are added, and not twice
    tally.record(MODEL, 2, CANDIDATE, milliseconds=None, error=True)
    clock.now = 60.0
    tally.flush_if_due()
    tally.flush_if_due()
    assert (counts(registry)[CANDIDATE].requests, counts(registry)[CANDIDATE].errors) == (2, 1)


def test_a_failed_write_keeps_its_counts_for_the_next_flush_and_never_raises() -> None:
    # Given a registry that fails the first write
    counter, clock = DownCounter(failures=1), Clock()
    outcomes = RecordedOutcomes()
    tally = RolloutTally(counter, 10, clock, outcomes=outcomes)
    tally.record(MODEL, 2, CANDIDATE, milliseconds=1.0, instances=1)
    clock.now = 10
    # When the counts are due / Then nothing is raised, the failure is counted and nothing written
    tally.flush_if_due()
    assert counter.registry.counts == {}
    assert outcomes.counted == ["rollout_count_failure"]
    # When the next flush succeeds / Then it carries the kept counts with the new ones
    tally.record(MODEL, 2, CANDIDATE, milliseconds=1.0, instances=2)
    clock.now = 20
    tally.flush_if_due()
    kept = counter.registry.rollout_counts(MODEL, 2)[CANDIDATE]
    assert (kept.requests, kept.instances, kept.timed) == (2, 3, 2)
