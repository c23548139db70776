"""What a call asks IAM for, as the Service Authorization Reference says: S3's operations map to their
actions on bucket or object ARNs, versioned reads are their own action, DynamoDB's batch and transaction
calls ask for each item's action on its table, Step Functions' calls act on the ARN they name."""

from __future__ import annotations

from sluice.tools.local.iam.actions import Permission, Where, permissions_for

WHERE = Where(account="123456789012", region="us-east-1")


def test_s3_operations_ask_for_their_actions_on_bucket_or_object_arns() -> None:
    assert permissions_for("s3", "HeadObject", {"Bucket": "b", "Key": "k/1"}, WHERE) == [
        Permission("s3:GetObject", "arn:aws:s3:::b/k/1")
    ]
    assert permissions_for("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "capture/"}, WHERE) == [
        Permission("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "capture/"})
    ]
    assert permissions_for("s3", "GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v1"}, WHERE) == [
        Permission("s3:GetObjectVersion", "arn:aws:s3:::b/k")
    ]


def test_a_copy_reads_one_object_and_writes_another() -> None:
    found = permissions_for(
        "s3",
        "CopyObject",
        {"Bucket": "art", "Key": "datasets/x", "CopySource": "raw/up%20load.csv?versionId=3"},
        WHERE,
    )
    assert found == [
        Permission("s3:GetObjectVersion", "arn:aws:s3:::raw/up load.csv"),
        Permission("s3:PutObject", "arn:aws:s3:::art/datasets/x"),
    ]


def test_dynamodb_transactions_ask_for_each_items_action_on_its_table() -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/registry"
    found = permissions_for(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "registry"}},
                {"Update": {"TableName": "registry"}},
                {"Put": {"TableName": "registry"}},
            ]
        },
        WHERE,
    )
    assert found == [Permission("dynamodb:PutItem", table), Permission("dynamodb:UpdateItem", table)]
    assert permissions_for(
        "dynamodb", "Query", {"TableName": "registry", "IndexName": "by-status"}, WHERE
    ) == [Permission("dynamodb:Query", f"{table}/index/by-status")]


def test_step_functions_ecs_and_lambda_act_on_the_arns_they_name() -> None:
    execution = "arn:aws:states:us-east-1:123456789012:execution:m:e"
    assert permissions_for("stepfunctions", "DescribeExecution", {"executionArn": execution}, WHERE) == [
        Permission("states:DescribeExecution", execution)
    ]
    assert permissions_for("lambda", "Invoke", {"FunctionName": "f"}, WHERE) == [
        Permission("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:f")
    ]
    assert permissions_for("ecs", "RunTask", {"cluster": "c", "taskDefinition": "train:3"}, WHERE) == [
        Permission(
            "ecs:RunTask",
            "arn:aws:ecs:us-east-1:123456789012:task-definition/train:3",
            {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/c"},
        )
    ]
    assert permissions_for("sts", "GetCallerIdentity", {}, WHERE) == []  # never denied
