"""Schedules, as EventBridge fires them: the Lambda and Step Functions targets of the template's
schedule rules, and the "Scheduled Event" a function target receives (moto's rules match no schedule:
the local stack fires them when asked, `LocalStack.fire_schedules()`)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice.tools.local.deploy import ACCOUNT_ID

if TYPE_CHECKING:
    from sluice.tools.local.lambda_runtime.runtime import Invocation


@dataclass(frozen=True)
class ScheduleTarget:
    """A target of a schedule rule in the translated template: a function or a state machine (by logical
    id), the Input the rule sends a state machine (a function gets EventBridge's "Scheduled Event") and
    the role EventBridge assumes to reach it (a state machine's; None for a function: a resource policy
    allows it)."""

    rule: str
    target: str
    kind: str  # "function" | "state_machine"
    input: str
    role: str | None


@dataclass
class FiredSchedules:
    """What firing the schedules did: each function target's invocation, each state machine's execution."""

    invocations: dict[str, Invocation] = field(default_factory=dict)
    executions: dict[str, str] = field(default_factory=dict)


def schedule_targets(cloudformation: dict[str, Any]) -> list[ScheduleTarget]:
    """The Lambda and Step Functions targets of every schedule rule (AWS::Events::Rule with a
    ScheduleExpression) of a translated template."""
    resources = cloudformation.get("Resources", {})
    found = []
    for rule, resource in resources.items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Events::Rule" or not properties.get("ScheduleExpression"):
            continue
        for target in properties.get("Targets") or []:
            logical_id = _referenced(target.get("Arn"))
            kind = {"AWS::Lambda::Function": "function", "AWS::StepFunctions::StateMachine": "state_machine"}
            resource_type = (resources.get(logical_id) or {}).get("Type") if logical_id else None
            if logical_id and resource_type in kind:
                role = _referenced(target.get("RoleArn"))
                # EventBridge sends a state machine the rule's Input (SAM's Schedule event: "{}" by default)
                found.append(
                    ScheduleTarget(rule, logical_id, kind[resource_type], target.get("Input") or "{}", role)
                )
    return found


def _referenced(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` names."""
    if not isinstance(value, dict):
        return None
    if "Ref" in value:
        return str(value["Ref"])
    attribute = value.get("Fn::GetAtt")
    if attribute:
        return str(attribute[0] if isinstance(attribute, list) else str(attribute).split(".")[0])
    return None


def scheduled_event(region: str, stack_name: str, logical_id: str) -> dict[str, Any]:
    """The "Scheduled Event" EventBridge sends when the schedule of the function's rule fires now."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{stack_name}-{logical_id}"],
        "detail": {},
    }
