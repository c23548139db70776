"""A canary rollout on the local stack: the candidate answers the share of requests a stable hash of
their id gives it (responses name the version), a retried id lands on the same version, the state
machine checks the counts PredictFunction adds to the registry every `check_seconds` and promotes the
candidate, or rolls it back automatically when it is made worse on purpose."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sluice.domain.registry.records import EventType, VersionStatus
from sluice.domain.rollout.live import scores_on_candidate
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import Stack
from tests.integration.live_rollout import WEIGHT, await_status, predict_as, start_canary
from tests.integration.scenario import statuses


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    served = stack.local.serve_api(0)
    yield served
    served.stop()


@pytest.mark.slow
def test_a_canary_answers_its_share_of_requests_stably_and_is_promoted(stack: Stack, api: LocalApi) -> None:
    model = "it-canary"
    ids = [f"split-{i}" for i in range(400)]
    routed = [scores_on_candidate(i, 2, WEIGHT) for i in ids]
    retried = ids[:20]
    # min_requests is reached only by the last, deliberate requests
    extra = [i for i in (f"more-{n}" for n in range(200)) if scores_on_candidate(i, 2, WEIGHT)][:15]
    min_requests = sum(routed) + sum(routed[:20]) + len(extra)

    # Given version 2 in a canary rollout beside version 1
    start_canary(stack, model, min_requests)
    alias = stack.registry.get_alias(model)
    assert alias is not None and alias.version == 1
    assert alias.rollout is not None and (alias.rollout.mode, alias.rollout.version) == ("canary", 2)

    # When 400 requests with distinct ids arrive
    versions = [predict_as(api, model, i)["version"] for i in ids]

    # Then each is answered by the version its id's hash gives it, and the share is the canary's weight
    assert versions == [2 if r else 1 for r in routed]
    share = versions.count(2) / len(versions)
    assert abs(share - WEIGHT) < 4 * (WEIGHT * (1 - WEIGHT) / len(ids)) ** 0.5
    # and a retried request lands on the same version
    assert [predict_as(api, model, i)["version"] for i in retried] == versions[:20]
    assert statuses(stack, model)[2] == "canary"

    # When the canary has served its min_requests
    for request_id in extra:
        assert predict_as(api, model, request_id)["version"] == 2

    # Then the state machine promotes it, the alias keeps how the rollout ended, and it is audited
    (first, second) = stack.executions_of(model)[-2:]
    assert (first["status"], second["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert statuses(stack, model) == {1: "archived", 2: "production"}
    alias = stack.registry.get_alias(model)
    assert alias is not None and alias.version == 2
    assert alias.rollout is not None and alias.rollout.status.value == "promoted"
    counts = stack.registry.rollout_counts(model, 2)
    assert counts["candidate"].requests == min_requests and counts["candidate"].errors == 0
    assert counts["production"].requests == len(ids) + len(retried) - min_requests + len(extra)
    events = {e.type: e for e in stack.registry.list_events(model) if e.version == 2}
    assert events[EventType.ROLLOUT_STARTED].details["weight"] == WEIGHT
    promoted = events[EventType.PROMOTED]
    assert promoted.reason is not None and promoted.reason.startswith(
        f"promoted after {min_requests} requests in canary"
    )
    assert promoted.details["rollout"]["candidate"]["requests"] == min_requests
    report = json.loads(stack.artifacts.get_bytes(stack.artifacts.uri(f"models/{model}/2/rollout.json")))
    assert report["decision"] == "promote"
    # And the production version now answers every request
    assert {predict_as(api, model, i)["version"] for i in ids[:30]} == {2}


def test_a_canary_made_worse_on_purpose_is_rolled_back_automatically(stack: Stack, api: LocalApi) -> None:
    model = "it-canary-bad"
    # Given version 2 in a canary rollout whose model file was then damaged (it fails its sha256 check)
    start_canary(stack, model, min_requests=10_000)
    key = f"models/{model}/2/model.onnx"
    stack.client("s3").put_object(Bucket=stack.outputs["ArtifactBucketName"], Key=key, Body=b"not a model")

    # When requests arrive, some of them routed to the canary
    ids = [f"bad-{i}" for i in range(60)]
    versions = [predict_as(api, model, i)["version"] for i in ids]

    # Then every client still gets an answer, from production
    assert versions == [1] * len(ids)
    assert any(scores_on_candidate(i, 2, WEIGHT) for i in ids)
    # and the next check rolls the canary back: rejected with the breached limit, production untouched
    assert await_status(stack, model, 2, {"rejected", "production", "failed"}) == "rejected"
    stack.settle()
    rejected = stack.registry.get_version(model, 2)
    assert rejected.status is VersionStatus.REJECTED
    assert rejected.reason is not None and rejected.reason.startswith(
        "rolled back: max_error_rate_increase breached"
    )
    alias = stack.registry.get_alias(model)
    assert alias is not None and alias.version == 1
    assert alias.rollout is not None and alias.rollout.status.value == "rolled_back"
    assert stack.registry.rollout_counts(model, 2)["candidate"].errors >= 1
    rejection = [
        e for e in stack.registry.list_events(model) if e.type is EventType.REJECTED and e.version == 2
    ]
    assert rejection[0].details["rollout"]["candidate"]["error_rate"] == 1.0
    # And requests no longer reach it
    assert {predict_as(api, model, i)["version"] for i in ids} == {1}
