"""Training past Lambda's limits: what the Train step costs in time and memory as the dataset grows, on
the Fargate branch as the local stack runs it, and where Lambda's 15 minutes / 10 GB run out.

1. Fargate branch, locally: the training task's command (`python -m sluice.entrypoints.container train`,
   from the deployed task definition, with its environment) run as a subprocess against the local
   stack's moto backend, for 10^4, 10^5 and 10^6 rows of the credit-risk example (its spec: a random
   forest of 100 trees, depth 8). Wall time, and peak RSS from getrusage(RUSAGE_CHILDREN) (the largest
   child so far: sizes run in increasing order).
2. Baseline, same run: the same `train` step in this process, as TrainFunction runs it (no process start,
   no run.json / result.json round trip): what the container path adds.
3. Lambda's limit, extrapolated (not measured): time fitted as a power of the rows and memory as a line
   (the interpreter and libraries, ~400 MB, plus a cost per row) between 10^5 and 10^6 rows, solved for
   900 s and for TrainFunction's 3,008 MB and Lambda's largest 10,240 MB. The step fits on one core (the
   forest's n_jobs is not set), so a Lambda vCPU is taken as this machine's core; say so when quoting it.

`python -m bench.bench_training_backends` from the repository root (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import time
from typing import Any

from bench.predict.common import ROOT, in_process_stack, quiet, run_bench, table
from sluice.app.data.stored import dataset_prefix, spec_key
from sluice.app.training.task import stage_training_task
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import RunState, TaskEvent, TrainingTask, sha256_hex
from sluice.domain.spec.model_spec import parse_spec
from sluice.tools.example_data import credit_risk

MODEL = "bench-backends"
SIZES = (10_000, 100_000, 1_000_000)
BASELINE_SIZES = (10_000, 100_000)
LAMBDA_SECONDS = 900.0
LAMBDA_MB = {"TrainFunction's 3,008 MB": 3_008.0, "Lambda's largest, 10,240 MB": 10_240.0}


def _deps(stack: Any) -> Any:
    from sluice.entrypoints.wiring import stack_deps

    return stack_deps(stack.outputs)


def _staged_run(stack: Any, deps: Any, rows: int, version: int) -> RunState:
    """The spec and a dataset of `rows` rows stored as ingest stores them, and the run staged for the task."""
    spec_text = (ROOT / "examples" / "credit-risk" / "spec.yaml").read_text(encoding="utf-8")
    spec_text = spec_text.replace("name: credit-risk", f"name: {MODEL}")
    spec = parse_spec(spec_text)
    spec_artifact = deps.artifacts.put_bytes(spec_key(MODEL, spec.sha256), spec_text.encode())
    data = to_csv_bytes(credit_risk(rows=rows, seed=7))
    sha = sha256_hex(data)
    dataset = deps.artifacts.put_bytes(dataset_prefix(MODEL, sha) + "data.csv", data, "text/csv")
    prefix = f"models/{MODEL}/{version}/training-task/"
    run = RunState(
        model=MODEL,
        dataset_sha256=sha,
        dataset_uri=dataset.uri,
        spec_sha256=spec.sha256,
        spec_uri=spec_artifact.uri,
        version=version,
        backend="fargate",
        training_task=TrainingTask(
            run_uri=deps.artifacts.uri(prefix + "run.json"),
            result_uri=deps.artifacts.uri(prefix + "result.json"),
            cpu="4096",
            memory="16384",
        ),
    )
    return stage_training_task(run, f"arn:aws:states:us-east-1:123456789012:execution:bench:{version}", deps)


def _task_process(stack: Any, run: RunState) -> tuple[list[str], dict[str, str]]:
    """The command and environment the local stack gives the training task (tools/local/fargate.py)."""
    from moto.ecs.models import ecs_backends

    from sluice.tools.local.fargate import container_command, container_environment, process_endpoint

    definition = ecs_backends["123456789012"][stack.region].describe_task_definition(
        stack.physical["TrainingTaskDefinition"]
    )
    container = definition.container_definitions[0]
    assert run.training_task is not None
    override = {"environment": [{"name": "TRAINING_RUN_URI", "value": run.training_task.run_uri}]}
    env = container_environment(
        container, override, endpoint=process_endpoint(None), region=stack.region, root=ROOT
    )
    return container_command(container, override), env


def _fargate(stack: Any, deps: Any, rows: int, version: int) -> tuple[float, float]:
    run = _staged_run(stack, deps, rows, version)
    command, env = _task_process(stack, run)
    started = time.perf_counter()
    code = subprocess.call(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    assert run.training_task is not None
    result = json.loads(deps.artifacts.get_bytes(run.training_task.result_uri))
    if code != 0 or "run" not in result:
        raise SystemExit(f"the training task failed on {rows} rows: exit {code}, {str(result)[:500]}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak_mb


def _in_process(stack: Any, deps: Any, rows: int, version: int) -> float:
    from sluice.app.training.steps import run_step

    run = _staged_run(stack, deps, rows, version)
    event = TaskEvent(action="train", run=run, execution_arn="arn:aws:states:::execution:bench:baseline")
    started = time.perf_counter()
    with quiet():
        run_step(event, deps)
    return time.perf_counter() - started


def _power_fit(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """(a, b) with y = a * x**b through both points."""
    b = math.log(y2 / y1) / math.log(x2 / x1)
    return y2 / x2**b, b


def _rows_at(limit: float, a: float, b: float) -> float:
    return float((limit / a) ** (1 / b)) if b > 0 else math.inf


def bench() -> None:
    with in_process_stack() as stack:
        from sluice.tools.local.fargate import stop_server

        deps = _deps(stack)
        try:
            measured: dict[int, tuple[float, float]] = {}
            baseline: dict[int, float] = {}
            for version, rows in enumerate(SIZES, start=1):
                print(f"  training {rows} rows as the Fargate task …", flush=True)
                measured[rows] = _fargate(stack, deps, rows, version)
                if rows in BASELINE_SIZES:
                    baseline[rows] = _in_process(stack, deps, rows, 100 + version)
        finally:
            stop_server()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        "\nTrain step (credit-risk spec: random_forest 100 trees, depth 8; 7 features), Fargate branch locally"
        f" (load average at the end: {load}; anything else running slows both columns alike)"
    )
    table(
        ["rows", "task (s)", "peak RSS (MB)", "in-process step (s)", "task / in-process"],
        [
            [
                f"{rows:,}",
                f"{seconds:.1f}",
                f"{peak:.0f}",
                f"{baseline[rows]:.1f}" if rows in baseline else "-",
                f"{seconds / baseline[rows]:.2f}" if rows in baseline else "-",
            ]
            for rows, (seconds, peak) in measured.items()
        ],
    )
    (t5, m5), (t6, m6) = measured[100_000], measured[1_000_000]
    time_fit = _power_fit(1e5, t5, 1e6, t6)
    per_row = (m6 - m5) / 9e5  # MB per row
    base = m6 - per_row * 1e6
    limits = {"900 s": _rows_at(LAMBDA_SECONDS, *time_fit)}
    limits |= {label: (mb - base) / per_row if per_row > 0 else math.inf for label, mb in LAMBDA_MB.items()}
    print(
        f"\nLambda's limit, extrapolated (time ~ rows^{time_fit[1]:.2f}; memory {base:.0f} MB + "
        f"{per_row * 1e6:.0f} MB per million rows; fitted between 10^5 and 10^6 rows, one core as the step uses):"
    )
    table(
        ["limit", "rows", "rows x 7 columns"],
        [[label, f"{rows:,.0f}", f"{rows * 7:,.0f}"] for label, rows in limits.items()],
    )
    first = min(limits.values())
    print(
        f"Lambda runs out first at about {first:,.0f} rows ({first * 7:,.0f} cells) of this spec; the template's "
        "LambdaMaxCells default (10,000,000 cells) sends larger datasets to Fargate."
    )


if __name__ == "__main__":
    raise SystemExit(run_bench("bench_training_backends", bench))
