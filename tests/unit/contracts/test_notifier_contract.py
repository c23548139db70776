"""The Notifier port's contract, kept alike by the in-memory notifier of the use-case tests and the SNS
notifier (on moto, its topic read through a subscribed queue): each publish answers a message id, and
people receive the subject on one line of at most 100 characters and the message as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from sluice.adapters.notifications import Notifier as SnsNotifier
from sluice.app.ports import Notifier
from tests.unit.app.fakes import InMemoryNotifier
from tests.unit.contracts.conftest import IMPLEMENTATIONS, aws_client


@dataclass
class World:
    """The port, and what its subscribers received so far: (subject, message) in order."""

    notifier: Notifier
    received: Callable[[], list[tuple[str, dict[str, Any]]]]


@pytest.fixture(params=IMPLEMENTATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        fake = InMemoryNotifier()
        yield World(fake, lambda: list(fake.published))
        return
    with mock_aws():
        sns = aws_client("sns")
        sqs = aws_client("sqs")
        topic = sns.create_topic(Name="sluice-notifications")["TopicArn"]
        queue = sqs.create_queue(QueueName="people")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        seen: list[tuple[str, dict[str, Any]]] = []

        def received() -> list[tuple[str, dict[str, Any]]]:
            for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
                envelope = json.loads(message["Body"])
                seen.append((envelope["Subject"], json.loads(envelope["Message"])))
            return list(seen)

        yield World(SnsNotifier(topic, sns), received)


def test_each_publish_answers_its_message_id(world: World) -> None:
    # When two messages are published, Then each answers an id of its own
    first = world.notifier.publish("Sluice: loans promoted", {"event": "promoted", "model": "loans"})
    second = world.notifier.publish("Sluice: loans rejected", {"event": "rejected", "model": "loans"})
    assert isinstance(first, str) and isinstance(second, str) and first != second
    # And subscribers receive both, in order, as published
    assert world.received() == [
        ("Sluice: loans promoted", {"event": "promoted", "model": "loans"}),
        ("Sluice: loans rejected", {"event": "rejected", "model": "loans"}),
    ]


def test_subjects_are_one_short_line_and_messages_json(world: World) -> None:
    # Given a subject over lines and over SNS's 100 characters, and a message with a timestamp
    subject = "Sluice:\n  loans   data quarantined " + "x" * 120
    when = datetime(2026, 12, 1, 12, tzinfo=UTC)
    # When it is published
    world.notifier.publish(subject, {"event": "data_quarantined", "model": "loans", "at": when, "rows": 3})
    # Then the subject arrives whitespace-collapsed and cut to 100 characters, the message as JSON
    [(received_subject, message)] = world.received()
    assert received_subject == ("Sluice: loans data quarantined " + "x" * 120)[:100]
    assert message == {"event": "data_quarantined", "model": "loans", "at": str(when), "rows": 3}


def test_every_message_carries_attributes_a_subscription_can_filter_on() -> None:
    # Given the SNS notifier, a subscriber of every message, and one team's subscription that takes only
    # high-severity messages about its two models (the README's filter policy)
    with mock_aws():
        sns, sqs = aws_client("sns"), aws_client("sqs")
        topic = sns.create_topic(Name="sluice-notifications")["TopicArn"]

        def subscribed(name: str, policy: dict[str, list[str]] | None) -> str:
            queue = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
            return str(queue)

        everything = subscribed("everything", None)
        team = subscribed("credit-team", {"model": ["credit-risk", "churn"], "severity": ["high"]})
        notifier = SnsNotifier(topic, sns)
        # When incidents of several models, kinds and severities are announced, and a promotion
        incident = {"kind": "live_metric", "severity": "high", "state": "open", "event": "incident_open"}
        notifier.publish(
            "Sluice: live metric under its gate in churn", {"model": "churn"}, {"model": "churn"} | incident
        )
        notifier.publish(
            "Sluice: drift in churn",
            {"model": "churn"},
            {
                "model": "churn",
                "kind": "drift",
                "severity": "medium",
                "state": "open",
                "event": "incident_open",
            },
        )
        notifier.publish(
            "Sluice: live metric under its gate in prices",
            {"model": "prices"},
            {"model": "prices"} | incident,
        )
        notifier.publish("Sluice: churn version 2 promoted", {"event": "promoted", "model": "churn"})

        def received(queue: str) -> list[tuple[str, dict[str, str]]]:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            envelopes = [json.loads(m["Body"]) for m in messages]
            return [
                (e["Subject"], {name: a["Value"] for name, a in e["MessageAttributes"].items()})
                for e in envelopes
            ]

        # Then every message carries model, kind, severity, state (and event): an incident's as announced,
        # anything else's as a notice of its event
        got = received(everything)
        assert [attributes for _, attributes in got] == [
            {"model": "churn"} | incident,
            {
                "model": "churn",
                "kind": "drift",
                "severity": "medium",
                "state": "open",
                "event": "incident_open",
            },
            {"model": "prices"} | incident,
            {
                "model": "churn",
                "kind": "promoted",
                "severity": "info",
                "state": "notice",
                "event": "promoted",
            },
        ]
        # And the team's subscription received only its high-severity incident
        assert [subject for subject, _ in received(team)] == ["Sluice: live metric under its gate in churn"]
