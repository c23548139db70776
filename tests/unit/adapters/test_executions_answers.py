"""The Executions adapter's answers to a waiting task (SendTaskSuccess / SendTaskFailure): what it sends,
and a token nobody waits on any more turned into a SluiceError that says so."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from sluice.adapters.executions import Executions
from sluice.errors import SluiceError, StackError

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:TrainAndPromote"


def stubbed() -> tuple[Executions, Stubber]:
    sfn: Any = botocore.session.get_session().create_client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return Executions(MACHINE, sfn), Stubber(sfn)


def test_success_sends_the_output_as_json_and_failure_its_error_and_cause() -> None:
    executions, stub = stubbed()
    stub.add_response(
        "send_task_success", {}, {"taskToken": "t1", "output": '{"by": "alice", "reason": null}'}
    )
    stub.add_response(
        "send_task_failure",
        {},
        {"taskToken": "t2", "error": "ApprovalRejected", "cause": "rejected by bob: no"},
    )
    with stub:
        executions.send_task_success("t1", {"by": "alice", "reason": None})
        executions.send_task_failure("t2", "ApprovalRejected", "rejected by bob: no")
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["InvalidToken", "TaskTimedOut", "TaskDoesNotExist"])
def test_a_token_nobody_waits_on_is_a_sluice_error_naming_the_code(code: str) -> None:
    executions, stub = stubbed()
    stub.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
    with stub, pytest.raises(SluiceError, match=f"no longer waits for this answer \\({code}\\)"):
        executions.send_task_success("gone", {"by": "alice"})


def test_other_errors_are_stack_errors() -> None:
    executions, stub = stubbed()
    stub.add_client_error(
        "send_task_failure", service_error_code="AccessDeniedException", http_status_code=400
    )
    with stub, pytest.raises(StackError):
        executions.send_task_failure("t", "ApprovalRejected", "rejected by bob: no")
