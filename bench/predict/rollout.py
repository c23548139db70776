"""What a live rollout costs per request: PredictFunction's real handler during a canary and a shadow,
against the same handler with no rollout, in the same run.

Three models on an in-process moto stack, all the credit-risk example (the 100-tree forest):
`credit-risk` with version 1 in production and nothing else (the baseline), and `credit-risk-canary`
and `credit-risk-shadow` whose second upload is trained, gated and put beside production by the state
machine itself (StartRollout: the rollout written on the production alias by the registry), under a spec
that says `rollout: {mode: canary, weight: 0.5}` or `{mode: shadow, weight: 1.0}`. The state machine then
waits a day before its first check, so nothing but the handlers runs while they are timed.

One warm container (a fresh import of functions/predict/app.py) per configuration, ROLLOUT_FLUSH_SECONDS
at the template's 5 s and, for comparison, 0 (the registry's counts written on every request); capture
off everywhere (its cost is bench.predict.warm's). Requests name themselves (`X-Request-Id`), so which
version answered each canary request is known from the same hash the handler uses.

`python -m bench.predict.rollout` from the repository root. Exit status 1 when the canary misses its
budget (CANARY_BUDGET); the shadow's cost is reported, never judged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.predict.common import (
    HANDLER_FILE,
    HEADERS,
    MODEL,
    SPEC_FILE,
    TRAIN_ROWS,
    Case,
    in_process_stack,
    median_us,
    quiet,
    request_instances,
    run_bench,
    run_interleaved,
    table,
    training_csv,
    verdict,
)
from bench.predict.warm import check_response

CANARY_MODEL, SHADOW_MODEL = f"{MODEL}-canary", f"{MODEL}-shadow"
CANDIDATE_SEED = 2  # the second upload's data: its version passes the example's gates against version 1
CANARY_WEIGHT, SHADOW_WEIGHT = 0.5, 1.0
# No check during the bench (min_requests is never reached; the first check is a day away).
ROLLOUT = "rollout: {{mode: {mode}, weight: {weight}, min_requests: 100000000, check_seconds: 86400, timeout_hours: 24}}\n"
FLUSHES = ("5", "0")  # the template's ROLLOUT_FLUSH_SECONDS, and a write on every request
BATCHES = (1, 100)
ROUNDS = 5
CALLS_PER_ROUND = {1: 400, 100: 100}
# Budget: a canary's request costs at most this many times the baseline's (1 row, medians, flush 5 s).
CANARY_BUDGET = 1.3
POLL_LIMIT_SECONDS = 600.0  # how long to wait for the state machine to start a rollout
INTRO = (
    "\nRollout cost: time of one warm call of functions/predict/app.py's lambda_handler (API Gateway REST\n"
    "proxy event in, response out) per configuration, interleaved rounds, same process; capture off,\n"
    "ALIAS_TTL 60 s, tracing disabled. baseline = a model with no rollout; canary at weight 0.5 (the\n"
    "candidate answers the requests the hash of their X-Request-Id gives it); shadow at weight 1.0\n"
    "(production answers, then the candidate scores the same instances). flush = ROLLOUT_FLUSH_SECONDS:\n"
    "5 (template) adds the container's counts to the registry at most every 5 s; 0 on every request.\n"
    "The registry is moto's DynamoDB in this process: on AWS each write is a network round trip."
)


@dataclass
class Setup:
    """The rollouts' versions (production, candidate) by model, one warm handler module per configuration
    (mode, flush), the Lambda context, the stack's registry, the baseline's model and the requests made."""

    versions: dict[str, tuple[int, int]]  # the canary's and the shadow's models
    modules: dict[tuple[str, str], Any]
    context: Any
    registry: Any
    served: Any  # ServedModel: the baseline's version 1, for timing predict() alone
    made: dict[str, int] = field(default_factory=dict)  # requests per model, warm-ups included


@dataclass
class Requests:
    """The events of one timed case, made on demand; the k-th event made is the k-th timed call, so its
    id says which version answered it."""

    model: str
    bodies: list[bytes]
    ids: list[str] = field(default_factory=list)

    def __call__(self, i: int) -> dict[str, Any]:
        made = len(self.ids)
        self.ids.append(f"bench-{self.model}-{made}")
        return predict_event(self.model, self.bodies[made % len(self.bodies)], self.ids[-1])


def predict_event(model: str, body: bytes, request_id: str) -> dict[str, Any]:
    """A real API Gateway REST proxy event for POST /models/<model>/predict naming its request id."""
    from sluice.tools.local.api.gateway import Route, proxy_event

    route = Route("POST", "/models/{model}/predict", "PredictFunction")
    headers = {**HEADERS, "X-Request-Id": request_id}
    return proxy_event(route, "POST", f"/models/{model}/predict", headers, body)


def bench_rollout() -> int:
    """Set the three models up, time every configuration per batch size, print the tables; the exit
    status of the canary's budget."""
    with in_process_stack() as stack:
        with quiet():  # training prints moto warnings, logs and metrics
            setup = deployed_rollouts(stack)
        print(INTRO)
        print(
            "versions (production, candidate): "
            + ", ".join(f"{m} {p}, {c}" for m, (p, c) in setup.versions.items())
        )
        instances = request_instances(1000)
        missed = False
        for rows in BATCHES:
            missed |= bench_batch(setup, instances, rows)
        print_counts(setup)
        stop_executions(stack)
    return 1 if missed else 0


def deployed_rollouts(stack: Any) -> Setup:
    """Train the baseline model, then the canary's and the shadow's two versions each (the second put
    beside production by the state machine), then load one handler module per configuration."""
    from sluice.adapters.registry.store import Registry
    from sluice.app.serving.production import ServedModel
    from sluice.domain.data.table import to_csv_bytes
    from sluice.domain.scoring.onnx_model import OnnxModel
    from sluice.tools.example_data import credit_risk
    from sluice.tools.local.lambda_runtime.runtime import RUNTIME_ENV, LambdaContext

    registry = Registry(stack.outputs["RegistryTableName"], stack.client("dynamodb"))
    candidate_csv = to_csv_bytes(credit_risk(rows=TRAIN_ROWS, seed=CANDIDATE_SEED))
    upload(stack, MODEL, spec_for(MODEL, None), training_csv())
    for model, mode, weight in (
        (CANARY_MODEL, "canary", CANARY_WEIGHT),
        (SHADOW_MODEL, "shadow", SHADOW_WEIGHT),
    ):
        upload(stack, model, spec_for(model, ROLLOUT.format(mode=mode, weight=weight)), training_csv())
    for model in (CANARY_MODEL, SHADOW_MODEL):  # their runs stay open, waiting to check the rollout
        stack.client("s3").put_object(
            Bucket=stack.outputs["RawBucketName"], Key=f"{model}/data/candidate.csv", Body=candidate_csv
        )
    stack.drain()
    versions = {m: await_rollout(registry, m) for m in (CANARY_MODEL, SHADOW_MODEL)}

    config = stack.function_configuration("PredictFunction")
    env = {
        **RUNTIME_ENV,
        **stack.function_environment("PredictFunction"),
        "AWS_REGION": stack.region,
        "AWS_DEFAULT_REGION": stack.region,
        "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
        "ALIAS_TTL_SECONDS": "60",
        "CAPTURE_FRACTION": "0",
    }
    os.environ.pop("AWS_ENDPOINT_URL", None)
    context = LambdaContext(
        function_name=config["FunctionName"],
        invoked_function_arn=config["FunctionArn"],
        memory_limit_in_mb=1024,
    )
    modules = {
        ("baseline", "5"): load_handler(MODEL, "baseline5", {**env, "ROLLOUT_FLUSH_SECONDS": "5"}, context)
    }
    for mode, model in (("canary", CANARY_MODEL), ("shadow", SHADOW_MODEL)):
        for flush in FLUSHES:
            flushed = {**env, "ROLLOUT_FLUSH_SECONDS": flush}
            modules[(mode, flush)] = load_handler(model, f"{mode}{flush}", flushed, context)
    # the same as the baseline in a container loaded last: how far two identical containers differ
    modules[("control", "5")] = load_handler(MODEL, "control", {**env, "ROLLOUT_FLUSH_SECONDS": "5"}, context)
    artifacts = stack.outputs["ArtifactBucketName"]
    onnx = stack.client("s3").get_object(Bucket=artifacts, Key=f"models/{MODEL}/1/model.onnx")["Body"].read()
    served = ServedModel(name=MODEL, version=1, onnx=OnnxModel(onnx))
    made = {CANARY_MODEL: len(FLUSHES), SHADOW_MODEL: len(FLUSHES)}  # each container's warm-up request
    return Setup(versions, modules, context, registry, served, made)


def spec_for(model: str, rollout: str | None) -> bytes:
    text = SPEC_FILE.read_text(encoding="utf-8").replace(f"name: {MODEL}", f"name: {model}")
    return (text + (rollout or "")).encode()


def upload(stack: Any, model: str, spec: bytes, data: bytes) -> None:
    """The spec, then the first data: version 1 in production (nothing to roll out beside)."""
    s3, raw = stack.client("s3"), stack.outputs["RawBucketName"]
    s3.put_object(Bucket=raw, Key=f"{model}/spec.yaml", Body=spec)
    stack.wait_for_executions()
    s3.put_object(Bucket=raw, Key=f"{model}/data/bench.csv", Body=data)
    executions = [e for e in stack.wait_for_executions() if e["name"].startswith(f"{model}-")]
    if [e["status"] for e in executions] != ["SUCCEEDED"]:
        raise SystemExit(f"training {model} on the in-process stack: {executions}")


def await_rollout(registry: Any, model: str) -> tuple[int, int]:
    """(production, candidate) once the state machine has put the candidate on the alias."""
    from sluice.domain.registry.records import VersionStatus

    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while time.monotonic() < deadline:
        alias = registry.get_alias(model)
        if alias is not None and alias.rollout is not None:
            return alias.version, alias.rollout.version
        ended = [
            v
            for v in registry.list_versions(model)
            if v.status in (VersionStatus.REJECTED, VersionStatus.FAILED)
        ]
        if ended:
            raise SystemExit(
                f"{model} version {ended[0].version} was {ended[0].status.value}: {ended[0].reason}"
            )
        time.sleep(0.5)
    raise SystemExit(f"{model}: no rollout started within {POLL_LIMIT_SECONDS:.0f} s")


def load_handler(model: str, tag: str, env: dict[str, str], context: Any) -> Any:
    """functions/predict/app.py imported as a fresh module (one container) with `env` in os.environ,
    and its first request made on `model` (settings read, production and candidate loaded)."""
    os.environ.update(env)
    spec = importlib.util.spec_from_file_location(f"bench_rollout_app_{tag}", HANDLER_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = json.dumps({"instances": request_instances(1)}).encode()
    check_response(f"handler {tag}", module.lambda_handler(predict_event(model, body, "warm-up"), context), 1)
    return module


@dataclass
class Row:
    """One line of the cost table: a name and its samples (µs)."""

    name: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)


def bench_batch(setup: Setup, instances: list[dict[str, Any]], rows: int) -> bool:
    """Time every configuration on `rows`-row requests in interleaved rounds and print the cost table;
    True when the canary misses its budget (one row only)."""
    if rows == 1:
        bodies = [json.dumps({"instances": [row]}).encode() for row in instances]
    else:
        bodies = [json.dumps({"instances": instances[:rows]}).encode()]
    models = {"baseline": MODEL, "control": MODEL, "canary": CANARY_MODEL, "shadow": SHADOW_MODEL}
    cases = {
        key: Case(
            f"{key[0]}, flush {key[1]} s",
            module.lambda_handler,
            CALLS_PER_ROUND[rows],
            Requests(models[key[0]], bodies),
        )
        for key, module in setup.modules.items()
    }
    run_interleaved(list(cases.values()), setup.context, ROUNDS)
    for case in cases.values():
        assert isinstance(case.events, Requests)
        setup.made[case.events.model] = setup.made.get(case.events.model, 0) + len(case.events.ids)
    baseline = Row("baseline (no rollout)", cases[("baseline", "5")].samples)
    lines = [baseline, Row("baseline, another container (noise)", cases[("control", "5")].samples)]
    for flush in FLUSHES:
        lines += rollout_rows(setup, cases, flush)
    model_us = median_us(lambda: predict_once(setup, instances[:rows]), CALLS_PER_ROUND[rows])
    print(f"\n[{rows} row{'s' if rows > 1 else ''} per request]")
    cost_table(lines, baseline)
    canary, shadow = lines[2], lines[5]  # flush 5 s
    print(
        f"one predict() on the model alone (schema checks + ONNX, no handler): {model_us:,.1f} µs; the "
        f"shadow's overhead is {(shadow.median - baseline.median) / model_us:.2f}× that"
    )
    if rows != 1:
        return False
    ratio = canary.median / baseline.median
    print(
        f"budget (median) {canary.name} ≤ {CANARY_BUDGET}× baseline: {ratio:.2f}× {verdict(ratio <= CANARY_BUDGET)}"
    )
    return ratio > CANARY_BUDGET


def rollout_rows(setup: Setup, cases: dict[tuple[str, str], Case], flush: str) -> list[Row]:
    """The canary's requests (all, then split by the version that answered them) and the shadow's."""
    from sluice.domain.rollout.live import scores_on_candidate

    canary = cases[("canary", flush)]
    assert isinstance(canary.events, Requests)
    candidate = setup.versions[CANARY_MODEL][1]
    chosen = [scores_on_candidate(i, candidate, CANARY_WEIGHT) for i in canary.events.ids]
    label = f"flush {flush} s" if flush != "0" else "flush every request"
    return [
        Row(f"canary 50%, {label}: all", canary.samples),
        Row("  answered by the candidate", [s for s, c in zip(canary.samples, chosen, strict=True) if c]),
        Row("  answered by production", [s for s, c in zip(canary.samples, chosen, strict=True) if not c]),
        Row(f"shadow 100%, {label}", cases[("shadow", flush)].samples),
    ]


def cost_table(lines: list[Row], baseline: Row) -> None:
    table(
        ["mode", "calls", "median µs", "× baseline", "overhead µs", "mean µs", "mean overhead µs"],
        [
            [
                line.name,
                str(len(line.samples)),
                f"{line.median:,.1f}",
                f"{line.median / baseline.median:.2f}×",
                f"{line.median - baseline.median:+,.1f}",
                f"{line.mean:,.1f}",
                f"{line.mean - baseline.mean:+,.1f}",
            ]
            for line in lines
        ],
    )


def predict_once(setup: Setup, instances: list[dict[str, Any]]) -> object:
    from sluice.app.serving.production import predict

    return predict(setup.served, instances, max_instances=1000, request_id="r")


def print_counts(setup: Setup) -> None:
    """What the containers added to the registry against the requests they served (every flush-0 request
    is counted; a flush-5 container keeps at most its last 5 s of counts)."""
    for model in (CANARY_MODEL, SHADOW_MODEL):
        candidate = setup.versions[model][1]
        counts = setup.registry.rollout_counts(model, candidate)
        print(
            f"registry counts of {model} version {candidate}'s rollout: "
            + ", ".join(f"{role} {tally.requests:,}" for role, tally in sorted(counts.items()))
            + f" of {setup.made[model]:,} requests made (a flush-5 container still holds its last seconds')"
        )


def stop_executions(stack: Any) -> None:
    """Stop the executions waiting to check the rollouts (their Wait would outlive the stack)."""
    sfn = stack.client("stepfunctions")
    for arn in stack.deployment.state_machine_arns():
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=arn, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], cause="bench finished")


def main() -> int:
    status = 0

    def bench() -> None:
        nonlocal status
        status = bench_rollout()

    run_bench("bench.predict.rollout", bench)
    return status


if __name__ == "__main__":
    sys.exit(main())
