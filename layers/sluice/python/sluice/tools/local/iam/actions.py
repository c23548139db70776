"""What one API call asks IAM for: the actions an operation needs and the resource ARN each acts on,
read from the call's parameters as AWS reads them (the Service Authorization Reference's "Actions,
resources, and condition keys" table of each service). Most operations are their own action on one
resource named by one parameter; the rest are written out below (S3's operation and action names
differ, DynamoDB's batch and transaction calls act on several tables, a CopyObject reads one object
and writes another).

Operations not listed here ask for `<prefix>:<Operation>` on `*`, which is what AWS does for the
actions that take no resource; a wrong guess shows up as an AccessDenied in a test, never as a
silent allow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Permission:
    """One action on one resource, with the context keys the service adds for it."""

    action: str
    resource: str
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Where:
    """The account and region a call is made in (ARNs are built from them)."""

    account: str
    region: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


# The IAM prefix of each botocore service (where it is not the service's name).
PREFIXES = {"stepfunctions": "states", "monitoring": "cloudwatch", "cloudwatch": "cloudwatch"}


def prefix_of(service: str) -> str:
    return PREFIXES.get(service, service)


# ------------------------------------------------------------------------------------------ S3
_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "GetObject": "GetObject",
    "PutObject": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "AbortMultipartUpload": "AbortMultipartUpload",
    "ListParts": "ListMultipartUploadParts",
    "DeleteObject": "DeleteObject",
    "GetObjectTagging": "GetObjectTagging",
    "PutObjectTagging": "PutObjectTagging",
    "GetObjectAttributes": "GetObjectAttributes",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "GetBucketLocation": "GetBucketLocation",
    "ListBuckets": "ListAllMyBuckets",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketCors": "PutBucketCORS",
    "GetBucketCors": "GetBucketCORS",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
}


def _s3(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    bucket = str(params.get("Bucket", ""))
    if operation == "ListBuckets":
        return [Permission("s3:ListAllMyBuckets", "arn:aws:s3:::*")]
    if operation == "DeleteObjects":
        keys = [o.get("Key", "") for o in (params.get("Delete") or {}).get("Objects", [])]
        return [Permission("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{k}") for k in keys]
    if operation in ("CopyObject", "UploadPartCopy"):
        source = params.get("CopySource")
        if isinstance(source, Mapping):
            source_arn = f"arn:aws:s3:::{source.get('Bucket')}/{source.get('Key')}"
            versioned = bool(source.get("VersionId"))
        else:
            text = str(source or "").lstrip("/")
            source_arn = "arn:aws:s3:::" + unquote(text.split("?", 1)[0])
            versioned = "versionId=" in text
        # Reading a given version of an object is its own action (s3:GetObjectVersion).
        return [
            Permission("s3:GetObjectVersion" if versioned else "s3:GetObject", source_arn),
            Permission("s3:PutObject", f"arn:aws:s3:::{bucket}/{params.get('Key', '')}"),
        ]
    action = "s3:" + _S3_ACTIONS.get(operation, operation)
    if action == "s3:GetObject" and params.get("VersionId"):
        action = "s3:GetObjectVersion"
    if "Key" in params:
        return [Permission(action, f"arn:aws:s3:::{bucket}/{params['Key']}")]
    context: dict[str, str | tuple[str, ...]] = {}
    if operation in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        context["s3:prefix"] = str(params.get("Prefix", ""))
        if params.get("Delimiter"):
            context["s3:delimiter"] = str(params["Delimiter"])
    return [Permission(action, f"arn:aws:s3:::{bucket}", context)]


# ------------------------------------------------------------------------------------------ DynamoDB
def _table(where: Where, name: Any, index: Any = None) -> str:
    arn = where.arn("dynamodb", f"table/{name}") if not str(name).startswith("arn:") else str(name)
    return f"{arn}/index/{index}" if index else arn


def _dynamodb(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    if operation == "BatchGetItem":
        return [Permission("dynamodb:BatchGetItem", _table(where, t)) for t in params.get("RequestItems", {})]
    if operation == "BatchWriteItem":
        found: list[Permission] = []
        for table, requests in (params.get("RequestItems") or {}).items():
            kinds = {"PutItem" if "PutRequest" in r else "DeleteItem" for r in requests}
            found += [Permission(f"dynamodb:{kind}", _table(where, table)) for kind in sorted(kinds)]
        return found or [Permission("dynamodb:BatchWriteItem", "*")]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        item_actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        found = []
        for item in params.get("TransactItems", []):
            for kind, action in item_actions.items():
                if kind in item:
                    permission = Permission(f"dynamodb:{action}", _table(where, item[kind].get("TableName")))
                    if permission not in found:
                        found.append(permission)
        return found
    if "TableName" in params:
        return [
            Permission(f"dynamodb:{operation}", _table(where, params["TableName"], params.get("IndexName")))
        ]
    return [Permission(f"dynamodb:{operation}", "*")]


# ------------------------------------------------------------------------------------------ the others
def _queue_arn(url: str, where: Where) -> str:
    parts = urlparse(url).path.strip("/").split("/")
    account, name = (parts[0], parts[1]) if len(parts) >= 2 else (where.account, parts[-1])
    return f"arn:{where.partition}:sqs:{where.region}:{account}:{name}"


def _named(
    service: str, parameter: str, arn: Callable[[Where, str], str]
) -> Callable[[str, Mapping[str, Any], Where], list[Permission]]:
    """An operation acting on the resource one parameter names (an ARN, or a name made into one)."""

    def permissions(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
        value = params.get(parameter)
        action = f"{service}:{operation}"
        if value is None:
            return [Permission(action, "*")]
        text = str(value)
        return [Permission(action, text if text.startswith("arn:") else arn(where, text))]

    return permissions


def _function_arn(where: Where, name: str) -> str:
    return where.arn("lambda", f"function:{name}")


def _lambda(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    name = str(params.get("FunctionName", "*"))
    arn = name if name.startswith("arn:") else _function_arn(where, name)
    qualifier = params.get("Qualifier")
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    action = "lambda:InvokeFunction" if operation in ("Invoke", "InvokeAsync") else f"lambda:{operation}"
    return [Permission(action, arn)]


def _states(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    for parameter in ("executionArn", "mapRunArn", "stateMachineArn", "activityArn"):
        if parameter in params:
            return [Permission(f"states:{operation}", str(params[parameter]))]
    return [Permission(f"states:{operation}", "*")]


def _ecs(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    cluster = str(params.get("cluster") or "default")
    cluster_arn = cluster if cluster.startswith("arn:") else where.arn("ecs", f"cluster/{cluster}")
    context = {"ecs:cluster": cluster_arn}
    if operation == "RunTask":
        definition = str(params.get("taskDefinition", ""))
        if not definition.startswith("arn:"):
            definition = where.arn("ecs", f"task-definition/{definition}")
        return [Permission("ecs:RunTask", definition, context)]
    if operation in ("DescribeTasks", "StopTask"):
        tasks = params.get("tasks") or [params.get("task")]
        cluster_name = cluster_arn.rsplit("/", 1)[-1]
        arns = [
            str(t) if str(t).startswith("arn:") else where.arn("ecs", f"task/{cluster_name}/{t}")
            for t in tasks
        ]
        return [Permission(f"ecs:{operation}", arn, context) for arn in arns]
    return [Permission(f"ecs:{operation}", "*")]


def _events(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    if operation == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in params.get("Entries", [])}
        return [
            Permission(
                "events:PutEvents", b if b.startswith("arn:") else where.arn("events", f"event-bus/{b}")
            )
            for b in sorted(buses)
        ]
    if "Rule" in params or "Name" in params:
        rule = str(params.get("Rule") or params.get("Name"))
        return [Permission(f"events:{operation}", where.arn("events", f"rule/{rule}"))]
    return [Permission(f"events:{operation}", "*")]


def _logs(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    group = params.get("logGroupName")
    if group is None:
        return [Permission(f"logs:{operation}", "*")]
    stream = params.get("logStreamName")
    suffix = f":log-stream:{stream}" if stream else ":*"
    return [Permission(f"logs:{operation}", where.arn("logs", f"log-group:{group}{suffix}"))]


def _sts(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    if operation == "GetCallerIdentity":
        return []  # AWS answers it for every caller, even one denied everything
    if "RoleArn" in params:
        return [Permission(f"sts:{operation}", str(params["RoleArn"]))]
    return [Permission(f"sts:{operation}", "*")]


def _kms(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    # Aliases are resolved to the key's ARN by `enforcement`, which can read KMS's state.
    key = str(params.get("KeyId", "*"))
    return [
        Permission(
            f"kms:{operation}",
            key if key.startswith("arn:") or key == "*" else where.arn("kms", f"key/{key}"),
        )
    ]


def _cloudformation(operation: str, params: Mapping[str, Any], where: Where) -> list[Permission]:
    name = str(params.get("StackName", "*"))
    # A stack's ARN ends with its id, which a policy matches with `stack/<name>/*`.
    arn = name if name.startswith("arn:") else where.arn("cloudformation", f"stack/{name}/*")
    return [Permission(f"cloudformation:{operation}", "*" if name == "*" else arn)]


_BY_SERVICE: dict[str, Callable[[str, Mapping[str, Any], Where], list[Permission]]] = {
    "s3": _s3,
    "dynamodb": _dynamodb,
    "firehose": _named(
        "firehose", "DeliveryStreamName", lambda w, n: w.arn("firehose", f"deliverystream/{n}")
    ),
    "sns": lambda operation, params, where: _named(
        "sns", "TopicArn" if "TopicArn" in params else "TargetArn", lambda w, n: w.arn("sns", n)
    )(operation, params, where),
    "sqs": lambda operation, params, where: [
        Permission(
            f"sqs:{operation}",
            _queue_arn(str(params["QueueUrl"]), where)
            if "QueueUrl" in params
            else where.arn("sqs", str(params.get("QueueName", "*"))),
        )
    ],
    "stepfunctions": _states,
    "ecs": _ecs,
    "lambda": _lambda,
    "events": _events,
    "logs": _logs,
    "sts": _sts,
    "kms": _kms,
    "cloudformation": _cloudformation,
    "iam": _named("iam", "RoleName", lambda w, n: f"arn:{w.partition}:iam::{w.account}:role/{n}"),
}


def permissions_for(
    service: str, operation: str, params: Mapping[str, Any], where: Where
) -> list[Permission]:
    """Every (action, resource) the call `service`.`operation`(**params) needs (botocore's names)."""
    derive = _BY_SERVICE.get(service)
    if derive is None:
        return [Permission(f"{prefix_of(service)}:{operation}", "*")]
    return derive(operation, params, where)
