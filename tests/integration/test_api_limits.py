"""The prediction API's limits over HTTP (signed requests to the local front, the real handler behind
it): inputs that used to crash the handler (a 502 through API Gateway) are 4xx with the usual JSON
error, error bodies stay small whatever the request, feedback is checked against the model and the
largest request, and GET /models/{model} shows callers no internals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sluice.adapters.prediction_api import SignedClient, credentials_of
from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import INSTANCE, Stack

MODEL = "it-limits"
ERROR_BODY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[SignedClient]:
    """A signed client of the stack's API, with MODEL trained and promoted (version 1)."""
    stack.train(MODEL, ("first.csv", to_csv_bytes(credit_risk(rows=500, seed=41))))
    served: LocalApi = stack.local.serve_api(0)
    signed = SignedClient(served.url, credentials_of(stack.local.credentials))
    yield signed
    signed.close()
    served.stop()


def post(client: SignedClient, route: str, body: bytes | dict[str, Any]) -> tuple[int, Any, int]:
    """POST JSON to /models/MODEL/<route>: status, parsed body, body size in bytes."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.request(
        "POST", f"/models/{MODEL}/{route}", data, headers={"Content-Type": "application/json"}
    )
    return answer.status, answer.json(), len(answer.body)


def assert_json_error(status: int, body: Any, expected: int, field: str | None = None) -> None:
    assert status == expected, body
    assert isinstance(body["error"], str) and isinstance(body["details"], list)
    if field is not None:
        assert field in {d["field"] for d in body["details"]}, body


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        # an integer literal beyond float64: float() overflowed in the instance checks
        (b'{"instances": [{"income": 1' + b"0" * 310 + b"}]}", "income"),
        # more digits than Python's int-string limit (4,300): json.loads raised ValueError
        (b'{"instances": [{"income": ' + b"9" * 5000 + b"}]}", None),
        # nested ~1,000 levels: RecursionError
        (b'{"instances": [{"income": ' + b"[" * 1000 + b"]" * 1000 + b"}]}", None),
        (b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
    ],
    ids=["int-beyond-float64", "int-over-4300-digits", "nested-1000", "nested-100000"],
)
def test_numbers_and_nesting_json_allows_are_a_400(
    client: SignedClient, raw: bytes, field: str | None
) -> None:
    status, body, _ = post(client, "predict", raw)
    assert_json_error(status, body, 400, field)


def test_feedback_with_a_huge_instance_or_an_unsafe_request_id_is_a_400(client: SignedClient) -> None:
    # Given a served request
    status, answer, _ = post(client, "predict", {"instances": [INSTANCE]})
    assert status == 200
    # When its instance number has more digits than Python converts / Then 400, not a crash
    huge = b'{"request_id": "%s", "instance": %s, "label": 1}' % (answer["request_id"].encode(), b"7" * 5000)
    assert_json_error(*post(client, "feedback", huge)[:2], 400)
    # When the request id would become an odd S3 key / Then 400 naming request_id
    for request_id in ["\n", "../../x", "a/b", "x" * 129, "", " "]:
        status, body, _ = post(client, "feedback", {"request_id": request_id, "label": 1})
        assert_json_error(status, body, 400, "request_id")


def test_error_bodies_are_bounded_whatever_the_request(client: SignedClient) -> None:
    # Given 1,000 instances with 100 unknown fields each (~1 MB), which used to get a 7 MB answer
    wide = {**INSTANCE, **{f"unknown_field_{j:03d}": "v" * 8 for j in range(100)}}
    status, body, size = post(client, "predict", {"instances": [wide] * 1000})
    # Then the first 100 problems are named and the rest counted, in a small body
    assert_json_error(status, body, 400, "unknown_field_000")
    assert len(body["details"]) == 100 and body["truncated"] == 1000 * 100 - 100
    assert size < ERROR_BODY_LIMIT
    # Given long values and long field names, which used to be echoed whole
    long = "x" * 1_000_000
    status, body, size = post(client, "predict", {"instances": [{**INSTANCE, "segment": long, long: 1}]})
    # Then the category is refused for its length and the field name is cut short
    assert_json_error(status, body, 400, "segment")
    messages = {d["field"]: d["message"] for d in body["details"]}
    assert "longer than 256" in messages["segment"]
    assert all(len(d["field"]) <= 81 for d in body["details"])
    assert size < ERROR_BODY_LIMIT


@pytest.mark.parametrize(
    ("label", "accepted"),
    [
        (1, True),
        (0, True),
        ("1", True),
        (2, False),
        ("yes", False),
        (True, False),
        (0.5, False),
        (None, False),
    ],
)
def test_feedback_labels_must_be_classes_of_the_model(
    client: SignedClient, label: Any, accepted: bool
) -> None:
    status, answer, _ = post(client, "predict", {"instances": [INSTANCE, INSTANCE]})
    assert status == 200
    status, body, _ = post(
        client, "feedback", {"request_id": answer["request_id"], "instance": 1, "label": label}
    )
    if accepted:
        assert status == 200, body
        assert body == {"model": MODEL, "request_id": answer["request_id"], "instance": 1}
    else:
        assert_json_error(status, body, 400, "label")


def test_feedback_instance_must_be_below_the_largest_request(client: SignedClient) -> None:
    # Given a served request of two instances
    status, answer, _ = post(client, "predict", {"instances": [INSTANCE, INSTANCE]})
    assert status == 200
    # When a label is sent for an instance no request can have (MaxInstances is 1000) / Then 400 naming it
    status, body, _ = post(
        client, "feedback", {"request_id": answer["request_id"], "instance": 1000, "label": 1}
    )
    assert_json_error(status, body, 400, "instance")
    assert "must be below 1000" in body["details"][0]["message"]
    # When the request id was never captured (capture is sampled, and delivered minutes later) / Then
    # the label is accepted: the drift check joins labels with capture when it reads a window
    status, body, _ = post(client, "feedback", {"request_id": "never-captured-1", "instance": 5, "label": 0})
    assert (status, body) == (200, {"model": MODEL, "request_id": "never-captured-1", "instance": 5})
    # And an unknown model is a 404
    answer = client.request(
        "POST",
        "/models/nobody/feedback",
        {"request_id": "r-1", "label": 1},
        {"Content-Type": "application/json"},
    )
    assert answer.status == 404


def test_the_model_view_shows_no_internals(client: SignedClient, stack: Stack) -> None:
    answer = client.request("GET", f"/models/{MODEL}")
    assert answer.status == 200
    detail = answer.json()
    text = answer.body.decode()
    # No S3 locations, execution ARNs or account ids; the public projection instead
    assert "s3://" not in text and "arn:aws" not in text and "123456789012" not in text
    assert stack.outputs["ArtifactBucketName"] not in text
    production = detail["production"]
    assert production["version"] == 1 and production["status"] == "production"
    assert production["metrics"]["roc_auc"] > 0.6
    assert len(production["dataset_sha256"]) == 64 and len(production["model_sha256"]) == 64
    assert production["trained_at"] and production["promoted_at"]
    assert detail["classes"] == [0, 1] and detail["outputs"] == ["label", "probabilities"]
    listing = client.request("GET", "/models")
    assert listing.status == 200 and "s3://" not in listing.body.decode()
