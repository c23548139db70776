"""Traffic through a local stack's PredictFunction as API Gateway would send it (events/api-*.json for
any model), labels sent back by feedback, and the scheduled drift check that reads them."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import ROOT, Stack

EVENTS = ROOT / "events"


def api_event(name: str, model: str, body: Any) -> dict[str, Any]:
    """events/<name>.json for another model and body, as API Gateway would send it."""
    text = (
        (EVENTS / f"{name}.json")
        .read_text(encoding="utf-8")
        .replace("/models/credit-risk/", f"/models/{model}/")
    )
    event: dict[str, Any] = json.loads(text)
    event["pathParameters"] = {"model": model}
    event["body"] = json.dumps(body)
    return event


def serve_and_label(
    stack: Stack, model: str, instances: list[dict[str, Any]], labels: list[Any], every: int = 3
) -> str:
    """One request of `instances` through PredictFunction, then feedback with the label of every
    `every`-th instance; returns the request's id."""
    served = stack.local.invoke("PredictFunction", api_event("api-predict", model, {"instances": instances}))
    assert served.payload["statusCode"] == 200, served.payload
    request_id = str(json.loads(served.payload["body"])["request_id"])
    for instance in range(0, len(instances), every):
        feedback = {"request_id": request_id, "instance": instance, "label": labels[instance]}
        answered = stack.local.invoke("PredictFunction", api_event("api-feedback", model, feedback))
        assert answered.payload["statusCode"] == 200, answered.payload
    return request_id


def scheduled_check(stack: Stack, model: str) -> dict[str, Any]:
    """Time passes (the streams flush), then DriftFunction answers events/drift-scheduled.json: the
    model's check."""
    stack.local.flush_streams()
    schedule = json.loads((EVENTS / "drift-scheduled.json").read_text(encoding="utf-8"))
    checked = stack.local.invoke("DriftFunction", schedule)
    assert checked.error is None, checked.error
    (check,) = [c for c in checked.payload["checked"] if c["model"] == model]
    return dict(check)
