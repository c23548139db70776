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
import threading
import time
from collections.abc import Iterator
from typing import Any


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
