"""What the candidate search costs and what fanning it out saves, in the same run:

1. On the local stack: the TrainAndPromote state machine's SearchCandidates Map (one TrainFunction task
   per candidate, the local runtime running a Map's invocations together as Lambda runs them in
   environments of their own) against the same cross_validate tasks invoked one after another.
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
from sluice.domain.search import search
from sluice.domain.spec import parse_spec
from sluice.domain.table import to_csv_bytes
from sluice.domain.training import split_holdout
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


def on_the_stack() -> list[list[str]]:
    with in_process_stack() as stack:
        raw, sfn = stack.outputs["RawBucketName"], stack.client("stepfunctions")
        with quiet():
            stack.client("s3").put_object(Bucket=raw, Key=f"{MODEL}/spec.yaml", Body=spec_text().encode())
            stack.wait_for_executions()
            body = to_csv_bytes(credit_risk(rows=ROWS, seed=1))
            stack.client("s3").put_object(Bucket=raw, Key=f"{MODEL}/data/train.csv", Body=body)
            executions = stack.wait_for_executions(timeout=1800)
        run = next(e for e in executions if e["name"].startswith(f"{MODEL}-"))
        history = sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)["events"]
        fanned_out = _map_seconds(history)
        plan = next(
            json.loads(e["stateExitedEventDetails"]["output"])
            for e in history
            if e.get("stateExitedEventDetails", {}).get("name") == "PlanSearch"
        )
        started = time.perf_counter()
        with quiet():
            for index in plan["search"]:
                outcome = stack.invoke(
                    "TrainFunction",
                    {
                        "action": "cross_validate",
                        "run": plan,
                        "candidate": index,
                        "execution_arn": run["executionArn"],
                    },
                )
                if outcome.failed:
                    raise SystemExit(f"cross_validate {index} failed: {outcome.error}")
        one_by_one = time.perf_counter() - started
    n = len(plan["search"])
    return [
        [f"Map on the local stack ({n} candidates)", f"{fanned_out:.1f}", f"{one_by_one / fanned_out:.2f}×"],
        ["the same tasks one after another", f"{one_by_one:.1f}", "1.00×"],
    ]


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


def main() -> None:
    rows = on_the_stack() + in_one_process()
    table(["candidate search", "seconds", "speed-up"], rows)


if __name__ == "__main__":
    raise SystemExit(run_bench("bench_search", main))
