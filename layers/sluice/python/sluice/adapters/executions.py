"""Step Functions: start TrainAndPromote executions under deterministic names."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
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
        """Start an execution named `name`; `started=False` when this call did not start it because the
        name was used before. Step Functions refuses a used name (ExecutionAlreadyExists), except while
        the execution of that name still runs and the input is the same: then it answers as for a new
        start, with that execution's ARN and its original start date. So an answer whose start date
        precedes this call is that earlier execution (and an SDK retry of this very call, after its
        first answer was lost, is still this call's start). The start date is Step Functions' clock, the
        comparison is with this machine's, to the millisecond: Lambda's clock is AWS's. Two starts racing
        (duplicate events handled at once) may both be answered as started: callers that must act once
        per name record it (`Registry.record_run_started`)."""
        called_at = _to_millisecond(datetime.now(UTC))
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
        started_at = response.get("startDate")
        repeat = isinstance(started_at, datetime) and started_at < called_at
        return ExecutionRef(arn=str(response["executionArn"]), name=name, started=not repeat)

    def describe(self, arn: str) -> dict[str, Any]:
        with aws_call(f"describe execution {arn}"):
            return dict(self._sfn.describe_execution(executionArn=arn))

    def history(self, arn: str, max_events: int = 5000) -> list[dict[str, Any]]:
        """The execution's history events, oldest first (at most `max_events`)."""
        out: list[dict[str, Any]] = []
        with aws_call(f"history of execution {arn}"):
            for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                out.extend(page["events"])
                if len(out) >= max_events:
                    break
        return out[:max_events]

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


def _to_millisecond(moment: datetime) -> datetime:
    """`moment` without its microseconds below the millisecond (Step Functions' start dates have none)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
