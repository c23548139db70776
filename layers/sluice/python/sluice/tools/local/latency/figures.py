"""How long each AWS call takes, as seen by a caller in the same region (a Lambda function, a Fargate
task): a median and a 99th percentile per service and operation, each with the basis of the figure.
docs/guides/local-stack.md tables them with their sources' addresses, and says which parts are
estimates; a unit test keeps that table and this one the same.

A call's figure is its operation's, else its service's (`service:*`), else `DEFAULT`. Keys are
botocore's names: the service model's `service_name` and the operation's API name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One operation's latency in milliseconds (median and 99th percentile) and what they rest on."""

    median_ms: float
    p99_ms: float
    basis: str

    def __post_init__(self) -> None:
        if not 0 < self.median_ms < self.p99_ms:
            raise ValueError(f"need 0 < median < p99, got {self.median_ms} and {self.p99_ms}")


# What the figures rest on (the guide gives each source's address).
S3_READ = "median: S3 whitepaper ('tens of ms' for small requests), s3-benchmark (p90 first byte ~20 ms); p99: estimate"
S3_WRITE = "median: S3 whitepaper; p99: estimate, below WarpStream's PUT tail on S3 Standard"
DYNAMODB = "median: DynamoDB paper, ATC '22 ('single-digit millisecond'); p99: estimate"
DYNAMODB_TX = "estimate: two phases through a coordinator (DynamoDB transactions paper, ATC '23)"
MESSAGING = "estimate, below the producer-to-consumer latencies measured by bitesizedserverless.com"
ESTIMATE = "estimate: a regional API call of this kind"

FIGURES: dict[str, Figure] = {
    # S3 (time to first byte; the objects on Sluice's paths are small: models, specs, captures)
    "s3:GetObject": Figure(15, 60, S3_READ),
    "s3:HeadObject": Figure(12, 50, S3_READ),
    "s3:PutObject": Figure(30, 150, S3_WRITE),
    "s3:CopyObject": Figure(40, 200, S3_WRITE),
    "s3:ListObjectsV2": Figure(25, 100, S3_READ),
    "s3:*": Figure(20, 100, S3_READ),
    # DynamoDB
    "dynamodb:GetItem": Figure(4, 15, DYNAMODB),
    "dynamodb:Query": Figure(6, 25, DYNAMODB),
    "dynamodb:PutItem": Figure(6, 25, DYNAMODB),
    "dynamodb:UpdateItem": Figure(6, 25, DYNAMODB),
    "dynamodb:DeleteItem": Figure(6, 25, DYNAMODB),
    "dynamodb:TransactWriteItems": Figure(15, 60, DYNAMODB_TX),
    "dynamodb:TransactGetItems": Figure(8, 30, DYNAMODB_TX),
    "dynamodb:*": Figure(6, 25, DYNAMODB),
    # Firehose: the producer's call (the delivery to S3, after the buffer, is Firehose's s3:PutObject)
    "firehose:PutRecordBatch": Figure(25, 120, ESTIMATE),
    "firehose:PutRecord": Figure(20, 100, ESTIMATE),
    "sns:Publish": Figure(20, 100, MESSAGING),
    "sts:AssumeRole": Figure(40, 200, ESTIMATE),
    "sts:GetCallerIdentity": Figure(15, 60, ESTIMATE),
    "stepfunctions:StartExecution": Figure(30, 150, MESSAGING),
    "stepfunctions:DescribeExecution": Figure(15, 60, ESTIMATE),
    "stepfunctions:SendTaskSuccess": Figure(20, 100, ESTIMATE),
    "stepfunctions:SendTaskFailure": Figure(20, 100, ESTIMATE),
    "stepfunctions:SendTaskHeartbeat": Figure(20, 100, ESTIMATE),
    "stepfunctions:*": Figure(20, 100, ESTIMATE),
    # ECS: the RunTask call (placing the task); the task's own start is the task's time
    "ecs:RunTask": Figure(300, 1500, ESTIMATE),
    # Lambda: the service's part of an Invoke (the handler's own time is spent locally)
    "lambda:Invoke": Figure(15, 80, MESSAGING),
    # EventBridge: the PutEvents call (delivery to the targets is EventBridge's, not modelled)
    "events:PutEvents": Figure(15, 60, MESSAGING),
}
DEFAULT = Figure(20, 100, ESTIMATE)


def figure_for(operation: str, figures: dict[str, Figure] | None = None) -> Figure:
    """The figure of `operation` ("service:Operation"): its own, its service's, else the default."""
    table = FIGURES if figures is None else figures
    found = table.get(operation)
    if found is None:
        found = table.get(operation.split(":", 1)[0] + ":*", DEFAULT)
    return found
