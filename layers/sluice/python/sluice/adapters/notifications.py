"""SNS: announcements of quarantined data, rejected specs, promotions and failures."""

from __future__ import annotations

import json
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

    def publish(self, subject: str, message: dict[str, Any]) -> str | None:
        """Publish a JSON message; returns the message id (None when no topic is configured)."""
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
                    "event": {"DataType": "String", "StringValue": str(message.get("event", "unknown"))},
                    "model": {"DataType": "String", "StringValue": str(message.get("model", "unknown"))},
                },
            )
        return str(response["MessageId"])
