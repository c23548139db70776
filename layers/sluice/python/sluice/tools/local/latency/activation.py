"""Turning AWS-like latency on: where calls are delayed (`delaying`), and the switch that turns it on for
every local stack a process starts (`SLUICE_AWS_LATENCY`, see `latency_from_env`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from sluice.tools.local.faults.activation import injecting
from sluice.tools.local.faults.injector import FaultInjector, access_key_of, stack_principal
from sluice.tools.local.faults.kinds import ADMIN_KEYS
from sluice.tools.local.latency.model import OTHER_PROCESS, AwsLatency

if TYPE_CHECKING:
    from sluice.tools.local.iam.enforcement import Enforcer

LATENCY_ENV = "SLUICE_AWS_LATENCY"  # a seed: AWS-like latency on for the local stacks started here
OFF = ("", "off", "false", "no")
# Set on each request this process's botocore sends while latency is on: the call was judged here (and
# delayed if it was a principal's), so moto's server, in this process or not, does not delay it again.
JUDGED = "X-Sluice-Latency"
FIREHOSE_DELIVERY = "Firehose delivery"  # the principal of Firehose's own writes to S3
MOTO_SERVICES = {"awslambda": "lambda"}  # moto's name of a service, where it is not botocore's

_ACTIVE: list[AwsLatency] = []


def active_latency() -> AwsLatency | None:
    """The latency of the innermost `delaying()` block, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def latency_from_env(environ: Mapping[str, str] | None = None) -> AwsLatency | None:
    """AwsLatency seeded with SLUICE_AWS_LATENCY (what `pytest --aws-latency` and `bench/run.py
    --aws-latency` set, so that every local stack they start, in-process or `sluice local up`, has it);
    None when it is unset or "off"."""
    value = (os.environ if environ is None else environ).get(LATENCY_ENV, "").strip()
    if value.lower() in OFF:
        return None
    try:
        return AwsLatency(int(value))
    except ValueError:
        raise ValueError(f"{LATENCY_ENV} is a seed (an integer) or 'off', got {value!r}") from None


def round_trip(principal: str, operation: str) -> float:
    """Delay the current thread as `principal`'s call to `operation` would be (nothing when latency is
    off): for calls the local stack makes without botocore, such as Firehose's delivery to S3."""
    latency = active_latency()
    return latency.delay(principal, operation) if latency is not None else 0.0


def _header(headers: Any, name: str) -> Any:
    return headers.get(name) or headers.get(name.lower())


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def calls_the_stack(url: str, endpoint_url: str | None) -> bool:
    """Whether a request to `url` goes to the stack at `endpoint_url` (None: the in-process mock, which
    answers AWS's own hostnames); a call to another stack's server is that server's to delay."""
    target = urlsplit(url)
    if endpoint_url is None:
        return (target.hostname or "").endswith(".amazonaws.com")
    stack = urlsplit(endpoint_url)
    same_host = target.hostname == stack.hostname or {target.hostname, stack.hostname} <= _LOOPBACK
    return same_host and target.port == stack.port


def caller_in_process(request: Any, enforcer: Enforcer | None) -> str | None:
    """The stack principal making this botocore request (as the fault injector finds it: the role whose
    key signed it), or with IAM off a function's handler on this thread (functions then sign with the
    deployer's key); None for the deployer (tests, the demo's driver, the stack's own bookkeeping)."""
    access_key = access_key_of(request.headers)
    principal = stack_principal(access_key, enforcer)
    if principal is None and enforcer is None and (access_key is None or access_key in ADMIN_KEYS):
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")  # this thread's invocation, if any
        if function:
            return f"function {function}"
    return principal


def caller_from_elsewhere(headers: Any, enforcer: Enforcer | None) -> str:
    """Who sent a request that reached moto's server from another process: a role (the Fargate task's)
    or an IAM user by name when IAM is enforced, else "another process" (the CLI, the AWS CLI)."""
    access_key = access_key_of(headers)
    if enforcer is not None and access_key is not None:
        principal = enforcer.principal_of(access_key)
        if principal is not None and not principal.admin:
            return principal.name
    return OTHER_PROCESS


@contextlib.contextmanager
def delaying(
    latency: AwsLatency | None, enforcer: Enforcer | None = None, endpoint_url: str | None = None
) -> Iterator[AwsLatency | None]:
    """While inside, AWS calls to the stack at `endpoint_url` (None: the in-process mock) are delayed by
    `latency` (nothing when it is None):

    - every HTTP attempt botocore makes in this process, at the fault injector's hook point
      (`Endpoint._do_get_response`, wrapped around it when faults are injected too, so a faulted
      attempt takes its round trip as well), when a stack principal makes it: after the service
      answered, before the answer reaches the caller;
    - every request moto's server takes from another process (the Fargate task, the CLI, the AWS CLI),
      where moto authorises it, before it is handled.

    Enter it inside `injecting()` (faults) and `iam_enforced()`: it wraps what those install."""
    if latency is None:
        yield None
        return
    from botocore.endpoint import Endpoint
    from moto.core.authorization import ActionAuthenticatorMixin

    # the attributes patched: (owner, name) (botocore's stubs do not declare the first)
    targets: list[tuple[Any, str]] = [
        (Endpoint, "_do_get_response"),
        (ActionAuthenticatorMixin, "_authenticate_and_authorize_action"),
    ]
    saved = [getattr(owner, name) for owner, name in targets]
    do_get_response, authorize = saved

    def patched_do_get_response(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        if not calls_the_stack(request.url, endpoint_url):
            return do_get_response(self, request, operation_model, context)
        request.headers[JUDGED] = "1"
        principal = caller_in_process(request, enforcer)
        answer = do_get_response(self, request, operation_model, context)
        if principal is not None:
            service = operation_model.service_model.service_name
            latency.delay(principal, f"{service}:{operation_model.name}")
        return answer

    def patched_authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not getattr(self, "_sluice_latency_judged", False):  # once per request
            self._sluice_latency_judged = True
            if not _header(self.headers, JUDGED):
                service = str(getattr(self, "service_name", "") or "")
                service = MOTO_SERVICES.get(service, service)
                operation = f"{service}:{self._get_action()}"
                latency.delay(caller_from_elsewhere(self.headers, enforcer), operation)
        authorize(self, iam_request_cls, resource)

    for (owner, name), replacement in zip(targets, (patched_do_get_response, patched_authorize), strict=True):
        setattr(owner, name, replacement)
    _ACTIVE.append(latency)
    try:
        yield latency
    finally:
        _ACTIVE.remove(latency)
        for (owner, name), original in zip(targets, saved, strict=True):
            setattr(owner, name, original)


@contextlib.contextmanager
def injecting_and_delaying(
    faults: FaultInjector | None,
    latency: AwsLatency | Literal[False] | None,
    enforcer: Enforcer | None = None,
    endpoint_url: str | None = None,
) -> Iterator[AwsLatency | None]:
    """A local stack's calls as AWS would answer them, once it is deployed: `faults` injected (see
    `faults.injecting`) and `latency` around them (see `delaying`; None: as SLUICE_AWS_LATENCY says,
    False: none). Yields the latency in effect."""
    chosen = latency_from_env() if latency is None else latency or None
    with injecting(faults, enforcer), delaying(chosen, enforcer, endpoint_url):
        yield chosen
