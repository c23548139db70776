"""Faults injected into the local stack, as AWS fails calls (`sluice local up --faults RATE`, the chaos
test): a seeded RATE of the HTTP attempts the stack's principals make fail, and at the same rate an
invocation dies mid-way as Lambda kills one at its timeout.

Which calls: every attempt botocore makes in this process (`Endpoint._do_get_response`, so botocore's
own retries are exercised: each retry is a new attempt, faulted or not) signed by one of the stack's
principals: a function's execution role, a state machine's role. The principal is read from the
request's Authorization header (`Credential=AKID/…`) through the IAM enforcer; with IAM off, a key
other than the deployer's `testing` (moto's Step Functions engine signs with its own) or a call made by
a handler on its invocation's thread. The deployer (tests, the demo, the CLI) is never faulted.

How AWS fails them (per service, as the SDK then sees them; the error responses are built in the
service's protocol — json, rest-json, query, rest-xml — and parsed by botocore's own parser):
- throttling: DynamoDB ThrottlingException / ProvisionedThroughputExceededException (400), S3 SlowDown
  (503), SNS Throttled (429, ThrottledException), Firehose ServiceUnavailableException (503) /
  ThrottlingException, Step Functions and ECS ThrottlingException, Lambda TooManyRequestsException (429);
- server errors: InternalServerError, InternalError, ServiceException, InternalFailure (500),
  ServiceUnavailable (503);
- connection reset: `ConnectionClosedError`, the request never reached the service;
- read timeout: `ReadTimeoutError` after the service handled the request: its response is lost (the
  write happened; the SDK's retry sends it again).
A state machine's integrations call AWS from inside Step Functions, which names a call that got no
answer `<Service>.SdkClientException`: that is what a reset or a timeout is for them (after the call
was handled, for a timeout: Lambda then runs the function twice, as it may on AWS).

A killed invocation: an invocation made by Step Functions or delivered by EventBridge is, at RATE,
stopped at a random AWS call of its handler (before the call is sent or after its response came back)
with `InvocationKilled`, a BaseException the handler cannot catch, or at its end if it made fewer calls;
the runtime answers what Lambda answers for a timeout (errorType `Sandbox.Timedout`) and starts the
next invocation cold. A timed-out invocation has used all its time: its context reports its deadline
as reached from the start (Powertools' idempotency records an in-progress invocation until then), so an
immediate retry meets what a retry on AWS meets after the timeout.

Time: the waits of retries (botocore's backoff, a Retry's IntervalSeconds) are multiplied by
`time_scale` (1 for `sluice local up`; the chaos test shortens them, the retries themselves are real).

Every fault is one JSON line on stderr (the stack's log) — {"fault", "principal", "operation",
"attempt"} — and is counted by kind, principal and how it was survived: retried by the SDK, caught by
Sluice's code (the invocation still succeeded), answered 503 (the API), retried by the state machine's
Retry, redelivered by EventBridge, or surfaced (failed an execution's state to its Catch, an event
delivery, or an API answer). Threads make the order of calls, and so which calls fail, vary between runs
of one seed; the rate holds.
"""

from sluice.tools.local.faults.activation import (
    Delivery,
    active_injector,
    eventbridge_delivery,
    injecting,
    watch_invocation,
)
from sluice.tools.local.faults.injector import FaultInjector, access_key_of, invoked_by
from sluice.tools.local.faults.kinds import (
    ANSWERED_503,
    CALL_KINDS,
    CAUGHT,
    CONNECTION_RESET,
    EVENTS,
    INVOCATION_KILLED,
    KINDS,
    OUTCOMES,
    READ_TIMEOUT,
    REDELIVERED,
    SDK_RETRY,
    SERVER_ERROR,
    STATE_MACHINE_RETRY,
    SURFACED,
    THROTTLING,
    TIMED_OUT,
    Fault,
    InvocationKilled,
    format_table,
    short_name,
    timed_out,
)
from sluice.tools.local.faults.responses import SERVER_ERRORS, THROTTLES, ServiceError

__all__ = [
    "ANSWERED_503",
    "CALL_KINDS",
    "CAUGHT",
    "CONNECTION_RESET",
    "EVENTS",
    "INVOCATION_KILLED",
    "KINDS",
    "OUTCOMES",
    "READ_TIMEOUT",
    "REDELIVERED",
    "SDK_RETRY",
    "SERVER_ERROR",
    "SERVER_ERRORS",
    "STATE_MACHINE_RETRY",
    "SURFACED",
    "THROTTLES",
    "THROTTLING",
    "TIMED_OUT",
    "Delivery",
    "Fault",
    "FaultInjector",
    "InvocationKilled",
    "ServiceError",
    "access_key_of",
    "active_injector",
    "eventbridge_delivery",
    "format_table",
    "injecting",
    "invoked_by",
    "short_name",
    "timed_out",
    "watch_invocation",
]
