"""Train past Lambda's limits: the same step as an ECS Fargate task (runTask.sync), which the local
stack runs as a subprocess against the same moto backend (tools/local/fargate.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

import onnx
import pytest
from botocore.exceptions import ClientError

from sluice.domain.registry.records import VersionStatus
from tests.integration.conftest import Stack, spec_text
from tests.integration.scenario import FIRST


def _train(stack: Stack, model: str, backend: str) -> None:
    spec = spec_text(model) + f"resources: {{backend: {backend}}}\n"
    stack.upload(f"{model}/spec.yaml", spec.encode())
    stack.settle()
    stack.upload(f"{model}/data/{FIRST[0]}", FIRST[1])
    stack.settle()


def _pipeline_sha256(stack: Stack, model: str) -> str:
    pipeline = stack.artifacts.get_bytes(stack.artifacts.uri(f"models/{model}/1/pipeline.pkl"))
    return hashlib.sha256(pipeline).hexdigest()


def _onnx_sha256(stack: Stack, model: str) -> str:
    """sha256 of the version's model.onnx with what names the model (graph name, doc string, metadata of
    model, version and spec hash) made the same: the two models have different names."""
    record = stack.registry.get_version(model, 1)
    proto = onnx.load_from_string(stack.artifacts.get_verified(record.artifacts["model"]))
    proto.graph.name = proto.doc_string = "same"
    for prop in proto.metadata_props:
        if prop.key in ("sluice.model", "sluice.version", "sluice.spec_sha256"):
            prop.value = "same"
    return hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest()


@contextmanager
def _training_command(stack: Stack, command: list[str]) -> Iterator[None]:
    """The training task definition's container runs `command` (as if the image were broken)."""
    from moto.ecs.models import ecs_backends

    arn = stack.local.physical["TrainingTaskDefinition"]
    definition = ecs_backends["123456789012"][stack.local.region].describe_task_definition(arn)
    container = definition.container_definitions[0]
    saved = container["command"]
    container["command"] = command
    try:
        yield
    finally:
        container["command"] = saved


@pytest.mark.slow
def test_lambda_and_fargate_train_the_same_model_and_say_where(stack: Stack) -> None:
    # Given the same spec and dataset, once with backend: lambda and once with backend: fargate
    _train(stack, "be-lambda", "lambda")
    _train(stack, "be-fargate", "fargate")

    # Then both runs succeed, the Fargate one through the ECS task
    for model in ("be-lambda", "be-fargate"):
        assert [e["status"] for e in stack.executions_of(model)] == ["SUCCEEDED"]
    fargate_run = stack.executions_of("be-fargate")[0]["executionArn"]
    history = stack.client("stepfunctions").get_execution_history(executionArn=fargate_run)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "TrainOnFargate" in entered and "Train" not in entered
    # in the network the stack creates when every parameter is at its default: its two subnets, its
    # egress-only security group, a public IP
    scheduled = next(e for e in history if e["type"] == "TaskScheduled")
    network = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["NetworkConfiguration"]
    physical = stack.local.physical
    assert network["AwsvpcConfiguration"] == {
        "Subnets": [physical["TrainingSubnetA"], physical["TrainingSubnetB"]],
        "SecurityGroups": [physical["TrainingSecurityGroup"]],
        "AssignPublicIp": "ENABLED",
    }
    # and both fitted the same estimator (pipeline.pkl: the same bytes) and exported the same model
    assert _pipeline_sha256(stack, "be-lambda") == _pipeline_sha256(stack, "be-fargate")
    assert _onnx_sha256(stack, "be-lambda") == _onnx_sha256(stack, "be-fargate")
    # and each version's record and card name the backend it trained on
    for model, backend in (("be-lambda", "lambda"), ("be-fargate", "fargate")):
        record = stack.registry.get_version(model, 1)
        assert record.status is VersionStatus.PRODUCTION
        assert record.backend == backend
        card = stack.artifacts.get_verified(record.artifacts["card"]).decode()
        assert f'"backend": "{backend}"' in card


def test_a_failing_fargate_task_rejects_the_version_with_ecs_reason(stack: Stack) -> None:
    # Given a training image whose command crashes
    with _training_command(stack, ["python", "-c", "import sys; sys.exit(3)"]):
        # When a spec asking for fargate trains
        _train(stack, "be-crash", "fargate")

    # Then the run is caught: the version is rejected, naming the task's stop and exit code
    record = stack.registry.get_version("be-crash", 1)
    assert record.status is VersionStatus.REJECTED
    assert record.reason is not None
    assert record.reason.startswith("TrainingTaskFailed:")
    assert "Essential container in task exited (exit code 3)" in record.reason
    assert record.backend == "fargate"


def test_a_task_in_a_subnet_or_security_group_that_does_not_exist_is_refused_as_ecs_refuses_it(
    stack: Stack,
) -> None:
    physical = stack.local.physical
    ecs = stack.client("ecs")
    cluster = physical["TrainingCluster"]
    before = len(ecs.list_tasks(cluster=cluster)["taskArns"])

    def run_task(subnets: list[str], groups: list[str]) -> None:
        ecs.run_task(
            cluster=cluster,
            taskDefinition=physical["TrainingTaskDefinition"],
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": subnets,
                    "securityGroups": groups,
                    "assignPublicIp": "ENABLED",
                }
            },
        )

    # When the training task is run in a made-up subnet, or with a made-up security group
    made_up = {
        "subnet-0badc0ffee0000000": "Error retrieving subnet information for [subnet-0badc0ffee0000000]: "
        "The subnet ID 'subnet-0badc0ffee0000000' does not exist (ErrorCode: InvalidSubnetID.NotFound)",
        "sg-0badc0ffee0000000": "Error retrieving security group information for [sg-0badc0ffee0000000]: "
        "The security group 'sg-0badc0ffee0000000' does not exist (ErrorCode: InvalidGroup.NotFound)",
    }
    calls = {
        "subnet-0badc0ffee0000000": ([physical["TrainingSubnetA"], "subnet-0badc0ffee0000000"], []),
        "sg-0badc0ffee0000000": ([physical["TrainingSubnetA"]], ["sg-0badc0ffee0000000"]),
    }
    for name, (subnets, groups) in calls.items():
        with pytest.raises(ClientError) as refused:
            run_task(subnets, groups)
        # Then ECS refuses it, as on AWS, naming what does not exist
        error = refused.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("InvalidParameterException", made_up[name])
    # and a Fargate task without subnets too
    with pytest.raises(ClientError, match="subnets can not be empty"):
        run_task([], [])
    # and no task was started
    assert len(ecs.list_tasks(cluster=cluster)["taskArns"]) == before
