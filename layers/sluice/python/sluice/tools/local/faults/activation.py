"""Turning faults on: the patches `injecting` installs, and the runtime's hook around an invocation."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice.tools.local.faults.injector import _NO_WATCH, FaultInjector, _Watch, access_key_of, invoked_by
from sluice.tools.local.faults.kinds import EVENTS, REDELIVERED, STATE_MACHINE_RETRY, SURFACED

if TYPE_CHECKING:
    from sluice.tools.local.iam.enforcement import Enforcer

_ACTIVE: list[FaultInjector] = []


def active_injector() -> FaultInjector | None:
    return _ACTIVE[-1] if _ACTIVE else None


def watch_invocation(function: str, context: Any) -> contextlib.AbstractContextManager[_Watch]:
    """The runtime's hook around one invocation (nothing, when no faults are injected)."""
    injector = active_injector()
    if injector is None:
        return contextlib.nullcontext(_NO_WATCH)
    return injector.invocation(function, context)


@dataclass
class Delivery:
    """One EventBridge delivery, with its retries; `gave_up` once every attempt failed."""

    gave_up: bool = False


@contextlib.contextmanager
def eventbridge_delivery() -> Iterator[Delivery]:
    """Around one EventBridge delivery and its retries (the local stack's EventDelivery): the invocations
    inside are EventBridge's, so they may be killed, and the faults that failed an attempt end
    redelivered, or surfaced when the delivery gave up (nothing, when no faults are injected)."""
    injector = active_injector()
    delivery = Delivery()
    with invoked_by(EVENTS):
        try:
            yield delivery
        finally:
            if injector is not None:
                injector._settle_thread(SURFACED if delivery.gave_up else REDELIVERED)


class _ScaledTime:
    """The `time` module, with `sleep` scaled (a Retry's wait in moto's ASL engine)."""

    def __init__(self, scale: float) -> None:
        self._scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) * self._scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def injecting(
    injector: FaultInjector | None, enforcer: Enforcer | None = None
) -> Iterator[FaultInjector | None]:
    """While inside, `injector`'s faults are injected into this process's AWS calls and invocations
    (nothing, when it is None). Enter it inside `moto_patches()`: it wraps what those install."""
    if injector is None:
        yield None
        return
    from botocore.endpoint import Endpoint
    from botocore.retries.standard import ExponentialBackoff
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    targets: list[tuple[Any, str]] = [
        (Endpoint, "_do_get_response"),
        (Endpoint, "_send_request"),
        (ExponentialBackoff, "delay_amount"),
        (LambdaSimpleBackend, "invoke"),
        (ExecutionState, "_handle_retry"),
        (retrier_decl, "time"),
    ]
    saved = [getattr(owner, name) for owner, name in targets]
    do_get_response, send_request, delay_amount, invoke, handle_retry, _ = saved

    def patched_do_get_response(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        return injector.do_get_response(do_get_response, self, request, operation_model, context)

    def patched_send_request(self: Any, request_dict: Any, operation_model: Any) -> Any:
        return injector.send_request(send_request, self, request_dict, operation_model)

    def patched_delay_amount(self: Any, context: Any) -> float:
        return float(delay_amount(self, context)) * injector.time_scale

    def patched_invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> Any:
        # a stack principal (a state machine's role) invoking: its invocation may be killed
        with invoked_by(injector.principal_of_key(access_key_of(headers or {}))):
            return invoke(self, function_name, qualifier, body, headers, response_headers)

    def patched_handle_retry(self: Any, env: Any, failure_event: Any) -> Any:
        outcome = handle_retry(self, env, failure_event)
        failure = json.dumps(getattr(failure_event, "event_details", None), default=str)
        injector._settle_failure(
            failure, STATE_MACHINE_RETRY if outcome == RetryOutcome.CanRetry else SURFACED
        )
        return outcome

    replacements = [
        patched_do_get_response,
        patched_send_request,
        patched_delay_amount,
        patched_invoke,
        patched_handle_retry,
        _ScaledTime(injector.time_scale),
    ]
    injector.enforcer = enforcer
    for (owner, name), replacement in zip(targets, replacements, strict=True):
        setattr(owner, name, replacement)
    _ACTIVE.append(injector)
    try:
        yield injector
    finally:
        _ACTIVE.remove(injector)
        for (owner, name), original in zip(targets, saved, strict=True):
            setattr(owner, name, original)
        injector.enforcer = None
