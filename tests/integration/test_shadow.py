"""A shadow rollout on the local stack: production answers every request exactly as it would alone, the
candidate scores the same instances beside it and its outputs go only to capture; the state machine
compares the two over the rollout (counts, agreement, latency, errors, and the metric on labelled rows
when the spec asks for them) and promotes the candidate with a comparison report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sluice.adapters.traffic import TrafficStore
from sluice.domain.registry.records import EventType
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import Stack
from tests.integration.live_rollout import (
    POLL_LIMIT_SECONDS,
    await_status,
    balanced_batches,
    begin_rollout,
    predict_as,
    rollout_spec,
    send_label,
    train_quietly,
)
from tests.integration.scenario import FIRST, statuses

PER_REQUEST = 5  # instances in each request
ANSWER = ("model", "version", "predictions", "classes", "probabilities")  # an answer but its request id


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    served = stack.local.serve_api(0)
    yield served
    served.stop()


def captured_by_request(stack: Stack, model: str) -> dict[str, list[dict[str, Any]]]:
    """The model's captured records of the last hour, by request id, in instance order (after the
    capture stream's buffer interval has passed)."""
    stack.local.flush_streams()
    now = datetime.now(UTC)
    store = TrafficStore(stack.outputs["ArtifactBucketName"], stack.client("s3"))
    found: dict[str, list[dict[str, Any]]] = {}
    window = store.window(model, now - timedelta(hours=1), now + timedelta(minutes=1), max_rows=100_000)
    for record in window.sample:
        found.setdefault(record["request_id"], []).append(record)
    return {key: sorted(records, key=lambda r: r["instance"]) for key, records in found.items()}


def rollout_report(stack: Stack, model: str, version: int) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        stack.artifacts.get_bytes(stack.artifacts.uri(f"models/{model}/{version}/rollout.json"))
    )
    return report


def await_report(stack: Stack, model: str, candidate_requests: int) -> dict[str, Any]:
    """The report of the first check that has counted `candidate_requests` requests of the candidate
    (looked for again each time the stack has done something)."""

    def counted() -> dict[str, Any] | None:
        if not stack.artifacts.exists(stack.artifacts.uri(f"models/{model}/2/rollout.json")):
            return None
        report = rollout_report(stack, model, 2)
        return report if report["candidate"]["requests"] >= candidate_requests else None

    return stack.local.wait_until(
        counted, what=f"a check of {model} counting {candidate_requests} requests", timeout=POLL_LIMIT_SECONDS
    )


def test_a_shadow_never_changes_an_answer_and_is_promoted_with_its_comparison(
    stack: Stack, api: LocalApi
) -> None:
    model = "it-shadow"
    min_requests = 8
    requests, _ = balanced_batches(min_requests, PER_REQUEST, seed=31)
    # Given version 1 in production, and what it answers alone for each batch of instances
    train_quietly(stack, model, FIRST)
    alone = [predict_as(api, model, f"alone-{i}", batch) for i, batch in enumerate(requests)]
    # and version 2 then in a shadow rollout beside it
    spec = rollout_spec(model, mode="shadow", min_requests=min_requests)
    begin_rollout(stack, model, spec, "shadow")

    # When the same batches arrive, up to the shadow's min_requests
    during = [predict_as(api, model, f"shadow-{i}", batch) for i, batch in enumerate(requests)]

    # Then every answer is version 1's, exactly as it answered alone
    assert [{k: a[k] for k in ANSWER} for a in during] == [{k: a[k] for k in ANSWER} for a in alone]
    assert {a["version"] for a in during} == {1}

    # And the state machine promotes the shadow once it scored min_requests requests
    assert await_status(stack, model, 2, {"production", "rejected", "failed"}) == "production"
    stack.settle()
    assert statuses(stack, model) == {1: "archived", 2: "production"}
    after = [predict_as(api, model, f"after-{i}", batch) for i, batch in enumerate(requests)]
    assert {a["version"] for a in after} == {2}

    # And each captured record holds both versions' outputs: production's answer and the shadow's
    captured = captured_by_request(stack, model)
    agreed = 0
    for i, answer in enumerate(during):
        records = captured[f"shadow-{i}"]
        assert [r["version"] for r in records] == [1] * PER_REQUEST
        assert [r["outputs"]["prediction"] for r in records] == answer["predictions"]
        assert [r["outputs"]["probabilities"] for r in records] == answer["probabilities"]
        shadows = [r["shadow"] for r in records]
        assert {s["version"] for s in shadows} == {2}
        # what the shadow captured is what version 2 answers once in production
        assert [s["outputs"]["prediction"] for s in shadows] == after[i]["predictions"]
        assert [s["outputs"]["probabilities"] for s in shadows] == after[i]["probabilities"]
        agreed += sum(
            s["outputs"]["prediction"] == r["outputs"]["prediction"]
            for s, r in zip(shadows, records, strict=True)
        )
    assert all("shadow" not in r for r in captured["alone-0"])

    # And the comparison report has the counts, agreement, latency and errors of both versions
    report = rollout_report(stack, model, 2)
    assert (report["mode"], report["decision"]) == ("shadow", "promote")
    candidate, production = report["candidate"], report["production"]
    assert (candidate["requests"], candidate["errors"], candidate["instances"]) == (
        min_requests,
        0,
        min_requests * PER_REQUEST,
    )
    assert (production["requests"], production["errors"]) == (min_requests, 0)
    assert candidate["agreed"] == agreed
    assert sum(candidate["latency"].values()) == sum(production["latency"].values()) == min_requests
    assert {g["name"] for g in report["guards"]} >= {"max_error_rate_increase", "max_latency_p99_ratio"}
    page = stack.artifacts.get_bytes(stack.artifacts.uri(f"models/{model}/2/rollout.html")).decode()
    assert "promote" in page and "Shadow rollout" in page
    # and the promotion's audit event carries the comparison's summary
    promoted = [
        e for e in stack.registry.list_events(model) if e.type is EventType.PROMOTED and e.version == 2
    ]
    summary = promoted[0].details["rollout"]
    assert summary["mode"] == "shadow"
    assert summary["agreement"] == pytest.approx(agreed / (min_requests * PER_REQUEST))
    assert summary["candidate"]["requests"] == min_requests
    assert promoted[0].reason is not None and promoted[0].reason.startswith(
        f"promoted after {min_requests} requests in shadow"
    )


def test_a_shadow_that_needs_labelled_rows_waits_for_them_then_judges_on_them(
    stack: Stack, api: LocalApi
) -> None:
    model = "it-shadow-labels"
    rows_needed = 30
    requests, labels = balanced_batches(rows_needed // PER_REQUEST, PER_REQUEST, seed=41)
    # Given version 2 in a shadow rollout that needs 30 labelled rows (and few requests)
    train_quietly(stack, model, FIRST)
    spec = rollout_spec(model, mode="shadow", min_requests=2, min_labelled_rows=rows_needed)
    begin_rollout(stack, model, spec, "shadow")

    # When 30 instances are served, with no label yet
    ids = [f"labelled-{i}" for i in range(len(requests))]
    for request_id, batch in zip(ids, requests, strict=True):
        assert predict_as(api, model, request_id, batch)["version"] == 1

    # Then the checks wait for the labels, though the shadow has scored its min_requests
    waiting = await_report(stack, model, len(requests))
    assert waiting["decision"] == "wait"
    assert f"0 of {rows_needed} labelled rows" in waiting["reason"]
    assert statuses(stack, model)[2] == "shadow"

    # When the true labels of every served instance come back
    for request_id, truths in zip(ids, labels, strict=True):
        for instance, label in enumerate(truths):
            assert send_label(api, model, request_id, instance, label)["instance"] == instance
    stack.local.flush_streams()  # the feedback stream's buffer interval passes

    # Then the next check judges both versions on the same 30 labelled rows, and promotes the shadow
    assert await_status(stack, model, 2, {"production", "rejected", "failed"}) == "production"
    stack.settle()
    report = rollout_report(stack, model, 2)
    assert report["decision"] == "promote"
    assert report["candidate_score"]["rows"] == report["production_score"]["rows"] == rows_needed
    assert report["candidate_score"]["value"] is not None and report["production_score"]["value"] is not None
    metric = {g["name"]: g for g in report["guards"]}["max_metric_drop"]
    assert (
        metric["judged"] is True
        and metric["breached"] is False
        and f"on {rows_needed} and {rows_needed} labelled rows" in metric["sentence"]
    )
    promoted = [
        e for e in stack.registry.list_events(model) if e.type is EventType.PROMOTED and e.version == 2
    ]
    assert promoted[0].details["rollout"]["candidate"]["labelled_rows"] == rows_needed
