"""Every Task state of every state machine retries the transient errors of its own integration, under the
names Step Functions gives them on AWS: a Lambda task Lambda's, the ECS task ECS's, an SNS publish SNS's,
a Distributed Map the failures of its ItemReader and ResultWriter.

The integration is read from each state's `Resource` after the template's DefinitionSubstitutions are
resolved (a `${TrainFunctionArn}` is a Lambda function ARN); an integration with no row in RETRIED fails the
test, so a new one cannot come in without its retries."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from sluice.tools.local.template import SERVERLESS_STATE_MACHINE, substitute_definition
from tests.unit.test_template import RESOURCES, ROOT, SAM

REGION, ACCOUNT = "us-east-1", "123456789012"

# Integration -> the error names it must retry, and where AWS documents them. Step Functions names a
# service integration's error <Service>.<Exception> (the SDK's exception class; a fault the service
# models no exception for is the service's base exception, e.g. ECS.AmazonECSException, which is how
# ECS's and SNS's throttling "Rate exceeded" surfaces), and `SdkClientException` a call that never got
# an answer (Lambda's page below names all four; the same holds for every optimized integration).
RETRIED: dict[str, tuple[frozenset[str], str]] = {
    "lambda": (
        frozenset(
            {
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.ClientExecutionTimeoutException",
                "Lambda.TooManyRequestsException",  # the function's reserved concurrency is reached
            }
        ),
        "https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html",
    ),
    "ecs": (
        frozenset(
            {
                "ECS.AmazonECSException",  # unmodelled faults, throttling (ThrottlingException: Rate exceeded)
                "ECS.ServerException",  # RunTask / DescribeTasks: "usually caused by a server issue"
                "ECS.SdkClientException",
                # .sync: RunTask answered 200 with a non-empty `failures` (the task could not be placed:
                # RESOURCE:CPU/MEMORY, no Fargate capacity); a stopped task is States.TaskFailed, which
                # cannot be told from a training error by name and is not required here.
                "AmazonECS.Unknown",
            }
        ),
        "https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html ; "
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html#API_RunTask_Errors ; "
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/CommonErrors.html",
    ),
    "sns": (
        frozenset(
            {
                "SNS.AmazonSNSException",  # unmodelled faults, Publish's throttling (ThrottlingException)
                "SNS.InternalErrorException",
                "SNS.ThrottledException",
                "SNS.KMSThrottlingException",  # the topic's KMS key throttled (SluiceKey encrypts it)
                "SNS.SdkClientException",
            }
        ),
        "https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors",
    ),
    # Not used by a state today; here so that one added later is held to them.
    "states": (
        frozenset({"StepFunctions.AWSStepFunctionsException", "StepFunctions.SdkClientException"}),
        "https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html",
    ),
    "dynamodb": (
        frozenset(
            {
                "DynamoDB.AmazonDynamoDBException",
                "DynamoDB.InternalServerErrorException",
                "DynamoDB.ProvisionedThroughputExceededException",
                "DynamoDB.RequestLimitExceededException",
                "DynamoDB.SdkClientException",
            }
        ),
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html",
    ),
    # A Distributed Map's reader and writer fail the Map state itself.
    "ItemReader": (
        frozenset({"States.ItemReaderFailed"}),
        "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html",
    ),
    "ResultWriter": (
        frozenset({"States.ResultWriterFailed"}),
        "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html",
    ),
}

LAMBDA_FUNCTION = re.compile(r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$")
OPTIMIZED = re.compile(
    r"^arn:aws:states:::(?P<service>[a-z0-9-]+):(?P<api>[A-Za-z]+)(\.(sync(:2)?|waitForTaskToken))?$"
)
# How a substitution that names a resource resolves on AWS, by the resource's type.
ARN_OF = {
    "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{{}}",
    "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{{}}",
    "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{{}}",
    "AWS::ECS::Cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{{}}",
    "AWS::ECS::TaskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{{}}:1",
    "AWS::Serverless::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{{}}",
}


def _resolved(name: str, value: Any) -> str:
    """A substitution's value as a string: a resource's ARN (or name) by its type, a parameter's default;
    any other intrinsic a placeholder (it is not a Resource, or the integration check fails)."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    target = None
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        attribute = value["Fn::GetAtt"]
        target = attribute[0] if isinstance(attribute, list) else str(attribute).split(".")[0]
    elif isinstance(value, dict) and "Ref" in value:
        target = value["Ref"]
        if target in SAM.get("Parameters", {}):
            return str(SAM["Parameters"][target].get("Default", ""))
    if target in RESOURCES and RESOURCES[target]["Type"] in ARN_OF:
        return ARN_OF[RESOURCES[target]["Type"]].format(target)
    return f"resolved-{name}"


def definitions() -> dict[str, dict[str, Any]]:
    """Each state machine's ASL, by file, with its DefinitionSubstitutions resolved."""
    found = {}
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] != SERVERLESS_STATE_MACHINE:
            continue
        props = resource["Properties"]
        substitutions = {k: _resolved(k, v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
        text = (ROOT / props["DefinitionUri"]).read_text()
        resolved = substitute_definition(text, substitutions, logical_id)
        assert isinstance(resolved, str)
        found[props["DefinitionUri"].rsplit("/", 1)[-1]] = json.loads(resolved)
    return found


DEFINITIONS = definitions()


def integration_of(resource: str) -> str | None:
    if LAMBDA_FUNCTION.match(resource):
        return "lambda"
    match = OPTIMIZED.match(resource)
    return match.group("service") if match else None


def states(definition: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, nested ones (Map iterations, Parallel branches) named by their path."""
    for name, state in definition["States"].items():
        path = f"{prefix}{name}"
        yield path, state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from states(state[key], f"{path}/")
        for index, branch in enumerate(state.get("Branches", [])):
            yield from states(branch, f"{path}[{index}]/")


def required(state: dict[str, Any]) -> dict[str, str | None]:
    """The integrations whose transient errors `state` must retry (name -> its Resource)."""
    needs: dict[str, str | None] = {}
    if state["Type"] == "Task":
        needs[integration_of(state["Resource"]) or state["Resource"]] = state["Resource"]
    if state["Type"] == "Map":
        for part in ("ItemReader", "ResultWriter"):
            if part in state:
                needs[part] = state[part].get("Resource")
    return needs


def retried(state: dict[str, Any], error: str) -> bool:
    """As Step Functions picks a retrier: the first whose ErrorEquals matches decides (MaxAttempts 0
    means never). States.ALL matches everything, States.TaskFailed every error but the States.* ones."""
    for retrier in state.get("Retry", []):
        names = retrier["ErrorEquals"]
        wildcard = "States.ALL" in names or ("States.TaskFailed" in names and not error.startswith("States."))
        if error in names or wildcard:
            return int(retrier.get("MaxAttempts", 3)) > 0
    return False


def missing_retries(definition: dict[str, Any]) -> list[str]:
    """One line per state and error it should retry and does not (or integration with no table)."""
    problems = []
    for path, state in states(definition):
        for integration, resource in required(state).items():
            if integration not in RETRIED:
                problems.append(f"{path}: no retry table for the integration of {resource!r}")
                continue
            errors, source = RETRIED[integration]
            problems += [
                f"{path} ({integration}) does not retry {error} (see {source.split(' ; ')[0]})"
                for error in sorted(errors)
                if not retried(state, error)
            ]
    return problems


def test_every_state_machine_of_the_template_is_checked() -> None:
    assert set(DEFINITIONS) == {"train_and_promote.asl.json", "batch_score.asl.json", "monitoring.asl.json"}
    seen = {i for d in DEFINITIONS.values() for _, s in states(d) for i in required(s)}
    # the checked integrations include Lambda (function ARNs and lambda:invoke), ECS and SNS, and the
    # Distributed Map's reader and writer
    assert seen >= {"lambda", "ecs", "sns", "ItemReader", "ResultWriter"}


@pytest.mark.parametrize("file", sorted(DEFINITIONS))
def test_every_task_retries_the_transient_errors_of_its_own_integration(file: str) -> None:
    problems = missing_retries(DEFINITIONS[file])
    assert not problems, f"{file}:\n" + "\n".join(problems)


def test_the_check_names_the_state_and_the_error_it_misses() -> None:
    # Given copies of the state machines, each with one retry taken out: the nested cross-validation's,
    # one SNS error of Notify, the ECS placement failures of TrainOnFargate, the Map's reader failure
    train = copy.deepcopy(DEFINITIONS["train_and_promote.asl.json"])
    search = train["States"]["SearchCandidates"]["ItemProcessor"]["States"]["CrossValidate"]
    del search["Retry"]
    notify = train["States"]["Notify"]["Retry"][0]
    notify["ErrorEquals"].remove("SNS.KMSThrottlingException")
    fargate = train["States"]["TrainOnFargate"]["Retry"]
    fargate[:] = [r for r in fargate if "AmazonECS.Unknown" not in r["ErrorEquals"]]
    batch = copy.deepcopy(DEFINITIONS["batch_score.asl.json"])
    batch["States"]["ScoreRows"]["Retry"][0]["ErrorEquals"].remove("States.ItemReaderFailed")
    # and a retrier that would match but allows no attempt
    train["States"]["Evaluate"]["Retry"].insert(
        0, {"ErrorEquals": ["Lambda.SdkClientException"], "MaxAttempts": 0}
    )

    # Then the check names each state and what it no longer retries
    problems = missing_retries(train) + missing_retries(batch)
    assert [p.split(" (see ")[0] for p in problems] == [
        "SearchCandidates/CrossValidate (lambda) does not retry Lambda.AWSLambdaException",
        "SearchCandidates/CrossValidate (lambda) does not retry Lambda.ClientExecutionTimeoutException",
        "SearchCandidates/CrossValidate (lambda) does not retry Lambda.SdkClientException",
        "SearchCandidates/CrossValidate (lambda) does not retry Lambda.ServiceException",
        "SearchCandidates/CrossValidate (lambda) does not retry Lambda.TooManyRequestsException",
        "TrainOnFargate (ecs) does not retry AmazonECS.Unknown",
        "Evaluate (lambda) does not retry Lambda.SdkClientException",
        "Notify (sns) does not retry SNS.KMSThrottlingException",
        "ScoreRows (ItemReader) does not retry States.ItemReaderFailed",
    ]
    # and an integration without a table is an error too
    train["States"]["Notify"]["Resource"] = "arn:aws:states:::sqs:sendMessage"
    assert (
        "Notify: no retry table for the integration of 'arn:aws:states:::sqs:sendMessage'"
        in missing_retries(train)
    )


def test_resources_resolve_to_the_integrations_aws_would_call() -> None:
    train = dict(states(DEFINITIONS["train_and_promote.asl.json"]))
    assert train["Train"]["Resource"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:TrainFunction"
    assert integration_of(train["Train"]["Resource"]) == "lambda"
    assert integration_of(train["AwaitApproval"]["Resource"]) == "lambda"  # lambda:invoke.waitForTaskToken
    assert integration_of(train["TrainOnFargate"]["Resource"]) == "ecs"  # ecs:runTask.sync
    assert integration_of(train["Notify"]["Resource"]) == "sns"
    assert integration_of("arn:aws:states:::states:startExecution.sync:2") == "states"
    assert integration_of("arn:aws:states:::dynamodb:putItem") == "dynamodb"
    assert integration_of("${TrainFunctionArn}") is None  # unresolved: not taken for a Lambda task
