"""The injector: which attempts fail (seeded), the faults injected, and how each was survived."""

from __future__ import annotations

import contextlib
import contextvars
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluice.tools.local.iam.enforcement import Enforcer

from sluice.tools.local.faults.kinds import (
    ADMIN_KEYS,
    ANSWERED_503,
    CALL_KINDS,
    CALL_WEIGHTS,
    CAUGHT,
    CONNECTION_RESET,
    EVENTS,
    INVOCATION_KILLED,
    MAX_CALLS_BEFORE_KILL,
    MOTO_STATES_KEY,
    OUTCOMES,
    RAISED,
    READ_TIMEOUT,
    SDK_RETRY,
    SERVER_ERROR,
    STATES,
    SURFACED,
    THROTTLING,
    Fault,
    InvocationKilled,
    short_name,
    timed_out,
)
from sluice.tools.local.faults.responses import (
    PROTOCOLS,
    ServiceError,
    parsed_error,
    sdk_client_exception,
    service_error,
)
from sluice.tools.local.function_logs import underlying


@dataclass
class _Scope:
    """One invocation running on this thread: whose it is, who invoked it, the faults raised to its
    handler, and (when it is to be killed) how many AWS calls it has left."""

    principal: str
    function: str
    origin: str | None
    pending: list[Fault] = field(default_factory=list)
    calls_left: int | None = None
    killed: Fault | None = None


class _Local(threading.local):
    def __init__(self) -> None:
        self.scopes: list[_Scope] = []
        self.pending: list[Fault] = []  # raised outside any invocation on this thread (Step Functions)


# Who invoked the function being run on this thread: a state machine's principal, "events" (EventBridge),
# or None (a synchronous caller: the API, the deployer).
_ORIGIN: contextvars.ContextVar[str | None] = contextvars.ContextVar("sluice_invocation_origin", default=None)
_KEY = re.compile(r"Credential=([^/,\s]+)/")


@contextlib.contextmanager
def invoked_by(origin: str | None) -> Iterator[None]:
    """While inside, invocations run on this thread were made by `origin` (a state machine's principal,
    "events"; None: a synchronous caller), which decides whether they may be killed."""
    token = _ORIGIN.set(origin)
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def stack_principal(access_key: str | None, enforcer: Enforcer | None) -> str | None:
    """The stack's principal (a role's ARN) holding `access_key`; None for the deployer, a person (an
    IAM user's keys) or nobody known. With IAM off (no `enforcer`), any key but the deployer's: moto's
    Step Functions engine signs with its own (`STATES`). Faults and AWS-like latency (`latency`) both
    apply to these calls only."""
    if access_key is None:
        return None
    if enforcer is not None:
        principal = enforcer.principal_of(access_key)
        return None if principal is None or principal.admin or not principal.role_arn else principal.name
    if access_key in ADMIN_KEYS:
        return None
    return STATES if access_key == MOTO_STATES_KEY else f"key {access_key}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def access_key_of(headers: Any) -> str | None:
    """The access key id a SigV4 Authorization header names."""
    match = _KEY.search(_text(headers.get("Authorization") or headers.get("authorization")))
    return match.group(1) if match else None


class FaultInjector:
    """The faults of one stack: which calls fail (seeded), and the record of each."""

    def __init__(
        self,
        rate: float,
        seed: int = 0,
        *,
        time_scale: float = 1.0,
        kinds: tuple[str, ...] = CALL_KINDS,
        kill: bool = True,
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"the fault rate is a fraction between 0 and 1, got {rate}")
        unknown = set(kinds) - set(CALL_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(CALL_KINDS)}")
        self.rate = rate
        self.seed = seed
        self.time_scale = time_scale
        self.kinds = kinds  # the kinds of call faults drawn (with their usual weights)
        self.kill = kill  # whether invocations are killed too
        self.faults: list[Fault] = []
        self.enforcer: Enforcer | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._local = _Local()
        self._active: dict[str, list[_Scope]] = {}  # invocations running, by principal
        # faults a state machine decides on (its Retry, or not), by the request id its failure's cause names
        self._awaiting: dict[str, list[Fault]] = {}
        self._state_roles: dict[str, bool] = {}
        self._request_ids = 0

    # ------------------------------------------------------------------ draws
    def _draw(self) -> str | None:
        """The kind of fault the next attempt meets (None: it goes through)."""
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            weights = [w for k, w in zip(CALL_KINDS, CALL_WEIGHTS, strict=True) if k in self.kinds]
            return self._rng.choices(self.kinds, weights)[0]

    def _draw_kill(self) -> bool:
        with self._lock:
            return self.kill and self._rng.random() < self.rate

    def _randint(self, low: int, high: int) -> int:
        with self._lock:
            return self._rng.randint(low, high)

    def _request_id(self) -> str:
        with self._lock:
            self._request_ids += 1
            return f"sluice-fault-{self.seed}-{self._request_ids:06d}"

    def _error(self, kind: str, service: str, protocol: str) -> ServiceError:
        with self._lock:
            return service_error(kind, service, protocol, self._rng)

    # ------------------------------------------------------------------ principals
    def principal_of_key(self, access_key: str | None) -> str | None:
        """The stack's principal (a role's ARN) holding `access_key`; None for the deployer, a person (an
        IAM user's keys) or nobody known: only the stack's own calls are faulted."""
        return stack_principal(access_key, self.enforcer)

    def principal_of_request(self, request: Any) -> str | None:
        principal = self.principal_of_key(access_key_of(request.headers))
        if principal is None and self.enforcer is None and self._local.scopes:
            return self._local.scopes[-1].principal  # IAM off: the handler on this thread
        return principal

    def is_state_machine(self, principal: str) -> bool:
        """Whether `principal` is a state machine's role (Step Functions calls as it)."""
        if principal == STATES:
            return True
        if principal not in self._state_roles:
            found = False
            if self.enforcer is not None and ":role/" in principal:
                with contextlib.suppress(Exception):
                    from moto.iam.models import iam_backends

                    where = self.enforcer.where
                    role = iam_backends[where.account][where.partition].get_role_by_arn(principal)
                    found = "states.amazonaws.com" in json.dumps(role.assume_role_policy_document)
            self._state_roles[principal] = found
        return self._state_roles[principal]

    # ------------------------------------------------------------------ recording
    def _record(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)
        # the stack's log, not the function's (a fault met inside an invocation: see function_logs)
        underlying(sys.stderr).write(fault.line() + "\n")

    def _raised(self, fault: Fault) -> None:
        """A fault left botocore: it waits on the state machine that made the call, the invocation it
        was raised in (this thread's, or a running invocation of its principal when raised on a worker
        thread), else on this thread."""
        if fault.key is not None:
            self._await(fault.key, [fault])
            return
        if self._local.scopes:
            self._local.scopes[-1].pending.append(fault)
            return
        with self._lock:
            running = self._active.get(fault.principal)
            if running:
                running[-1].pending.append(fault)
                return
        self._local.pending.append(fault)

    def _settle_thread(self, outcome: str) -> None:
        for fault in self._local.pending:
            fault.outcome = outcome
        self._local.pending = []

    def _await(self, key: str, faults: list[Fault]) -> None:
        with self._lock:
            self._awaiting.setdefault(key, []).extend(faults)

    def _settle_failure(self, failure: str, outcome: str) -> None:
        """A state machine decided on a failure (`failure`: its error and cause as text): the faults
        whose request id it names end with `outcome`."""
        with self._lock:
            keys = [key for key in self._awaiting if key in failure]
            settled = [fault for key in keys for fault in self._awaiting.pop(key)]
        for fault in settled:
            fault.outcome = outcome

    # ------------------------------------------------------------------ the hooks
    def do_get_response(
        self, original: Any, endpoint: Any, request: Any, operation_model: Any, context: dict[str, Any]
    ) -> Any:
        scope = self._local.scopes[-1] if self._local.scopes else None
        if scope is not None and scope.calls_left is not None:
            scope.calls_left -= 1
            if scope.calls_left <= 0:  # stopped here: before the call is sent, or after it was handled
                if self._randint(0, 1):
                    original(endpoint, request, operation_model, context)
                self._kill(scope)
                raise InvocationKilled
        principal = self.principal_of_request(request)
        if principal is None:
            return original(endpoint, request, operation_model, context)
        kind = self._draw()
        if kind is None:
            return original(endpoint, request, operation_model, context)
        service_model = operation_model.service_model
        protocol = service_model.resolved_protocol
        if kind in (THROTTLING, SERVER_ERROR) and protocol not in PROTOCOLS:
            kind = CONNECTION_RESET  # a protocol whose errors are not built here (CBOR): a network fault
        fault = Fault(
            kind=kind,
            principal=principal,
            operation=f"{service_model.service_name}:{operation_model.name}",
            attempt=int((context.get("retries") or {}).get("attempt", 1)),
        )
        self._record(fault)
        context.setdefault("sluice_faults", []).append(fault)
        request_id = self._request_id()
        state_machine = self.is_state_machine(principal)
        if state_machine:  # no SDK retry: its failure, named by this request id, goes to a Retry
            fault.key = request_id
        if kind == CONNECTION_RESET:
            if state_machine:
                return None, sdk_client_exception(operation_model, "Connection reset", request_id)
            from botocore.exceptions import ConnectionClosedError

            return None, ConnectionClosedError(endpoint_url=request.url)
        if kind == READ_TIMEOUT:
            original(endpoint, request, operation_model, context)  # handled; its answer is lost
            if state_machine:
                return None, sdk_client_exception(operation_model, "Read timed out", request_id)
            from botocore.exceptions import ReadTimeoutError

            return None, ReadTimeoutError(endpoint_url=request.url)
        error = self._error(kind, service_model.service_name, protocol)
        return parsed_error(endpoint, request, operation_model, error, request_id)

    def send_request(
        self, original: Any, endpoint: Any, request_dict: dict[str, Any], operation_model: Any
    ) -> Any:
        context = request_dict.get("context") or {}
        try:
            result = original(endpoint, request_dict, operation_model)
        except BaseException:
            for fault in context.pop("sluice_faults", []):
                self._raised(fault)
            raise
        faults = context.pop("sluice_faults", [])
        if faults:
            succeeded = result[0] is not None and result[0].status_code < 300
            for fault in faults:
                if succeeded:
                    fault.outcome = SDK_RETRY
                else:
                    self._raised(fault)
        return result

    def _kill(self, scope: _Scope) -> None:
        scope.calls_left = None
        scope.killed = Fault(
            kind=INVOCATION_KILLED,
            principal=scope.principal,
            operation="lambda:Invoke",
            attempt=1,
            function=scope.function,
        )
        self._record(scope.killed)

    # ------------------------------------------------------------------ invocations
    def invocation_principal(self, function: str) -> str:
        """Whose the invocation running now is: its role (from the credentials the runtime gave it), or
        with IAM off its function."""
        import os

        principal = self.principal_of_key(os.environ.get("AWS_ACCESS_KEY_ID"))
        return principal if principal and self.enforcer is not None else f"function {function}"

    @contextlib.contextmanager
    def invocation(self, function: str, context: Any) -> Iterator[_Watch]:
        origin = _ORIGIN.get()
        _ORIGIN.set(None)  # calls the handler makes are its own
        scope = _Scope(principal=self.invocation_principal(function), function=function, origin=origin)
        if origin is not None and self._draw_kill():
            scope.calls_left = self._randint(1, MAX_CALLS_BEFORE_KILL)
            # it runs to its deadline: the time it had left is used up from the start
            if hasattr(context, "_started") and hasattr(context, "timeout_seconds"):
                context._started = time.monotonic() - float(context.timeout_seconds)
        self._local.scopes.append(scope)
        with self._lock:
            self._active.setdefault(scope.principal, []).append(scope)
        try:
            yield _Watch(self, scope, context)
        finally:
            _ORIGIN.set(origin)
            self._local.scopes.remove(scope)
            with self._lock:
                self._active[scope.principal].remove(scope)

    def _ended(self, scope: _Scope, invocation: Any, context: Any) -> Any:
        if scope.calls_left is not None:  # fewer calls than it was to die at: it dies at its end
            self._kill(scope)
            invocation = replace(invocation, payload=None, error=timed_out(context))
        failed = invocation.error is not None
        pending = scope.pending + ([scope.killed] if scope.killed else [])
        if not failed:
            status = invocation.payload.get("statusCode") if isinstance(invocation.payload, dict) else None
            for fault in pending:
                fault.outcome = ANSWERED_503 if status == 503 else CAUGHT
        elif scope.origin is None:
            for fault in pending:
                fault.outcome = SURFACED
        elif scope.origin == EVENTS:  # EventBridge's next attempt, on this thread
            outer = self._local.scopes[-2].pending if len(self._local.scopes) > 1 else self._local.pending
            outer.extend(pending)
        else:  # a state machine's Retry, which reads the failure's cause (it names the request id)
            self._await(str(getattr(context, "aws_request_id", "")), pending)
        scope.pending = []
        return invocation

    # ------------------------------------------------------------------ report
    def counts(self) -> dict[tuple[str, str, str], int]:
        """(kind, principal, outcome) -> faults; faults whose end is unknown count as surfaced."""
        with self._lock:
            faults = list(self.faults)
        return dict(
            Counter((f.kind, f.principal, SURFACED if f.outcome == RAISED else f.outcome) for f in faults)
        )

    def table(self, name: Any = None) -> list[dict[str, Any]]:
        """One row per (kind, principal): how many faults, and how many were survived each way.
        `name` shortens a principal for display (default: the role's name)."""
        short = name or short_name
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for (kind, principal, outcome), n in sorted(self.counts().items()):
            row = rows.setdefault(
                (kind, short(principal)),
                {"kind": kind, "principal": short(principal), "faults": 0, **dict.fromkeys(OUTCOMES, 0)},
            )
            row["faults"] += n
            row[outcome] += n
        return [rows[key] for key in sorted(rows)]


class _Watch:
    """What the runtime tells the injector about the invocation it ran."""

    def __init__(self, injector: FaultInjector | None, scope: _Scope | None, context: Any) -> None:
        self._injector, self._scope, self._context = injector, scope, context

    def ended(self, invocation: Any) -> Any:
        """The invocation as its caller receives it (a timeout, when it was to die at its end)."""
        if self._injector is None or self._scope is None:
            return invocation
        return self._injector._ended(self._scope, invocation, self._context)


_NO_WATCH = _Watch(None, None, None)
