"""The concept-drift chapter's canary: the spec asks that a version that passed its gates answer a share
of live requests before it takes all of them. `use_canary_rollout` uploads that spec; `run_canary` sends
requests with X-Request-Id headers until the canary has answered its `min_requests`, waits for the run's
checks to decide, and prints the comparison the run wrote (rollout.json) and where its page is. Like the
other steps it only drives the stack: the split, the counts and the decision are the stack's."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sluice.app.data.stored import load_spec, model_prefix
from sluice.domain.registry.records import ModelVersion, VersionStatus
from sluice.domain.rollout.live import RolloutComparison
from sluice.domain.spec.model_spec import RolloutMode
from sluice.tools.demo.driver import MODEL, Demo, DemoError, DemoPlan
from sluice.tools.demo.summary import CanarySummary, RolloutSide

REQUEST_ID_PREFIX = "demo-canary-"  # the requests' X-Request-Id: this prefix and their number


def canary_rollout(plan: DemoPlan) -> str:
    """The spec line that asks for the demo's canary, with a deadline of half an hour."""
    return (
        f"rollout: {{mode: canary, weight: {plan.canary_weight:g}, min_requests: {plan.canary_min_requests}, "
        f"check_seconds: {plan.canary_check_seconds}, timeout_hours: 0.5, "
        f"max_latency_p99_ratio: {plan.canary_max_latency_p99_ratio:g}}}\n"
    )


def use_canary_rollout(demo: Demo) -> None:
    """Upload the demo's spec with the canary rollout and wait for its ingestion; raises DemoError
    when it did not become the current spec (a quarantined spec says why in stack.log)."""
    line = canary_rollout(demo.plan)
    demo.progress.fact(f"PUT {MODEL}/spec.yaml with {line.strip()} (a new current spec)")
    demo.upload(f"{MODEL}/spec.yaml", (demo.spec_text + line).encode())
    demo.settle()
    current = demo.registry.current_spec(MODEL)
    rollout = load_spec(current.uri, demo.artifacts).rollout if current else None
    if rollout is None or rollout.mode is not RolloutMode.CANARY:
        raise DemoError("the canary spec did not become the current spec (see stack.log)")


def run_canary(demo: Demo, candidate: ModelVersion, instances: list[dict[str, Any]]) -> CanarySummary:
    """Send `instances` one per request, each with its own X-Request-Id, until the canary `candidate`
    answered the spec's min_requests; wait for the run to decide and end; print the split, the run's
    last comparison and its decision. Raises DemoError when the rollout is not the candidate's."""
    alias = demo.registry.get_alias(MODEL)
    state = alias.rollout if alias else None
    if state is None or state.version != candidate.version or state.mode != "canary":
        raise DemoError(f"v{candidate.version} is not in a canary rollout: {state}")
    demo.progress.fact(
        f"v{candidate.version}: CANARY beside production v{state.production_version}, answering "
        f"{state.weight:.0%} of requests (a stable hash of each request's id picks them)"
    )
    demo.wait_for_alias_ttl()
    answered = _send_until_served(demo, candidate.version, instances)
    sent = sum(answered.values())
    mine = answered.get(candidate.version, 0)
    share = mine / sent
    demo.progress.fact(
        f"v{candidate.version} answered {mine} of {sent} requests ({share:.0%}), "
        f"v{state.production_version} the other {sent - mine} (as the responses name them)"
    )
    decided = demo.await_version(
        lambda v: v.version == candidate.version and v.status is not VersionStatus.CANARY,
        f"the canary v{candidate.version}",
    )
    run = next((e for e in demo.settle() if e["executionArn"] == candidate.execution_arn), None)
    demo.progress.fact(f"the run's checks decided; Step Functions execution: {run['status'] if run else '?'}")
    prefix = model_prefix(MODEL, candidate.version)
    report_json = demo.artifacts.uri(prefix + "rollout.json")
    report_html = demo.artifacts.uri(prefix + "rollout.html")
    comparison = RolloutComparison.model_validate_json(demo.artifacts.get_bytes(report_json))
    numbers = comparison.summary()
    sides = {role: _side(numbers[role]) for role in ("candidate", "production")}
    demo.progress.fact(
        f"rollout.json: v{comparison.version} {_text(sides['candidate'])}; "
        f"v{comparison.production_version} {_text(sides['production'])}"
    )
    demo.progress.fact(f"decision: {comparison.decision.value} — {comparison.reason}")
    demo.progress.fact(f"comparison page: {report_html}")
    after = demo.registry.get_alias(MODEL)
    return CanarySummary(
        version=candidate.version,
        production_version=state.production_version,
        weight=state.weight,
        min_requests=demo.plan.canary_min_requests,
        status_while_running=candidate.status.value,
        requests_sent=sent,
        answered=dict(sorted(answered.items())),
        candidate_share=round(share, 4),
        decision=comparison.decision.value,
        reason=comparison.reason,
        candidate=sides["candidate"],
        production=sides["production"],
        report_json=report_json,
        report_html=report_html,
        status_after=decided.status.value,
        production_after=after.version if after else None,
        events=[
            e.model_dump(
                mode="json", include={"type", "version", "from_version", "to_version", "reason", "details"}
            )
            for e in demo.registry.list_events(MODEL)
            if e.version == candidate.version
        ],
    )


def _send_until_served(demo: Demo, version: int, instances: list[dict[str, Any]]) -> Counter[int]:
    """POST one instance per request with X-Request-Id `demo-canary-<n>` until `version` answered
    min_requests of them (then stop: more traffic would race the promotion); requests by the version
    that answered them. Raises DemoError on a non-200 or when the canary_max_requests-th is sent first."""
    plan = demo.plan
    path = f"/models/{MODEL}/predict"
    answered: Counter[int] = Counter()
    for number in range(plan.canary_max_requests):
        request_id = f"{REQUEST_ID_PREFIX}{number:04d}"
        document = {"instances": [instances[number % len(instances)]]}
        status, body = demo.api.post(path, document, {"X-Request-Id": request_id})
        if status != 200 or body.get("request_id") != request_id:
            raise DemoError(f"POST {path} ({request_id}) answered {status}: {body}")
        answered[int(body["version"])] += 1
        if answered[version] >= plan.canary_min_requests:
            demo.progress.fact(
                f"{number + 1} requests POST {demo.api_url}{path} with X-Request-Id "
                f"{REQUEST_ID_PREFIX}0000…{number:04d} → 200, until the canary answered "
                f"min_requests {plan.canary_min_requests}"
            )
            return answered
    raise DemoError(
        f"the canary answered {answered[version]} of {plan.canary_max_requests} requests, "
        f"fewer than min_requests {plan.canary_min_requests}"
    )


def _side(numbers: dict[str, Any]) -> RolloutSide:
    return RolloutSide(
        requests=int(numbers["requests"]),
        error_rate=numbers["error_rate"],
        latency_p99_ms=numbers["latency_p99_ms"],
    )


def _text(side: RolloutSide) -> str:
    rate = "-" if side.error_rate is None else f"{side.error_rate:.1%}"
    p99 = "-" if side.latency_p99_ms is None else f"{side.latency_p99_ms:.1f} ms"
    return f"{side.requests} requests, error rate {rate}, p99 {p99}"
