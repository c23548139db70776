"""SNS: announcements of quarantined data, rejected specs, promotions and failures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluice.adapters import aws_call, client
from sluice.observability import logger


class Notifier:
    """Publishes to one SNS topic. The client is made on the first publish: most functions that have a
    notifier (every one is given the topic) publish rarely, and PredictFunction never does, so none of
    them pays for an SNS client on its first request."""

    def __init__(self, topic_arn: str | None, sns: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self._sns: Any = sns

    def publish(
        self, subject: str, message: dict[str, Any], attributes: Mapping[str, str] | None = None
    ) -> str | None:
        """Publish a JSON message with the attributes subscribers filter on (`message_attributes`);
        returns the message id (None when no topic is configured)."""
        if not self.topic_arn:
            logger.warning("no notification topic configured", extra={"subject": subject})
            return None
        if self._sns is None:
            self._sns = client("sns")
        clean_subject = " ".join(subject.split())[:100] or "Sluice"
        with aws_call(f"publish to {self.topic_arn}"):
            response = self._sns.publish(
                TopicArn=self.topic_arn,
                Subject=clean_subject,
                Message=json.dumps(message, sort_keys=True, default=str),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in message_attributes(message, attributes).items()
                },
            )
        return str(response["MessageId"])


def message_attributes(message: Mapping[str, Any], attributes: Mapping[str, str] | None) -> dict[str, str]:
    """What a subscription's filter policy can select on, for every message: `model`, `kind` (an
    incident's kind, else the message's event), `severity` (an incident's, else "info"), `state` (open,
    repeat or resolved for an incident, else "notice") and `event`. Empty values are "unknown" (SNS
    refuses an empty attribute)."""
    event = str(message.get("event") or "unknown")
    chosen = {
        "event": event,
        "model": str(message.get("model") or "unknown"),
        "kind": event,
        "severity": "info",
        "state": "notice",
    } | dict(attributes or {})
    return {name: value or "unknown" for name, value in chosen.items()}
