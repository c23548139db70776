"""A canary judged on the labels that come back, and a canary a person stops, on the local stack: true
labels fed back through POST /models/<m>/feedback are joined with the captured traffic of each version,
so a canary whose labelled metric drops is rolled back automatically; `sluice models reject` ends a
running canary at once, and `sluice models show` shows it while it runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.adapters.identity import caller_principal
from sluice.domain.registry.records import EventType, VersionStatus
from sluice.domain.rollout.live import scores_on_candidate
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import Stack
from tests.integration.live_rollout import (
    WEIGHT,
    await_status,
    balanced_batches,
    begin_rollout,
    predict_as,
    rollout_spec,
    send_label,
    start_canary,
    train_quietly,
)
from tests.integration.scenario import FIRST, statuses
from tests.integration.test_manual_approval import cli

PER_REQUEST = 5  # instances in each request
REQUESTS_PER_VERSION = 8  # 40 labelled rows each, above min_labelled_rows


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    served = stack.local.serve_api(0)
    yield served
    served.stop()


def request_ids(prefix: str, on_candidate: bool, count: int) -> list[str]:
    """`count` request ids the canary (version 2) answers, or production answers."""
    ids = (f"{prefix}-{n}" for n in range(10_000))
    return [i for i in ids if scores_on_candidate(i, 2, WEIGHT) == on_candidate][:count]


def test_a_canary_whose_labels_say_it_is_worse_is_rolled_back(stack: Stack, api: LocalApi) -> None:
    model = "it-canary-labels"
    # Given version 2 in a canary judged on 30 labelled rows, with a small allowed drop of its metric
    train_quietly(stack, model, FIRST)
    spec = rollout_spec(
        model, mode="canary", weight=WEIGHT, min_requests=10_000, min_labelled_rows=30, max_metric_drop=0.05
    )
    begin_rollout(stack, model, spec, "canary")

    # When each version answers 8 requests of 5 instances (the request ids choose the version)
    batches, truths = balanced_batches(2 * REQUESTS_PER_VERSION, PER_REQUEST, seed=51)
    canary_ids = request_ids("labels", True, REQUESTS_PER_VERSION)
    production_ids = request_ids("labels", False, REQUESTS_PER_VERSION)
    served = {
        request_id: predict_as(api, model, request_id, batch)
        for request_id, batch in zip(canary_ids + production_ids, batches, strict=True)
    }
    assert [served[i]["version"] for i in canary_ids] == [2] * REQUESTS_PER_VERSION
    assert [served[i]["version"] for i in production_ids] == [1] * REQUESTS_PER_VERSION
    canary_predictions = [p for i in canary_ids for p in served[i]["predictions"]]
    assert set(canary_predictions) == {0, 1}  # so the labels below hold both classes

    # and the labels that come back are true for production's answers, the opposite of the canary's
    labels = dict(zip(canary_ids + production_ids, truths, strict=True))
    for request_id in canary_ids:
        labels[request_id] = [1 - p for p in served[request_id]["predictions"]]
    for request_id, batch_labels in labels.items():
        for instance, label in enumerate(batch_labels):
            assert send_label(api, model, request_id, instance, label)["instance"] == instance
    stack.local.flush_streams()  # the feedback stream's buffer interval passes

    # Then a check rolls the canary back on its labelled metric, and production is untouched
    assert await_status(stack, model, 2, {"rejected", "production", "failed"}) == "rejected"
    stack.settle()
    rejected = stack.registry.get_version(model, 2)
    assert rejected.reason is not None and rejected.reason.startswith("rolled back: max_metric_drop breached")
    alias = stack.registry.get_alias(model)
    assert alias is not None and alias.version == 1
    assert alias.rollout is not None and alias.rollout.status.value == "rolled_back"
    report = json.loads(stack.artifacts.get_bytes(stack.artifacts.uri(f"models/{model}/2/rollout.json")))
    assert report["decision"] == "roll_back"
    assert report["candidate_score"]["rows"] >= 30 and report["production_score"]["rows"] >= 30
    assert report["candidate_score"]["value"] < report["production_score"]["value"] - 0.05
    breached = {g["name"] for g in report["guards"] if g["breached"]}
    assert "max_metric_drop" in breached and "max_error_rate_increase" not in breached
    rejection = [
        e for e in stack.registry.list_events(model) if e.type is EventType.REJECTED and e.version == 2
    ]
    assert rejection[0].details["rollout"]["candidate"]["labelled_rows"] >= 30
    # And requests no longer reach it
    assert {predict_as(api, model, i)["version"] for i in canary_ids} == {1}


def test_a_person_stops_a_running_canary_at_once(
    stack: Stack, api: LocalApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = "it-canary-labels-stop"
    # Given version 2 in a canary that answered some requests
    start_canary(stack, model, min_requests=10_000)
    canary_ids = request_ids("stop", True, 6)
    assert [predict_as(api, model, i)["version"] for i in canary_ids] == [2] * 6

    # When an operator looks at the model
    code, out = cli(stack, tmp_path, capsys, "show", model, "--json")

    # Then the running canary is shown with its share and the requests it answered
    assert code == 0, out
    rollout = json.loads(out)["rollout"]
    assert {k: rollout[k] for k in ("mode", "version", "weight", "requests", "status")} == {
        "mode": "canary",
        "version": 2,
        "weight": WEIGHT,
        "requests": 6,
        "status": "running",
    }
    assert rollout["production_version"] == 1

    # When the operator rejects the canary
    code, out = cli(
        stack,
        tmp_path,
        capsys,
        "reject",
        model,
        "2",
        "--reason",
        "a partner reported errors",
        "--note",
        "ops",
    )
    assert code == 0, out

    # Then the very next requests go to production
    assert [predict_as(api, model, i)["version"] for i in canary_ids] == [1] * 6
    # and the run ends with version 2 rejected for the operator's reason, production untouched
    assert await_status(stack, model, 2, {"rejected", "production", "failed"}) == "rejected"
    assert stack.executions_of(model)[-1]["status"] == "SUCCEEDED"
    rejected = stack.registry.get_version(model, 2)
    assert rejected.status is VersionStatus.REJECTED
    principal = caller_principal().arn  # who the CLI's credentials are, as STS answers
    assert rejected.reason == f"rolled back by {principal}: a partner reported errors"
    assert statuses(stack, model) == {1: "production", 2: "rejected"}
    alias = stack.registry.get_alias(model)
    assert alias is not None and alias.version == 1
    assert alias.rollout is not None and alias.rollout.status.value == "rolled_back"
    refused = [e for e in stack.registry.list_events(model) if e.type is EventType.APPROVAL_REFUSED]
    assert [(e.version, e.by, e.note) for e in refused] == [(2, principal, "ops")]
