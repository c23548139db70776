"""TrainAndPromote's choice of where Train runs: the TrainOn Choice (run for real by moto's ASL engine on
both sides of it) and the Fargate branch's shape: stage the run, runTask.sync, collect the result."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.test_template import ASL, DOMAIN_ERRORS, RESOURCES

STATES: dict[str, Any] = ASL["States"]


def _branch_taken(run: dict[str, Any]) -> str:
    """The state TrainOn goes to for `run`, with its targets replaced by Pass states."""
    states = {"TrainOn": STATES["TrainOn"], "Train": {"Type": "Pass", "End": True}}
    states["StageTrainingTask"] = {"Type": "Pass", "End": True}
    definition = {"StartAt": "TrainOn", "States": states}
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name="train-on", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(run))["executionArn"]
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        time.sleep(0.05)
    history = sfn.get_execution_history(executionArn=execution)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    return str(entered[-1])


@pytest.mark.parametrize(
    ("run", "state"),
    [
        ({"backend": "fargate"}, "StageTrainingTask"),
        ({"backend": "lambda"}, "Train"),
        ({}, "Train"),  # a run started before backends existed
    ],
)
def test_train_on_takes_the_fargate_branch_only_for_fargate(run: dict[str, Any], state: str) -> None:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        assert _branch_taken({"model": "m", **run}) == state


def test_both_branches_lead_to_export_after_a_search_or_not() -> None:
    assert STATES["SearchOrTrain"]["Default"] == STATES["SearchCandidates"]["Next"] == "TrainOn"
    assert STATES["Train"]["Next"] == STATES["CollectTrainingTask"]["Next"] == "ExportAndCheckParity"
    assert STATES["StageTrainingTask"]["Next"] == "TrainOnFargate"
    assert STATES["TrainOnFargate"]["Next"] == "CollectTrainingTask"


def test_the_fargate_task_gets_the_run_by_pointer_and_every_failure_is_collected() -> None:
    task = STATES["TrainOnFargate"]
    assert task["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    params = task["Parameters"]
    assert params["LaunchType"] == "FARGATE"
    assert (params["Cluster"], params["TaskDefinition"]) == (
        "${TrainingClusterArn}",
        "${TrainingTaskDefinitionArn}",
    )
    # The run travels as an S3 URI (overrides hold 8 KB), sized by the spec's cpu and memory
    overrides = params["Overrides"]
    assert overrides["ContainerOverrides"] == [
        {
            "Name": "training",
            "Environment": [{"Name": "TRAINING_RUN_URI", "Value.$": "$.training_task.run_uri"}],
        }
    ]
    assert (overrides["Cpu.$"], overrides["Memory.$"]) == ("$.training_task.cpu", "$.training_task.memory")
    # The task's description is dropped (ResultPath null); any failure goes to CollectTrainingTask
    assert task["ResultPath"] is None
    assert task["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.task_error", "Next": "CollectTrainingTask"}
    ]
    # which rejects on a domain error or a task that stopped without a result, like Train
    catches = STATES["CollectTrainingTask"]["Catch"]
    assert set(catches[0]["ErrorEquals"]) == DOMAIN_ERRORS | {"TrainingTaskFailed"}
    assert catches[0]["Next"] == "RegisterRejected"
    assert catches[-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RegisterFailed"}


def test_the_task_definition_runs_the_container_entrypoint_with_the_domains_default_size() -> None:
    from sluice.domain.spec.sections import DEFAULT_FARGATE_CPU, DEFAULT_FARGATE_MEMORY

    props = RESOURCES["TrainingTaskDefinition"]["Properties"]
    assert (props["Cpu"], props["Memory"]) == (str(DEFAULT_FARGATE_CPU), str(DEFAULT_FARGATE_MEMORY))
    assert props["NetworkMode"] == "awsvpc" and props["RequiresCompatibilities"] == ["FARGATE"]
    container = props["ContainerDefinitions"][0]
    assert container["Name"] == "training"
    assert container["Command"] == ["python", "-m", "sluice.entrypoints.container", "train"]
    declared = {item["Name"] for item in container["Environment"]} | {"TRAINING_RUN_URI"}
    from sluice.settings import TrainingTaskSettings

    assert {name.upper() for name in TrainingTaskSettings.model_fields} <= declared
    repository = RESOURCES["TrainingRepository"]["Properties"]
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}


def test_the_thresholds_are_template_parameters_with_the_settings_defaults() -> None:
    from sluice.app.training.candidate import DEFAULT_LAMBDA_LIMITS
    from sluice.settings import StepSettings
    from tests.unit.test_template import PARAMETERS

    fields = StepSettings.model_fields
    assert PARAMETERS["LambdaMaxCells"]["Default"] == fields["lambda_max_cells"].default
    assert PARAMETERS["LambdaMaxBytes"]["Default"] == fields["lambda_max_bytes"].default
    assert (DEFAULT_LAMBDA_LIMITS.max_cells, DEFAULT_LAMBDA_LIMITS.max_bytes) == (
        fields["lambda_max_cells"].default,
        fields["lambda_max_bytes"].default,
    )
    # and each TrainAndPromote function reads them from its own environment
    for name in ("TrainFunction", "ExportFunction", "EvaluateFunction", "RegisterFunction"):
        variables = RESOURCES[name]["Properties"]["Environment"]["Variables"]
        assert variables["LAMBDA_MAX_CELLS"] == {"Ref": "LambdaMaxCells"}


NETWORK = {
    "TrainingVpc": "AWS::EC2::VPC",
    "TrainingSubnetA": "AWS::EC2::Subnet",
    "TrainingSubnetB": "AWS::EC2::Subnet",
    "TrainingInternetGateway": "AWS::EC2::InternetGateway",
    "TrainingGatewayAttachment": "AWS::EC2::VPCGatewayAttachment",
    "TrainingRouteTable": "AWS::EC2::RouteTable",
    "TrainingInternetRoute": "AWS::EC2::Route",
    "TrainingSubnetARoutes": "AWS::EC2::SubnetRouteTableAssociation",
    "TrainingSubnetBRoutes": "AWS::EC2::SubnetRouteTableAssociation",
    "TrainingS3Endpoint": "AWS::EC2::VPCEndpoint",
    "TrainingDynamoDbEndpoint": "AWS::EC2::VPCEndpoint",
    "TrainingSecurityGroup": "AWS::EC2::SecurityGroup",
}


def _evaluate(value: Any, parameters: dict[str, str]) -> Any:
    """The few intrinsics the network substitutions use, as CloudFormation evaluates them (a created
    resource stands for its id: `<LogicalId>`)."""
    from tests.unit.test_template import PARAMETERS, SAM

    if isinstance(value, list):
        return [_evaluate(v, parameters) for v in value]
    if not isinstance(value, dict):
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        if argument in PARAMETERS:
            raw = parameters.get(argument, PARAMETERS[argument].get("Default", ""))
            return raw.split(",") if PARAMETERS[argument]["Type"] == "CommaDelimitedList" else raw
        return f"<{argument}>"
    if function == "Fn::GetAtt":
        return f"<{argument[0]}>"
    if function == "Fn::Join":
        return argument[0].join(_evaluate(argument[1], parameters))
    if function == "Fn::Equals":
        left, right = _evaluate(argument, parameters)
        return left == right
    if function == "Fn::If":
        condition, when_true, when_false = argument
        chosen = _evaluate(SAM["Conditions"][condition], parameters)
        return _evaluate(when_true if chosen else when_false, parameters)
    raise AssertionError(f"unexpected {function}")


@pytest.mark.parametrize(
    ("parameters", "network"),
    [
        # Every parameter at its default: the network the stack creates, with a public IP
        ({}, ("<TrainingSubnetA>,<TrainingSubnetB>", "<TrainingSecurityGroup>", "ENABLED")),
        # Subnets (and security groups) given: those, and AssignPublicIp as the parameter says
        (
            {"TrainingSubnets": "subnet-a,subnet-b", "TrainingSecurityGroups": "sg-c"},
            ("subnet-a,subnet-b", "sg-c", "DISABLED"),
        ),
        (
            {"TrainingSubnets": "subnet-a", "TrainingAssignPublicIp": "ENABLED"},
            ("subnet-a", "", "ENABLED"),  # no group: the VPC's default one (StringSplit('') is [])
        ),
    ],
)
def test_the_task_runs_in_the_network_the_stack_creates_unless_subnets_are_given(
    parameters: dict[str, str], network: tuple[str, str, str]
) -> None:
    substitutions = RESOURCES["TrainAndPromote"]["Properties"]["DefinitionSubstitutions"]
    names = ("TrainingSubnets", "TrainingSecurityGroups", "TrainingAssignPublicIp")
    assert tuple(_evaluate(substitutions[n], parameters) for n in names) == network
    # which the RunTask call splits into lists
    awsvpc = STATES["TrainOnFargate"]["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert awsvpc == {
        "Subnets.$": "States.StringSplit('${TrainingSubnets}', ',')",
        "SecurityGroups.$": "States.StringSplit('${TrainingSecurityGroups}', ',')",
        "AssignPublicIp": "${TrainingAssignPublicIp}",
    }
    # and the network's resources exist exactly when no subnets are given
    from tests.unit.test_template import SAM

    created = _evaluate(SAM["Conditions"]["CreateTrainingNetwork"], parameters)
    assert created == (not parameters.get("TrainingSubnets"))


def test_the_created_network_is_two_public_subnets_with_an_egress_only_group_and_no_nat() -> None:
    # Every network resource exists only under CreateTrainingNetwork
    for name, kind in NETWORK.items():
        assert (RESOURCES[name]["Type"], RESOURCES[name].get("Condition")) == (kind, "CreateTrainingNetwork")
    assert not [r for r in RESOURCES.values() if r["Type"] == "AWS::EC2::NatGateway"]
    # Two subnets of the VPC in two different AZs of the region, routed to the internet gateway
    zones = [RESOURCES[s]["Properties"]["AvailabilityZone"] for s in ("TrainingSubnetA", "TrainingSubnetB")]
    assert zones == [{"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Fn::Select": [1, {"Fn::GetAZs": ""}]}]
    route = RESOURCES["TrainingInternetRoute"]["Properties"]
    assert (route["DestinationCidrBlock"], route["GatewayId"]) == (
        "0.0.0.0/0",
        {"Ref": "TrainingInternetGateway"},
    )
    assert {
        RESOURCES[a]["Properties"]["SubnetId"]["Ref"]
        for a in ("TrainingSubnetARoutes", "TrainingSubnetBRoutes")
    } == {
        "TrainingSubnetA",
        "TrainingSubnetB",
    }
    # S3 through a (free) gateway endpoint on that route table
    s3 = RESOURCES["TrainingS3Endpoint"]["Properties"]
    assert s3["VpcEndpointType"] == "Gateway" and s3["RouteTableIds"] == [{"Ref": "TrainingRouteTable"}]
    assert s3["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
    # A security group with no ingress at all and HTTPS out only
    group = RESOURCES["TrainingSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)
    ]
