"""Step Functions: start TrainAndPromote executions under deterministic names."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters import aws_call, client, error_code
from sluice.domain.registry.records import ExecutionRef
from sluice.errors import SluiceError

# What Step Functions answers for a task token nobody waits on any more.
_TOKEN_GONE = {"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"}


class Executions:
    def __init__(self, state_machine_arn: str, sfn: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = sfn or client("stepfunctions")

    def execution_arn(self, name: str) -> str:
        prefix, _, machine = self.state_machine_arn.partition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, payload: dict[str, Any]) -> ExecutionRef:
        """Start an execution; a name already used means this run was started before."""
        with aws_call(f"start execution {name}"):
            try:
                response = self._sfn.start_execution(
                    stateMachineArn=self.state_machine_arn,
                    name=name,
                    input=json.dumps(payload, sort_keys=True),
                )
            except ClientError as exc:
                if error_code(exc) == "ExecutionAlreadyExists":
                    return ExecutionRef(arn=self.execution_arn(name), name=name, started=False)
                raise
        return ExecutionRef(arn=str(response["executionArn"]), name=name, started=True)

    def describe(self, arn: str) -> dict[str, Any]:
        with aws_call(f"describe execution {arn}"):
            return dict(self._sfn.describe_execution(executionArn=arn))

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        out: list[dict[str, Any]] = []
        with aws_call(f"list executions of {self.state_machine_arn}"):
            for page in self._sfn.get_paginator("list_executions").paginate(**kwargs):
                out.extend(page["executions"])
        return out

    def send_task_success(self, task_token: str, output: dict[str, Any]) -> None:
        """Complete the task waiting on `task_token` with `output` (its result)."""
        with self._answering():
            self._sfn.send_task_success(taskToken=task_token, output=json.dumps(output, sort_keys=True))

    def send_task_failure(self, task_token: str, error: str, cause: str) -> None:
        """Fail the task waiting on `task_token` with `error` (what its Catch matches) and `cause`."""
        with self._answering():
            self._sfn.send_task_failure(taskToken=task_token, error=error, cause=cause)

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            code = error_code(exc)
            if code in _TOKEN_GONE:
                raise SluiceError(
                    f"the run no longer waits for this answer ({code}): it was answered, timed out or ended"
                ) from exc
            with aws_call("answer a waiting task"):
                raise
