"""Step Functions executions of moto's ASL engine, as the local stack waits for them and stops them.

- Ends are signalled: moto runs each execution on a thread of its own and tells nobody when it ends;
  `execution_end_signals()` (part of `events.moto_patches`) makes every end notify `ENDED`, so a wait
  for executions wakes when one ends instead of polling ListExecutions. `ACTIVITY` also moves at the
  end of each invocation and delivery: a wait for a condition re-checks it then.
- Stopping: moto's StopExecution marks the program stopped, but the execution stays RUNNING until the
  state it is in returns, and a `.waitForTaskToken` state returns only when its token is answered (its
  thread waits on the callback: moto/stepfunctions/parser/asl/component/state/exec/state_task/service/
  state_task_service_callback.py; a Wait state wakes at once). `waiting_tokens` names the tokens an
  execution waits on, so that whoever stops it can fail them too (SendTaskFailure).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class Signal:
    """A counter that wakes its waiters each time it moves (an execution ended)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0
        self.active = 0  # how many `execution_end_signals()` are in force (0: nothing will signal)

    @property
    def count(self) -> int:
        with self._changed:
            return self._count

    def notify(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_after(self, seen: int, timeout: float) -> bool:
        """Wait until the count is past `seen` (True), or `timeout` seconds (False)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._count == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True


ENDED = Signal()
# Anything the stack did: an invocation, an EventBridge delivery or an execution ended (what a wait for
# a condition on the stack's state re-checks after; see `LocalStack.wait_until`).
ACTIVITY = Signal()


@contextlib.contextmanager
def execution_end_signals() -> Iterator[None]:
    """While inside, the end of every execution moto's ASL engine runs (succeeded, failed, aborted or
    timed out) notifies `ENDED`, once its status is final."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        try:
            original(self)
        finally:
            ENDED.notify()
            ACTIVITY.notify()

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    ENDED.active += 1
    try:
        yield
    finally:
        ENDED.active -= 1
        BaseExecutionWorkerCommunication.terminated = original  # type: ignore[method-assign]


def _execution(account: str, region: str, execution_arn: str) -> Any:
    """moto's Execution object for the ARN, when moto's backend runs in this process (else None)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account][region]
    for machine in backend.state_machines:
        for execution in machine.executions:
            if execution.execution_arn == execution_arn:
                return execution
    return None


def waiting_tokens(account: str, region: str, execution_arn: str) -> list[str]:
    """The task tokens the execution waits on (`.waitForTaskToken` states not yet answered), read from
    moto's engine in this process (empty when moto runs elsewhere)."""
    execution = _execution(account, region, execution_arn)
    environment = getattr(getattr(execution, "exec_worker", None), "env", None)
    if environment is None:
        return []
    pool = environment.callback_pool_manager._pool
    return [
        str(token)
        for token, endpoint in list(pool.items())
        if endpoint.get_outcome() is None and endpoint.consumer_error is None
    ]


def current_state(account: str, region: str, execution_arn: str) -> str | None:
    """The name of the state the execution is in, read from moto's engine in this process."""
    execution = _execution(account, region, execution_arn)
    environment = getattr(getattr(execution, "exec_worker", None), "env", None)
    if environment is None:
        return None
    try:
        return str(environment.next_state_name)
    except Exception:  # between states
        return None


class Deliveries(Protocol):
    """What settling needs of the stack's EventBridge deliveries (`events.EventDelivery`)."""

    @property
    def pending(self) -> list[str]: ...

    def drain(self, timeout: float) -> None: ...

    def discard_queued(self) -> list[str]: ...


class StackExecutions:
    """A stack's executions and EventBridge deliveries, as tests and the demo wait for them to settle
    and stop what a test left going."""

    def __init__(
        self,
        stepfunctions: Callable[[], Any],
        machines: Callable[[], list[str]],
        delivery: Deliveries,
        account: str,
        region: str,
    ) -> None:
        self._stepfunctions = stepfunctions
        self._machines = machines
        self._delivery = delivery
        self._account = account
        self._region = region

    def listed(self, status: str | None = None) -> list[dict[str, Any]]:
        """The executions of the stack's state machines (ListExecutions), those in `status` if given."""
        sfn = self._stepfunctions()
        pages = sfn.get_paginator("list_executions")
        machines = self._machines()
        filters = {"statusFilter": status} if status else {}
        return [
            e
            for arn in machines
            for page in pages.paginate(stateMachineArn=arn, **filters)
            for e in page["executions"]
        ]

    def ended(self, execution_arn: str, timeout: float = 300.0) -> dict[str, Any]:
        """Wait for the execution to end: DescribeExecution's answer, with its output parsed (`result`)."""
        sfn = self._stepfunctions()

        def described() -> dict[str, Any] | None:
            answer = dict(sfn.describe_execution(executionArn=execution_arn))
            if answer["status"] == "RUNNING":
                return None
            return answer | {"result": json.loads(answer.get("output") or "null")}

        return wait_until(described, what=f"execution {execution_arn} to end", timeout=timeout)

    def settle(self, timeout: float = 300.0, poll: float = 0.1) -> list[dict[str, Any]]:
        """Wait until no EventBridge delivery is pending and no execution of the stack's state machines
        is running; returns all their executions. Nothing pending or running: returns at once. The
        wait wakes when a delivery or an execution ends (moto's engine signals it, see `executions`;
        a stack attached to another process's moto is polled every `poll` seconds). On timeout, the
        error names what was still pending or running."""
        deadline = time.monotonic() + timeout
        while True:
            ended = ENDED.count
            self._delivery.drain(max(0.0, deadline - time.monotonic()))
            running = self.listed("RUNNING")
            if not running:
                if self._delivery.pending:  # a delivery queued meanwhile: drain it too
                    continue
                return self.listed()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"after {timeout}s, still running: {self._describe_running(running)}")
            ENDED.wait_after(ended, remaining if ENDED.active else min(poll, remaining))

    def _describe_running(self, running: list[dict[str, Any]]) -> str:
        """Each running execution's name, the state it is in and the task tokens it waits on."""
        described = []
        for execution in running:
            arn = execution["executionArn"]
            state = current_state(self._account, self._region, arn)  # None, [] if moto runs elsewhere
            tokens = waiting_tokens(self._account, self._region, arn)
            described.append(
                f"{execution['name']} ({execution['stateMachineArn'].rsplit(':', 1)[-1]}"
                + (f", in state {state}" if state else "")
                + (f", waiting on {len(tokens)} task token(s)" if tokens else "")
                + ")"
            )
        return "; ".join(described)

    def stop_leftovers(self, cause: str, timeout: float = 120.0) -> dict[str, list[str]]:
        """Stop what is still going on (a test's leftovers): EventBridge deliveries not started yet are
        dropped and the one running is waited for; every execution still RUNNING is stopped
        (StopExecution) and each task token it waits on is failed (SendTaskFailure with `cause`: moto
        leaves a stopped execution RUNNING until its token is answered), then waited for, again until
        nothing runs (a stopped step may have queued more). Returns what was dropped and stopped:
        {"deliveries": [function, ...], "executions": [name, ...]} (both empty: nothing was left)."""
        sfn = self._stepfunctions()
        deadline = time.monotonic() + timeout
        dropped: list[str] = []
        stopped: list[str] = []
        while True:
            ended = ENDED.count
            dropped += self._delivery.discard_queued()
            self._delivery.drain(max(0.0, deadline - time.monotonic()))
            running = self.listed("RUNNING")
            if not running:
                if self._delivery.pending:
                    continue
                return {"deliveries": dropped, "executions": stopped}
            if time.monotonic() > deadline:
                raise TimeoutError(f"after {timeout}s, could not stop: {self._describe_running(running)}")
            for execution in running:
                arn = execution["executionArn"]
                if execution["name"] not in stopped:
                    stopped.append(execution["name"])
                    sfn.stop_execution(executionArn=arn, error="Sluice.Stopped", cause=cause)
                for token in waiting_tokens(self._account, self._region, arn):
                    with contextlib.suppress(sfn.exceptions.ClientError):  # answered meanwhile
                        sfn.send_task_failure(taskToken=token, error="Sluice.Stopped", cause=cause)
            remaining = max(0.0, deadline - time.monotonic())
            ENDED.wait_after(ended, min(remaining, 1.0) if ENDED.active else min(0.1, remaining))


def wait_until[T](condition: Callable[[], T | None], *, what: str, timeout: float = 300.0) -> T:
    """Wait until `condition()` answers something (not None, not falsy), which it returns. It is
    checked now and again each time an invocation, a delivery or an execution ends (the stack's
    state changes there; a stack attached to another process's moto is checked every second).
    On timeout, the error says it was waiting for `what`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = ACTIVITY.count
        value = condition()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"after {timeout}s, still waiting for {what}")
        ACTIVITY.wait_after(seen, min(remaining, 1.0))
