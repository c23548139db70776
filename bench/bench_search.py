"""What the candidate search costs and what fanning it out saves, in the same run:

1. On the local stack: the TrainAndPromote state machine's SearchCandidates Map (one TrainFunction task
   per candidate, the local runtime running a Map's invocations together as Lambda runs them in
   environments of their own) against the same cross_validate tasks invoked one after another, each
   timed; on AWS each task has an environment of its own, so the Map takes about its longest task
   (the projection, which leaves out Lambda's invocation overhead and cold starts). A first run warms
   the handlers; the second run's Map is timed.
2. In one process, as `sluice train` runs it: `search(workers=2)` (processes) against `workers=1`.

The credit-risk example (3,000 rows), six candidates (the binary `auto` list plus gradient boosting),
5 folds. `python -m bench.bench_search` from the repository root.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

from bench.predict.common import ROOT, in_process_stack, quiet, run_bench, table
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.spec.model_spec import parse_spec
from sluice.domain.training.pipeline import split_holdout
from sluice.domain.training.search import search
from sluice.tools.example_data import credit_risk

MODEL = "bench-search"
ROWS = 3000
CANDIDATES = """candidates:
  - {name: logistic_regression, params: {C: [0.1, 1.0]}}
  - {name: random_forest, params: {n_estimators: [100], max_depth: [6, null]}}
  - {name: hist_gradient_boosting, params: {max_iter: [100]}}
  - {name: gradient_boosting, params: {n_estimators: [100]}}"""


def spec_text() -> str:
    text = (ROOT / "examples" / "credit-risk" / "spec.yaml").read_text(encoding="utf-8")
    text = text.replace("name: credit-risk", f"name: {MODEL}")
    return re.sub(r"algorithm: .*", CANDIDATES, text)


def _map_seconds(history: list[dict[str, Any]]) -> float:
    times = {e["type"]: e["timestamp"] for e in history if e["type"] in ("MapStateEntered", "MapStateExited")}
    entered, exited = times["MapStateEntered"], times["MapStateExited"]
    if isinstance(entered, datetime):
        return (exited - entered).total_seconds()
    return float(exited - entered)


def _run_upload(stack: Any, name: str, seed: int) -> dict[str, Any]:
    """Upload a dataset, wait for its TrainAndPromote run; the run's execution."""
    with quiet():
        body = to_csv_bytes(credit_risk(rows=ROWS, seed=seed))
        stack.client("s3").put_object(
            Bucket=stack.outputs["RawBucketName"], Key=f"{MODEL}/data/{name}", Body=body
        )
        executions = stack.wait_for_executions(timeout=1800)
    runs = [e for e in executions if e["name"].startswith(f"{MODEL}-") and e["status"] == "SUCCEEDED"]
    return max(runs, key=lambda e: e["startDate"])


def on_the_stack() -> tuple[list[list[str]], list[list[str]]]:
    with in_process_stack() as stack:
        sfn = stack.client("stepfunctions")
        with quiet():
            stack.client("s3").put_object(
                Bucket=stack.outputs["RawBucketName"], Key=f"{MODEL}/spec.yaml", Body=spec_text().encode()
            )
            stack.wait_for_executions()
        # A first run warms the handlers (imports, caches) as a warm Lambda would be; the second is timed.
        first = _run_upload(stack, "first.csv", seed=1)
        history = sfn.get_execution_history(executionArn=first["executionArn"], maxResults=1000)["events"]
        plan = next(
            json.loads(e["stateExitedEventDetails"]["output"])
            for e in history
            if e.get("stateExitedEventDetails", {}).get("name") == "PlanSearch"
        )
        each: dict[int, float] = {}
        with quiet():
            for index in plan["search"]:
                started = time.perf_counter()
                event = {
                    "action": "cross_validate",
                    "run": plan,
                    "candidate": index,
                    "execution_arn": "bench",
                }
                outcome = stack.invoke("TrainFunction", event)
                each[index] = time.perf_counter() - started
                if outcome.failed:
                    raise SystemExit(f"cross_validate {index} failed: {outcome.error}")
        second = _run_upload(stack, "second.csv", seed=2)
        history = sfn.get_execution_history(executionArn=second["executionArn"], maxResults=1000)["events"]
        fanned_out = _map_seconds(history)
    one_by_one, longest = sum(each.values()), max(each.values())
    candidates = parse_spec(spec_text()).candidate_algorithms()
    per_candidate = [
        [f"[{i}] {candidates[i].name.value} {candidates[i].params}", f"{seconds:.1f}"]
        for i, seconds in each.items()
    ]
    rows = [
        [
            f"Map on the local stack ({len(each)} candidates)",
            f"{fanned_out:.1f}",
            f"{one_by_one / fanned_out:.2f}×",
        ],
        ["the same tasks one after another", f"{one_by_one:.1f}", "1.00×"],
        [
            "AWS, projected: the longest task (one environment each)",
            f"{longest:.1f}",
            f"{one_by_one / longest:.2f}×",
        ],
    ]
    return rows, per_candidate


def in_one_process() -> list[list[str]]:
    spec = parse_spec(spec_text())
    train = split_holdout(spec, credit_risk(rows=ROWS, seed=1)).train
    seconds = {}
    for workers in (1, 2):
        started = time.perf_counter()
        search(spec, train, workers=workers, progress=lambda _: None)
        seconds[workers] = time.perf_counter() - started
    return [
        ["`sluice train`, 2 processes", f"{seconds[2]:.1f}", f"{seconds[1] / seconds[2]:.2f}×"],
        ["`sluice train`, 1 process", f"{seconds[1]:.1f}", "1.00×"],
    ]


def _count(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def machine_ceiling() -> list[str]:
    """What running two things at once gains on this machine at best: the same pure-Python loop twice,
    one after the other, then in two processes (no GIL, no shared data)."""
    import multiprocessing

    loop = 30_000_000
    started = time.perf_counter()
    _count(loop), _count(loop)
    serial = time.perf_counter() - started
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_count, [loop, loop])
    parallel = time.perf_counter() - started
    return [
        "this machine's ceiling: 2 processes of pure Python",
        f"{parallel:.1f}",
        f"{serial / parallel:.2f}×",
    ]


def main() -> None:
    stack_rows, per_candidate = on_the_stack()
    table(["candidate (one cross_validate task, warm)", "seconds"], per_candidate)
    print()
    table(["candidate search", "seconds", "speed-up"], stack_rows + in_one_process() + [machine_ceiling()])


if __name__ == "__main__":
    raise SystemExit(run_bench("bench_search", main))
