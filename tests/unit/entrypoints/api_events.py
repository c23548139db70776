"""The API Gateway REST proxy events of `events/` (what `sam local invoke` sends PredictFunction), changed
as a test needs, and the app's answer to one as API Gateway turns it into an HTTP response: for the
in-process route tests (test_api_routes.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from tests.unit.app.test_serving import MODEL

EVENTS = Path(__file__).resolve().parents[3] / "events"


def api_event(name: str, **changes: Any) -> dict[str, Any]:
    """events/<name>.json (an API Gateway REST proxy event, as `sam local invoke` sends it), with
    `changes` replacing its top-level keys."""
    return {**json.loads((EVENTS / f"{name}.json").read_text()), **changes}


def json_body(value: Any) -> dict[str, Any]:
    """The changes that make an event's body `value` as JSON."""
    return {"body": json.dumps(value), "isBase64Encoded": False}


def for_model(name: str, model: str) -> dict[str, Any]:
    """events/<name>.json sent to `model` instead of the events' credit-risk."""
    event = api_event(name)
    return {
        **event,
        "path": event["path"].replace(MODEL, model),
        "pathParameters": {**event["pathParameters"], "model": model},
    }


def event_body(event: dict[str, Any]) -> Any:
    """An event's body as JSON (API Gateway base64-encodes the binary media types' bodies)."""
    body = event["body"]
    return json.loads(base64.b64decode(body) if event["isBase64Encoded"] else body)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: str

    @property
    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json"
        return json.loads(self.body)

    def problems(self) -> list[tuple[int | None, str | None]]:
        """(instance, field) of each detail the error answer names."""
        return [(d["instance"], d["field"]) for d in self.json["details"]]


def send(app: APIGatewayRestResolver, event: dict[str, Any]) -> Answer:
    """The app's answer to `event`, as API Gateway would turn it into an HTTP response."""
    answer = app.resolve(event, LambdaContext())  # the routes never read the invocation's context
    headers = {name.lower(): values[-1] for name, values in answer.get("multiValueHeaders", {}).items()}
    return Answer(answer["statusCode"], headers, answer["body"])


def v2_rows(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows an Open Inference infer request's JSON tensors carry (one [n, 1] tensor per feature)."""
    columns = {tensor["name"]: tensor["data"] for tensor in event_body(event)["inputs"]}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
