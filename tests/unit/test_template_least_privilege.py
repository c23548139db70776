"""What no role of the deployed template may do, read from the CloudFormation SAM translates
template.yaml to (the roles as AWS creates them, SAM's policy templates expanded): no function, task or
state machine role can change a bucket's configuration (a function could shorten the retention of every
model), and none may delete objects or items unless the template says why the code needs it. What each
role does need is measured on the suite's own run (tests/integration/test_least_privilege.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sluice.tools.local.iam.policy import wildcard_match
from sluice.tools.local.iam.report import explanations
from sluice.tools.local.template import load_sam, translate_for_scan

ROOT = Path(__file__).resolve().parents[2]
CLOUDFORMATION = translate_for_scan(ROOT / "template.yaml")
WHY = explanations(load_sam(ROOT / "template.yaml"))
BUCKET_CONFIGURATION = [
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutBucketNotification",
    "s3:DeleteBucket",
]
DELETIONS = ["s3:DeleteObject", "s3:DeleteObjectVersion", "dynamodb:DeleteItem", "dynamodb:DeleteTable"]


def granted_actions() -> dict[str, list[str]]:
    """Every action each role's inline policies allow, by the role's logical id."""
    found: dict[str, list[str]] = {}
    for logical_id, resource in CLOUDFORMATION["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            statements: Any = policy["PolicyDocument"]["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement.get("Action", [])
                found.setdefault(logical_id, []).extend(actions if isinstance(actions, list) else [actions])
    return found


def allowing(granted: list[str], action: str) -> list[str]:
    return [pattern for pattern in granted if wildcard_match(pattern, action, ignore_case=True)]


def test_every_role_of_the_stack_is_read():
    # Given the translated template, then every function's, task's and state machine's role is there
    roles = granted_actions()
    assert {
        "IngestFunctionRole",
        "PredictFunctionRole",
        "TrainAndPromoteRole",
        "BatchScoreRole",
        "TrainingTaskRole",
    } <= set(roles)


def test_no_role_can_change_a_buckets_configuration():
    found = {
        (role, action): allowing(granted, action)
        for role, granted in granted_actions().items()
        for action in BUCKET_CONFIGURATION
        if allowing(granted, action)
    }
    assert found == {}


def test_deletions_are_granted_only_where_the_template_says_which_code_needs_them():
    found = {
        (role, action)
        for role, granted in granted_actions().items()
        for action in DELETIONS
        if allowing(granted, action) and action not in WHY.get(role, {})
    }
    assert found == set()
