"""The kinds of fault, how each was survived, and what is recorded of each (`Fault`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

THROTTLING = "throttling"
SERVER_ERROR = "server_error"
CONNECTION_RESET = "connection_reset"
READ_TIMEOUT = "read_timeout"
INVOCATION_KILLED = "invocation_killed"
CALL_KINDS = (THROTTLING, SERVER_ERROR, CONNECTION_RESET, READ_TIMEOUT)
KINDS = (*CALL_KINDS, INVOCATION_KILLED)
CALL_WEIGHTS = (0.3, 0.3, 0.2, 0.2)

# How each fault was survived (see the module's docstring).
SDK_RETRY = "retried by the SDK"
CAUGHT = "caught"
ANSWERED_503 = "answered 503"
STATE_MACHINE_RETRY = "retried by the state machine"
REDELIVERED = "redelivered by EventBridge"
SURFACED = "surfaced"
RAISED = "raised"  # left botocore; how it ends is not known yet
OUTCOMES = (SDK_RETRY, CAUGHT, ANSWERED_503, STATE_MACHINE_RETRY, REDELIVERED, SURFACED)

TIMED_OUT = "Sandbox.Timedout"
ADMIN_KEYS = frozenset({"testing"})
MOTO_STATES_KEY = "ak"  # what moto's Step Functions engine signs with when IAM is off
STATES = "states"  # that principal, with IAM off
EVENTS = "events"  # EventBridge, invoking a target
MAX_CALLS_BEFORE_KILL = 10


class InvocationKilled(BaseException):
    """The runtime stops the handler here, as Lambda stops one at its timeout: a BaseException, so no
    `except Exception` in the handler catches it."""


@dataclass
class Fault:
    """One injected fault and, once known, how it was survived."""

    kind: str
    principal: str
    operation: str
    attempt: int
    outcome: str = RAISED
    function: str | None = None  # a killed invocation's function
    # how a state machine's failure names it (a request id in its cause), while it waits for its Retry
    key: str | None = field(default=None, compare=False)

    def line(self) -> str:
        document: dict[str, Any] = {
            "fault": self.kind,
            "principal": self.principal,
            "operation": self.operation,
            "attempt": self.attempt,
        }
        if self.function:
            document["function"] = self.function
        return json.dumps(document)


def timed_out(context: Any) -> dict[str, Any]:
    """What Lambda answers for an invocation stopped at its timeout."""
    seconds = float(getattr(context, "timeout_seconds", 3))
    request_id = getattr(context, "aws_request_id", "")
    return {
        "errorType": TIMED_OUT,
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
    }


def short_name(principal: str) -> str:
    """A principal as the table shows it: the role's logical name (`PredictFunctionRole`), without
    the stack's prefix and CloudFormation's suffix."""
    name = principal.rsplit("/", 1)[-1] if ":role/" in principal else principal
    match = re.match(r"^(?:.+?-)?([A-Za-z0-9]+Role)(?:-[A-Za-z0-9]+)?$", name)
    return match.group(1) if match else name


def format_table(rows: list[dict[str, Any]]) -> str:
    """The table as Markdown: kind, principal, faults, then one column per way of surviving."""
    header = ["kind", "principal", "faults", *OUTCOMES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[h]) for h in header) + " |")
    return "\n".join(lines)
