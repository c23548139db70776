"""The Executions port's contract (the TrainAndPromote state machine), kept alike by the in-memory
executions of the use-case tests and the Step Functions adapter (on moto, which starts executions but
runs none): a start under a new name starts, a name already used answers started=False (with other
input, and with the same input, which Step Functions answers as a success), describe and list read back
what was started, newest first."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from moto import mock_aws

from sluice.adapters.executions import Executions as StepFunctions
from sluice.app.ports import Executions
from sluice.errors import StackError
from tests.unit.app.fakes import STATE_MACHINE, InMemoryExecutions
from tests.unit.contracts.conftest import IMPLEMENTATIONS, aws_client

PASS = {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
EXECUTION_PREFIX = STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":"


@pytest.fixture(params=IMPLEMENTATIONS)
def executions(request: pytest.FixtureRequest) -> Iterator[Executions]:
    if request.param == "fake":
        yield InMemoryExecutions(STATE_MACHINE)
        return
    with mock_aws():
        sfn = aws_client("stepfunctions")
        arn = sfn.create_state_machine(
            name="TrainAndPromote",
            definition=json.dumps(PASS),
            roleArn="arn:aws:iam::123456789012:role/TrainAndPromoteRole",
        )["stateMachineArn"]
        assert arn == STATE_MACHINE
        yield StepFunctions(arn, sfn)


def test_a_start_is_named_and_reads_back_its_input(executions: Executions) -> None:
    # Given an execution started under a name
    ref = executions.start("loans-abc", {"model": "loans", "dataset": {"sha256": "d"}})
    # Then it started, its ARN is the machine's execution of that name
    assert (ref.started, ref.name, ref.arn) == (True, "loans-abc", EXECUTION_PREFIX + "loans-abc")
    # And describing it gives its name, status and input (JSON with sorted keys)
    described = executions.describe(ref.arn)
    assert (described["executionArn"], described["name"], described["status"]) == (
        ref.arn,
        "loans-abc",
        "RUNNING",
    )
    assert described["stateMachineArn"] == STATE_MACHINE
    assert described["input"] == json.dumps({"dataset": {"sha256": "d"}, "model": "loans"}, sort_keys=True)


def test_a_name_already_used_is_not_started_again(executions: Executions) -> None:
    # Given an execution started
    first = executions.start("loans-abc", {"model": "loans"})
    # When its name is started again with other input
    again = executions.start("loans-abc", {"model": "loans", "retry": 1})
    # Then it answers started=False, naming the same execution, whose input is the first
    assert (again.started, again.arn, again.name) == (False, first.arn, "loans-abc")
    assert json.loads(executions.describe(first.arn)["input"]) == {"model": "loans"}
    assert [e["name"] for e in executions.list()] == ["loans-abc"]


def test_a_repeat_with_the_same_input_is_not_started_again(executions: Executions) -> None:
    # Given an execution started, still running
    first = executions.start("loans-abc", {"model": "loans"})
    # When its name is started again with the same input (Step Functions answers it as a success), a
    # millisecond later at least, as any request after an answer over a network is (start dates have
    # milliseconds: a repeat within the first's millisecond is indistinguishable from it)
    time.sleep(0.002)
    again = executions.start("loans-abc", {"model": "loans"})
    # Then it answers started=False too, naming the same execution, and only one runs
    assert (first.started, again.started, again.arn, again.name) == (True, False, first.arn, "loans-abc")
    assert [e["name"] for e in executions.list()] == ["loans-abc"]


def test_executions_are_listed_newest_first_and_by_status(executions: Executions) -> None:
    # Given two executions started one after the other
    executions.start("first", {})
    executions.start("second", {})
    # Then both are listed newest first, running, and no execution has succeeded
    listed = executions.list()
    assert [(e["name"], e["status"]) for e in listed] == [("second", "RUNNING"), ("first", "RUNNING")]
    assert {e["executionArn"] for e in listed} == {EXECUTION_PREFIX + "first", EXECUTION_PREFIX + "second"}
    assert all(e["stateMachineArn"] == STATE_MACHINE and "startDate" in e for e in listed)
    assert executions.list(status="RUNNING") == listed and executions.list(status="SUCCEEDED") == []


def test_an_unknown_execution_is_a_stack_error(executions: Executions) -> None:
    # Given no execution, When one is described, Then the service's refusal is a StackError naming it
    with pytest.raises(StackError) as refused:
        executions.describe(EXECUTION_PREFIX + "nope")
    assert refused.value.code == "ExecutionDoesNotExist"
