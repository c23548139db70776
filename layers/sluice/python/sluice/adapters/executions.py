"""Step Functions: start TrainAndPromote executions under deterministic names."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters import aws_call, client, error_code
from sluice.domain.records import ExecutionRef


class Executions:
    def __init__(self, state_machine_arn: str, sfn: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = sfn or client("stepfunctions")

    def execution_arn(self, name: str) -> str:
        prefix, _, machine = self.state_machine_arn.partition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, payload: dict[str, Any]) -> ExecutionRef:
        """Start an execution; a name already used means this run was started before."""
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload, sort_keys=True)
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return ExecutionRef(arn=self.execution_arn(name), name=name, started=False)
            with aws_call(f"start execution {name}"):
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
