"""The policies the template gives people, under the local stack's IAM enforcement (as AWS enforces
them): over one model's life, a person with SluiceOperatorPolicy runs every `sluice models` action
(approve, rollback, promote, train, reject) and each is audited as the principal STS answers for their
keys, with their note; a person with SluiceViewerPolicy can list and show but every action is refused
with AccessDenied and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from sluice.domain.registry.records import EventType, VersionStatus
from sluice.tools.cli import main
from tests.integration.conftest import Stack
from tests.integration.live_rollout import train_quietly
from tests.integration.scenario import BETTER, FIRST
from tests.integration.test_manual_approval import manual_spec, upload_and_await_approval, upload_spec

MODEL = "it-operator"
POLL_LIMIT_SECONDS = 300.0  # how long a test polls before it gives up (not a performance threshold)


@dataclass(frozen=True)
class Person:
    arn: str
    access_key_id: str
    secret_access_key: str


def person(stack: Stack, name: str, policy_output: str) -> Person:
    """An IAM user with one of the template's policies for people."""
    iam = stack.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=stack.outputs[policy_output])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Person(arn, key["AccessKeyId"], key["SecretAccessKey"])


@contextmanager
def signed_as(who: Person) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", who.access_key_id)
        env.setenv("AWS_SECRET_ACCESS_KEY", who.secret_access_key)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        yield


@dataclass
class Outcome:
    code: int
    said: str


def sluice_models(stack: Stack, who: Person, capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    """`sluice models --stack-name <the stack> ARGS` as typed by `who`."""
    capsys.readouterr()
    with signed_as(who):
        try:
            code = main(["models", "--stack-name", stack.local.stack_name, *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Outcome(code, out + err)


def await_decided(stack: Stack, version: int) -> VersionStatus:
    """The version's status once decided (read again each time the stack has done something)."""

    def decided() -> VersionStatus | None:
        found = [v for v in stack.registry.list_versions(MODEL) if v.version == version]
        return found[0].status if found and found[0].status is not VersionStatus.TRAINING else None

    return stack.local.wait_until(
        decided, what=f"{MODEL} version {version} to be decided", timeout=POLL_LIMIT_SECONDS
    )


@dataclass
class Life:
    operator: Person
    viewer: Person
    operator_outcomes: dict[str, Outcome]
    viewer_outcomes: dict[str, Outcome]


@pytest.fixture
def lived(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Life:
    """One model's life: v1 in production, v2 approved from pending_approval, a rollback to v1 and a
    promotion of v2 again, a manual training run whose v3 waits and is rejected. Before each of the
    operator's actions, the viewer tries the same one; both list and show."""
    operator = person(stack, "oscar-operator", "SluiceOperatorPolicyArn")
    viewer = person(stack, "vera-viewer", "SluiceViewerPolicyArn")
    done: dict[str, Outcome] = {}
    refused: dict[str, Outcome] = {}

    def both(*args: str) -> None:
        refused[args[0]] = sluice_models(stack, viewer, capsys, *args)
        done[args[0]] = sluice_models(stack, operator, capsys, *args)

    train_quietly(stack, MODEL, FIRST)
    upload_spec(stack, MODEL, manual_spec(MODEL))
    upload_and_await_approval(stack, MODEL, BETTER, 2)
    both("list", "--json")
    both("show", MODEL, "--json")
    both("approve", MODEL, "2", "--note", "CAB-1")
    stack.settle()
    both("rollback", MODEL, "--note", "CAB-2")
    both("promote", MODEL, "2", "--note", "CAB-3")
    both("train", MODEL, "--note", "CAB-4")
    assert await_decided(stack, 3) is VersionStatus.PENDING_APPROVAL
    both("reject", MODEL, "3", "--reason", "not now", "--note", "CAB-5")
    stack.settle()
    return Life(operator, viewer, done, refused)


@pytest.mark.slow
def test_people_act_on_a_model_as_their_policies_allow_and_are_audited_as_their_principal(
    stack: Stack, lived: Life
) -> None:
    # Then every command the operator ran succeeded
    assert {name: o.code for name, o in lived.operator_outcomes.items()} == dict.fromkeys(
        lived.operator_outcomes, 0
    )
    # and the viewer could read, but each action was refused as AWS refuses it, naming the viewer
    assert lived.viewer_outcomes["list"].code == 0 and lived.viewer_outcomes["show"].code == 0
    for name in ("approve", "rollback", "promote", "train", "reject"):
        outcome = lived.viewer_outcomes[name]
        assert outcome.code != 0 and "AccessDenied" in outcome.said and "vera-viewer" in outcome.said, (
            name,
            outcome,
        )
    # and the audit trail holds the operator's principal (never the viewer's) with each note
    audited = [(e.type, e.by, e.note) for e in stack.registry.list_events(MODEL) if e.by]
    assert audited == [
        (EventType.APPROVED, lived.operator.arn, "CAB-1"),
        (EventType.ROLLED_BACK, lived.operator.arn, "CAB-2"),
        (EventType.PROMOTED, lived.operator.arn, "CAB-3"),
        (EventType.TRAINING_STARTED, lived.operator.arn, "CAB-4"),
        (EventType.APPROVAL_REFUSED, lived.operator.arn, "CAB-5"),
    ]


def stack_names(stack: Stack) -> set[str]:
    """The names this stack's resources go by: its name, and each resource's physical name."""
    names = {stack.local.stack_name}
    for physical in stack.local.physical.values():
        names.add(re.split(r"[:/]", physical)[-1] if physical.startswith("arn:") else physical)
    return {n for n in names if len(n) > 3}


def test_the_policies_for_people_name_only_this_stacks_resources(stack: Stack) -> None:
    import json

    names = stack_names(stack)
    iam = stack.client("iam")
    for output in ("SluiceOperatorPolicyArn", "SluiceViewerPolicyArn"):
        arn = stack.outputs[output]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        document = json.loads(document) if isinstance(document, str) else document
        for statement in document["Statement"]:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                if resource == "*":
                    continue
                # moto creates no alarms: their ${Name} stays unresolved, their logical id is checked
                unresolved = re.findall(r"\$\{(\w+)\}", resource)
                assert any(n in resource for n in names) or (
                    unresolved and all(u in stack.local.physical or u.endswith("Alarm") for u in unresolved)
                ), f"{output} {statement.get('Sid')}: {resource}"
