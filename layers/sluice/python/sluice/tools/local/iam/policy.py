"""AWS's policy evaluation logic for one account, as documented in the IAM User Guide ("Policy
evaluation logic", "Determining whether a request is allowed or denied within an account"):

1. an explicit Deny in any applicable policy (identity or resource) denies;
2. otherwise an Allow in an identity policy, or in a resource policy naming the principal, allows;
3. otherwise the request is implicitly denied.

KMS is the exception AWS makes: the key policy must allow the call, either naming the principal or
naming the account (`arn:aws:iam::<account>:root`), which delegates to the identity policies.

Statements are matched on Action/NotAction (case-insensitive, `*` and `?`), Resource/NotResource
(case-sensitive), Principal/NotPrincipal (resource policies) and Condition (the string, ARN, Bool,
Null and numeric operators, `…IfExists`, `ForAnyValue:`/`ForAllValues:`). moto's own `IAMPolicy`
is not used: it treats an Allow whose condition does not hold as a Deny, and has no NotResource,
`?` or principal matching beyond "*".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ContextValue = str | Sequence[str]
Context = Mapping[str, ContextValue]

ALLOW = "Allow"
DENY = "Deny"


@dataclass(frozen=True)
class Statement:
    """One statement of a policy, with where it came from (`source`: the policy's name)."""

    body: Mapping[str, Any]
    source: str
    index: int

    @property
    def effect(self) -> str:
        return str(self.body.get("Effect", ""))

    @property
    def sid(self) -> str:
        return str(self.body.get("Sid", ""))


@dataclass(frozen=True)
class Policy:
    """A policy document, parsed once."""

    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, document: str | Mapping[str, Any]) -> Policy:
        body = json.loads(document) if isinstance(document, str) else document
        raw = body.get("Statement", [])
        items = raw if isinstance(raw, list) else [raw]
        return cls(name, tuple(Statement(item, name, i) for i, item in enumerate(items)))

    def without(self, index: int) -> Policy:
        """The same policy less its statement number `index` (the statement-removal test)."""
        return Policy(self.name, tuple(s for s in self.statements if s.index != index))


@dataclass(frozen=True)
class Request:
    """What is asked: one action on one resource by one principal, with the request's context keys."""

    principal: str  # the caller's ARN (for a role session, the assumed-role ARN)
    action: str
    resource: str
    context: Context = field(default_factory=dict)
    principal_arns: tuple[str, ...] = ()  # every ARN a Principal element may name for the caller
    account: str = ""


@dataclass(frozen=True)
class Decision:
    """The outcome and the statements it rests on (the allowing ones, or the denying one)."""

    allowed: bool
    reason: str  # AWS's wording: "no identity-based policy allows", "an explicit deny in …"
    matched: tuple[Statement, ...] = ()


# ------------------------------------------------------------------------------------------ matching
@lru_cache(maxsize=8192)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    escaped = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(escaped, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(wildcard_match(p, action, ignore_case=True) for p in _listed(statement["NotAction"]))
    return any(wildcard_match(p, action, ignore_case=True) for p in _listed(statement.get("Action")))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard_match(p, resource) for p in _listed(statement["NotResource"]))
    if "Resource" not in statement:
        return True  # resource policies of some services (topics, queues) may leave it out
    return any(wildcard_match(p, resource) for p in _listed(statement["Resource"]))


def _principal_named(element: Any, request: Request) -> bool:
    """Whether a Principal element names the caller (never true for a service or an account root:
    an account root delegates to the identity policies, which are evaluated separately)."""
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    names = _listed(element.get("AWS"))
    candidates = (request.principal, *request.principal_arns)
    return any(name == "*" or name in candidates for name in names)


def names_account(element: Any, account: str) -> bool:
    """Whether a Principal element names the account itself (its root), as KMS key policies do."""
    if not isinstance(element, Mapping):
        return False
    return any(name in (account, f"arn:aws:iam::{account}:root") for name in _listed(element.get("AWS")))


# ------------------------------------------------------------------------------------------ conditions
def _values(context: Context, key: str) -> list[str] | None:
    for name, value in context.items():
        if name.lower() == key.lower():
            return [value] if isinstance(value, str) else list(value)
    return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(operator: str, actual: str, expected: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return actual == expected
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if operator in ("StringLike", "ArnLike"):
        return wildcard_match(expected, actual)
    if operator == "Bool":
        return actual.lower() == expected.lower()
    if operator.startswith("Numeric"):
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return False
        return {
            "NumericEquals": left == right,
            "NumericLessThan": left < right,
            "NumericLessThanEquals": left <= right,
            "NumericGreaterThan": left > right,
            "NumericGreaterThanEquals": left >= right,
        }.get(operator, False)
    raise UnsupportedCondition(operator)


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator does not know (it refuses rather than guessing)."""


def _condition_holds(operator: str, key: str, expected: Any, context: Context) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    wanted = _listed(expected)
    actual = _values(context, key)
    if operator == "Null":
        return (actual is None) == (wanted[0].lower() == "true")
    if actual is None:
        # A missing key: false for positive operators, true for negated ones and …IfExists.
        return if_exists or operator in _NEGATED
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)

    def one(value: str) -> bool:
        hit = any(_compare(base, value, w) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)  # single-valued keys and ForAnyValue


def conditions_hold(statement: Mapping[str, Any], context: Context) -> bool:
    """Every operator, every key within it (AND); any listed value (OR)."""
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


# ------------------------------------------------------------------------------------------ evaluation
def applies(statement: Statement, request: Request, *, resource_policy: bool) -> bool:
    """Whether the statement speaks about this request (action, resource, principal, conditions)."""
    body = statement.body
    if not _action_matches(body, request.action) or not _resource_matches(body, request.resource):
        return False
    if resource_policy:
        if "NotPrincipal" in body:
            if _principal_named(body["NotPrincipal"], request):
                return False
        elif not _principal_named(body.get("Principal"), request):
            return False
    return conditions_hold(body, request.context)


def _matching(policies: Iterable[Policy], request: Request, *, resource_policy: bool) -> list[Statement]:
    return [s for p in policies for s in p.statements if applies(s, request, resource_policy=resource_policy)]


def _delegates(policy: Policy, request: Request) -> bool:
    """Whether a key policy lets IAM policies decide (an Allow naming the account's root)."""
    return any(
        s.effect == ALLOW
        and _action_matches(s.body, request.action)
        and names_account(s.body.get("Principal"), request.account)
        and conditions_hold(s.body, request.context)
        for s in policy.statements
    )


def evaluate(
    request: Request,
    identity: Sequence[Policy],
    resource: Policy | None = None,
    *,
    key_policy: bool = False,
) -> Decision:
    """Allow or deny `request` given the caller's identity policies and the resource's policy (a KMS
    key policy when `key_policy`)."""
    found = _matching(identity, request, resource_policy=False)
    on_resource = _matching([resource], request, resource_policy=True) if resource else []
    denies = [s for s in (*found, *on_resource) if s.effect == DENY]
    if denies:
        where = "a resource-based policy" if denies[0] in on_resource else "an identity-based policy"
        return Decision(False, f"with an explicit deny in {where}", (denies[0],))
    identity_allows = tuple(s for s in found if s.effect == ALLOW)
    resource_allows = tuple(s for s in on_resource if s.effect == ALLOW)
    if key_policy:
        if resource_allows:
            return Decision(True, "allowed by the key policy", resource_allows)
        if resource is not None and _delegates(resource, request) and identity_allows:
            return Decision(True, "allowed by an identity-based policy", identity_allows)
        return Decision(False, "because no key policy or identity-based policy allows it")
    if identity_allows or resource_allows:
        return Decision(True, "allowed", identity_allows + resource_allows)
    return Decision(False, f"because no identity-based policy allows the {request.action} action")
