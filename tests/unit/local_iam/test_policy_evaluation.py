"""AWS's policy evaluation logic as the local stack applies it: explicit deny wins, an allow in either
the identity or the resource policy allows, KMS needs its key policy, conditions that do not hold make a
statement not apply (they never deny by themselves)."""

from __future__ import annotations

from sluice.tools.local.iam.policy import Policy, Request, evaluate, wildcard_match

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sluice-TrainFunctionRole-ABC"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/sluice-TrainFunctionRole-ABC/train"
BUCKET = "arn:aws:s3:::artifacts"


def request(action: str, resource: str, **context: str) -> Request:
    return Request(
        principal=SESSION,
        action=action,
        resource=resource,
        context={"aws:SecureTransport": "true", **context},
        principal_arns=(ROLE,),
        account=ACCOUNT,
    )


def policy(*statements: dict) -> Policy:
    return Policy.parse("test", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_nothing_granted_is_denied_with_awss_wording() -> None:
    # Given a role with no statement about S3
    # When it reads an object
    decision = evaluate(request("s3:GetObject", f"{BUCKET}/a"), [policy(allow("dynamodb:GetItem", "*"))])
    # Then it is implicitly denied, in AWS's words
    assert not decision.allowed
    assert decision.reason == "because no identity-based policy allows the s3:GetObject action"


def test_actions_match_case_insensitively_with_wildcards_and_resources_case_sensitively() -> None:
    granted = [policy(allow("S3:get*", f"{BUCKET}/models/*"))]
    assert evaluate(request("s3:GetObject", f"{BUCKET}/models/a/model.onnx"), granted).allowed
    assert not evaluate(request("s3:GetObject", f"{BUCKET}/Models/a"), granted).allowed
    assert not evaluate(request("s3:PutObject", f"{BUCKET}/models/a"), granted).allowed
    assert wildcard_match("kms:GenerateDataKey?", "kms:GenerateDataKeyX")
    assert not wildcard_match("a.b", "axb")  # a dot is a dot


def test_an_explicit_deny_in_the_bucket_policy_beats_an_identity_allow() -> None:
    # Given an identity policy allowing everything and the template's TLS-only bucket policy
    identity = [policy(allow("s3:*", "*"))]
    bucket = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    # When the call comes over TLS, then plain HTTP
    over_tls = evaluate(request("s3:PutObject", f"{BUCKET}/a"), identity, bucket)
    plain = evaluate(
        request("s3:PutObject", f"{BUCKET}/a", **{"aws:SecureTransport": "false"}), identity, bucket
    )
    # Then TLS is allowed and plain HTTP is denied by the resource policy
    assert over_tls.allowed
    assert not plain.allowed and plain.reason == "with an explicit deny in a resource-based policy"


def test_an_allow_whose_condition_does_not_hold_does_not_apply_and_never_denies() -> None:
    granted = [
        policy(
            allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["capture/*"]}}),
            allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["models/*"]}}),
        )
    ]
    assert evaluate(request("s3:ListBucket", BUCKET, **{"s3:prefix": "models/x/"}), granted).allowed
    assert not evaluate(request("s3:ListBucket", BUCKET, **{"s3:prefix": "datasets/"}), granted).allowed


def test_negated_operators_hold_when_the_key_is_missing_and_ifexists_too() -> None:
    statement = allow("sns:Publish", "*", Condition={"StringNotEquals": {"aws:SourceVpc": "vpc-1"}})
    assert evaluate(request("sns:Publish", "arn:aws:sns:us-east-1:1:t"), [policy(statement)]).allowed
    statement = allow("sns:Publish", "*", Condition={"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}})
    assert evaluate(request("sns:Publish", "arn:aws:sns:us-east-1:1:t"), [policy(statement)]).allowed
    statement = allow("sns:Publish", "*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})
    assert not evaluate(request("sns:Publish", "arn:aws:sns:us-east-1:1:t"), [policy(statement)]).allowed


def test_not_action_and_not_resource() -> None:
    granted = [policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/secret/*"})]
    assert evaluate(request("s3:GetObject", f"{BUCKET}/public/a"), granted).allowed
    assert not evaluate(request("s3:GetObject", f"{BUCKET}/secret/a"), granted).allowed
    assert not evaluate(request("iam:PassRole", ROLE), granted).allowed


def test_a_resource_policy_naming_the_role_allows_without_an_identity_policy() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:alerts"
    topic_policy = policy({**allow("sns:Publish", topic), "Principal": {"AWS": ROLE}})
    other = policy(
        {**allow("sns:Publish", topic), "Principal": {"AWS": "arn:aws:iam::123456789012:role/other"}}
    )
    assert evaluate(request("sns:Publish", topic), [], topic_policy).allowed
    assert not evaluate(request("sns:Publish", topic), [], other).allowed


def test_kms_needs_the_key_policy_to_delegate_to_iam_or_name_the_caller() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    identity = [policy(allow(["kms:GenerateDataKey", "kms:Decrypt"], key))]
    delegating = policy({**allow("kms:*", "*"), "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}})
    services_only = policy({**allow("kms:*", "*"), "Principal": {"Service": "sns.amazonaws.com"}})
    # A key policy that delegates to IAM: the identity policy decides
    assert evaluate(request("kms:Decrypt", key), identity, delegating, key_policy=True).allowed
    assert not evaluate(request("kms:Decrypt", key), [], delegating, key_policy=True).allowed
    # A key policy that names neither the account nor the caller: no identity policy can allow
    assert not evaluate(request("kms:Decrypt", key), identity, services_only, key_policy=True).allowed
