"""What a recorded run says about the template's grants: for each role, each statement of each of its
policies, whether removing it would have denied some call the run made (the statement proves itself),
and which of the actions it grants the run never used (`make iam-report`).

A run writes one "usage" line per (role, policy, statement) when its stack closes (`usage_lines`),
computed against that stack's own policies and trace; the report merges the lines of every stack the
test suite and the demo deployed: a statement is proven if any run proved it, an action used if any
run used it.
"""

from __future__ import annotations

import fcntl
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.tools.local.iam.enforcement import Enforcer, Principal, TraceEntry
from sluice.tools.local.iam.policy import wildcard_match


@dataclass
class StatementUsage:
    """One statement of one role's policy, and what the run(s) needed of it."""

    role: str  # the role's logical id in template.yaml
    policy: str  # the inline policy's name (SAM names them <Role>Policy<N>) or a managed policy's ARN
    index: int
    actions: list[str]
    resources: list[str]
    effect: str = "Allow"
    proving_calls: int = 0  # calls that removing this statement would have denied
    used_actions: set[str] = field(default_factory=set)  # the statement's action patterns some call used
    example: str = ""  # one call it proved, "operation action resource"

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.role, self.policy, self.index)

    @property
    def unused_actions(self) -> list[str]:
        return [a for a in self.actions if a not in self.used_actions]

    def line(self) -> str:
        return json.dumps(
            {
                "usage": {
                    "role": self.role,
                    "policy": self.policy,
                    "index": self.index,
                    "actions": self.actions,
                    "resources": self.resources,
                    "effect": self.effect,
                    "proving_calls": self.proving_calls,
                    "used_actions": sorted(self.used_actions),
                    "example": self.example,
                }
            },
            sort_keys=True,
        )


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value is not None else []


def statement_usage(enforcer: Enforcer, roles: Mapping[str, str]) -> list[StatementUsage]:
    """Each statement of each role in `roles` (ARN → logical id), judged against `enforcer`'s trace:
    which allowed calls it alone allowed (removing it denies them), which of its actions were used."""
    allowed: dict[str, list[TraceEntry]] = defaultdict(list)
    for entry in set(enforcer.trace):
        if entry.allowed:
            allowed[entry.principal].append(entry)
    found: list[StatementUsage] = []
    for role_arn, logical_id in sorted(roles.items(), key=lambda item: item[1]):
        principal = Principal(arn=role_arn, role_arn=role_arn)
        policies = enforcer.identity_policies(principal)
        calls = allowed.get(role_arn, [])
        for policy in policies:
            for statement in policy.statements:
                actions = _listed(statement.body.get("Action") or statement.body.get("NotAction"))
                usage = StatementUsage(
                    role=logical_id,
                    policy=policy.name,
                    index=statement.index,
                    actions=actions,
                    resources=_listed(statement.body.get("Resource") or statement.body.get("NotResource")),
                    effect=statement.effect,
                )
                reduced = [p.without(statement.index) if p is policy else p for p in policies]
                for call in calls:
                    usage.used_actions.update(
                        a
                        for a in actions
                        if wildcard_match(a, call.action, ignore_case=True) and _covers(statement.body, call)
                    )
                    if enforcer.authorize_as(principal, call, reduced).allowed:
                        continue
                    usage.proving_calls += 1
                    usage.example = usage.example or f"{call.operation} {call.action} {call.resource}"
                found.append(usage)
    return found


def append_usage(enforcer: Enforcer, roles: Mapping[str, str]) -> None:
    """Append what a stack's run needed of each role's statements (and every call it denied) to the
    enforcer's trace file, for `make iam-report` and the statement-removal test."""
    if enforcer.trace_path is None:
        return
    lines = [usage.line() for usage in statement_usage(enforcer, roles)]
    lines += [
        json.dumps(
            {
                "denied": {
                    "role": roles.get(e.principal, e.principal),
                    "operation": e.operation,
                    "action": e.action,
                    "resource": e.resource,
                }
            }
        )
        for e in enforcer.trace
        if not e.allowed
    ]
    enforcer.trace_path.parent.mkdir(parents=True, exist_ok=True)
    # Several processes append at once (test workers, `sluice local up`, the demo): one locked write each.
    with enforcer.trace_path.open("a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write("".join(line + "\n" for line in lines))
        out.flush()


def _covers(statement: Mapping[str, Any], call: TraceEntry) -> bool:
    resources = _listed(statement.get("Resource"))
    return not resources or any(wildcard_match(r, call.resource) for r in resources)


def merge(lines: Iterable[str]) -> list[StatementUsage]:
    """The usage lines of several runs merged: proven if any run proved it, used if any run used it."""
    merged: dict[tuple[str, str, int], StatementUsage] = {}
    for line in lines:
        if not line.strip():
            continue
        data = json.loads(line).get("usage")
        if data is None:
            continue
        key = (data["role"], data["policy"], data["index"])
        usage = merged.setdefault(
            key,
            StatementUsage(
                role=data["role"],
                policy=data["policy"],
                index=data["index"],
                actions=data["actions"],
                resources=data["resources"],
                effect=data.get("effect", "Allow"),
            ),
        )
        usage.proving_calls += int(data["proving_calls"])
        usage.used_actions.update(data["used_actions"])
        usage.example = usage.example or data.get("example", "")
    return sorted(merged.values(), key=lambda u: u.key)


def read_usage(path: Path) -> list[StatementUsage]:
    """The merged usage of every run recorded in `path` (JSON lines)."""
    return merge(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else []


def explanations(sam: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """What the template says about grants no run uses: each resource's `Metadata.SluiceIam.Unused`
    ({action: why}), by the logical id of the role it belongs to (a function's role is <Function>Role)."""
    found: dict[str, dict[str, str]] = {}
    for logical_id, resource in (sam.get("Resources") or {}).items():
        unused = ((resource.get("Metadata") or {}).get("SluiceIam") or {}).get("Unused") or {}
        if not unused:
            continue
        role = logical_id if resource.get("Type") == "AWS::IAM::Role" else f"{logical_id}Role"
        found[role] = {str(action): str(why) for action, why in unused.items()}
    return found


def unexplained(usages: Iterable[StatementUsage], why: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every granted action no run used and the template does not explain, as "Role: action on …"."""
    problems = []
    for usage in usages:
        if usage.effect != "Allow":
            continue
        for action in usage.unused_actions:
            if action not in why.get(usage.role, {}):
                problems.append(
                    f"{usage.role} ({usage.policy}#{usage.index}): {action} on {', '.join(usage.resources)}"
                )
    return problems


def unproven(usages: Iterable[StatementUsage], why: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every Allow statement whose removal denied no recorded call (unless all its actions are explained)."""
    return [
        f"{u.role} ({u.policy}#{u.index}): {', '.join(u.actions)} on {', '.join(u.resources)}"
        for u in usages
        if u.effect == "Allow"
        and u.proving_calls == 0
        and not all(a in why.get(u.role, {}) for a in u.actions)
    ]


def render(usages: list[StatementUsage], why: Mapping[str, Mapping[str, str]]) -> str:
    """The least-privilege table: per role, each statement, the calls it proved, its unused actions."""
    out = ["role | policy#statement | actions | resources | calls only it allows | granted, never used"]
    out.append("---|---|---|---|---|---")
    for usage in usages:
        explained = why.get(usage.role, {})
        unused = [f"{a} ({explained[a]})" if a in explained else f"**{a}**" for a in usage.unused_actions]
        out.append(
            f"{usage.role} | {usage.policy}#{usage.index} | {', '.join(usage.actions)} | "
            f"{', '.join(usage.resources)} | {usage.proving_calls} | {', '.join(unused) or '—'}"
        )
    return "\n".join(out)


def summary(usages: list[StatementUsage], why: Mapping[str, Mapping[str, str]]) -> str:
    """Per role: its Allow statements, how many proved themselves, and what it is granted and no run
    used (with the template's reason)."""
    roles: dict[str, list[StatementUsage]] = defaultdict(list)
    for usage in usages:
        if usage.effect == "Allow":
            roles[usage.role].append(usage)
    out = ["role | statements | proved by a call only they allow | granted, never used locally (why)"]
    out.append("---|---|---|---")
    for role, found in sorted(roles.items()):
        unused = sorted({a for u in found for a in u.unused_actions})
        said = [
            f"{a} ({why[role][a]})" if a in why.get(role, {}) else f"**{a}** (unexplained)" for a in unused
        ]
        proved = sum(1 for u in found if u.proving_calls)
        out.append(f"{role} | {len(found)} | {proved} | {'; '.join(said) or '—'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """`make iam-report`: the least-privilege table of the last recorded run (`make test` records it
    in .sluice/iam-trace.jsonl), then every grant no run used that template.yaml does not explain."""
    import argparse

    from sluice.tools.local.template import load_sam

    parser = argparse.ArgumentParser(prog="iam-report", description=main.__doc__)
    parser.add_argument("trace", type=Path, nargs="?", default=Path(".sluice/iam-trace.jsonl"))
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    args = parser.parse_args(argv)
    usages = read_usage(args.trace)
    if not usages:
        print(f"{args.trace}: no recorded run; `make test` (or `make demo`) records one")
        return 1
    why = explanations(load_sam(args.template))
    print(summary(usages, why))
    print()
    print(render(usages, why))
    problems = unexplained(usages, why) + [f"unproven statement: {p}" for p in unproven(usages, why)]
    print()
    print("\n".join(problems) if problems else "no unexplained unused grants: every statement proved itself")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
