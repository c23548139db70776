"""Live data quality on the local stack: signed requests, some rejected by validation, go through the
real capture path (the handler hands them to the capture extension, which puts them to Firehose when
the environment shuts down); the scheduled drift check then counts the rejections in its report's
`data_quality`, says in words which field they were for, and the dashboard charts the reject rate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sluice.app.registry.dashboard import INDEX_JSON
from sluice.domain.registry.dashboard import Dashboard
from sluice.tools.local.api.gateway import LocalApi
from sluice.tools.local.firehose.buffers import delivery
from tests.integration.conftest import INSTANCE, Stack
from tests.integration.local_api import delivered, signed_request
from tests.integration.scenario import FIRST

MODEL = "it-quality"


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    """The stack's API over HTTP with MODEL trained and promoted (version 1, with its baseline)."""
    stack.train(MODEL, FIRST)
    served = stack.local.serve_api(0)
    yield served
    served.stop()


def predict(api: LocalApi, instances: Any, model: str = MODEL) -> tuple[int, Any]:
    response = signed_request(api, "POST", f"/models/{model}/predict", {"instances": instances})
    return response.status, response.json()


def test_rejected_requests_are_captured_counted_by_the_check_and_named_in_words(
    api: LocalApi, stack: Stack
) -> None:
    # Given the version's baseline stored at training, beside its model
    version = stack.registry.get_version(MODEL, 1)
    assert {"statistics", "constraints"} <= set(version.artifacts)
    statistics = json.loads(stack.artifacts.get_verified(version.artifacts["statistics"]))
    assert {c["name"] for c in statistics["columns"]} >= {"income", "segment"}
    stack.local.flush_streams()
    logged = len(stack.local.function_log("DriftFunction"))
    # When 8 valid requests are served, 3 are rejected for a missing `income`, 1 for an unknown field,
    # and 1 names a model that does not exist
    no_income = {k: v for k, v in INSTANCE.items() if k != "income"}
    answers = [predict(api, [INSTANCE]) for _ in range(8)]
    answers += [predict(api, [INSTANCE, no_income]) for _ in range(3)]
    answers += [predict(api, [INSTANCE | {"colour": "red"}])]
    unknown = predict(api, [no_income], model="no-such-model")
    # Then the answers are what they always were
    assert [status for status, _ in answers] == [200] * 8 + [400] * 4 and unknown[0] == 404
    assert answers[8][1]["details"] == [{"instance": 1, "field": "income", "message": "is required"}]
    # And the handler sent no rejection to Firehose on the request path: they wait in the extension
    delivery().flush()
    assert not [
        r for records in delivered(stack, f"capture/{MODEL}/").values() for r in records if "rejected" in r
    ]
    # When the environment shuts down (its capture extension flushes to Firehose)
    stack.local.flush_streams()
    # Then capture holds one rejection line per rejected request, and nothing for the unknown model
    lines = [r for records in delivered(stack, f"capture/{MODEL}/").values() for r in records]
    rejections = [r for r in lines if "rejected" in r]
    assert (
        sorted(p["field"] for r in rejections for p in r["rejected"]["problems"])
        == ["colour"] + ["income"] * 3
    )
    assert rejections[0]["inputs"] in (no_income, INSTANCE | {"colour": "red"})  # sampled at 100%
    assert delivered(stack, "capture/no-such-model/") == {}

    # When the scheduled drift check runs
    payload = stack.scheduled_check()
    check = next(c for c in payload["checked"] if c["model"] == MODEL)
    # Then its report's data_quality counts the 4 rejections of 12 requests, by field and kind
    report = json.loads(stack.artifacts.get_bytes(check["report_uri"]))
    quality = report["data_quality"]
    assert (quality["requests"]["rejected"], quality["requests"]["total"]) == (4, 12)
    assert check["reject_rate"] == pytest.approx(4 / 12)
    top = quality["rejections"][0]
    assert (top["field"], top["kind"], top["requests"]) == ("income", "missing", 3)
    # And says it in words, naming the field; the reject-rate constraint is a violation the metric counts
    assert quality["summary"][0].startswith("33% of requests in the last ")
    assert "most for a missing `income`" in quality["summary"][0]
    assert "reject_rate" in {v["check"] for v in quality["violations"]}
    assert check["data_quality_violations"] == len(quality["violations"]) and quality["baseline"] is True
    emitted = "".join(stack.local.function_log("DriftFunction")[logged:])
    assert '"RejectedRequestRate"' in emitted and '"DataQualityViolations"' in emitted
    # And the dashboard charts it
    dashboard = Dashboard.model_validate_json(stack.artifacts.get_bytes(stack.artifacts.uri(INDEX_JSON)))
    point = next(s for s in dashboard.models if s.model == MODEL).drift[-1]
    assert point.reject_rate == pytest.approx(4 / 12) and point.quality_summary == quality["summary"]
