"""The state machine's candidate search: PlanSearch, a Map of cross-validations on TrainFunction, then
Train; and the local runtime running a Map's invocations of one function together, as Lambda would."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sluice.tools.local.lambda_runtime.runtime import HandlerRuntime, LambdaContext
from sluice.tools.local.template import FunctionCode, prepare
from tests.unit.test_template import ASL, ROOT, SAM


def test_a_search_fans_out_one_cross_validation_per_candidate_before_train() -> None:
    states = ASL["States"]
    # Given the version is allocated, PlanSearch lists the candidates (none for a one-algorithm spec)
    assert states["AllocateVersion"]["Next"] == "PlanSearch"
    plan = states["PlanSearch"]
    assert (plan["Resource"], plan["Parameters"]["action"], plan["Next"]) == (
        "${TrainFunctionArn}",
        "plan_search",
        "SearchOrTrain",
    )
    choice = states["SearchOrTrain"]
    # (the handler drops a None `search`, so it is present only when there is something to search)
    assert choice["Choices"] == [{"Variable": "$.search", "IsPresent": True, "Next": "SearchCandidates"}]
    assert choice["Default"] == "TrainOn"  # where Train runs (test_training_backend_state_machine.py)
    # When there are candidates, a Map runs one TrainFunction task per index, given the run
    search = states["SearchCandidates"]
    assert (search["Type"], search["ItemsPath"], search["ResultPath"]) == (
        "Map",
        "$.search",
        "$.search_results",
    )
    assert search["ItemSelector"]["action"] == "cross_validate"
    assert search["ItemSelector"]["candidate.$"] == "$$.Map.Item.Value"
    assert search["ItemSelector"]["run.$"] == "$"
    inner = search["ItemProcessor"]["States"][search["ItemProcessor"]["StartAt"]]
    assert inner["Resource"] == "${TrainFunctionArn}" and inner["TimeoutSeconds"] <= 900
    # Then Train picks the best; a domain error in the search rejects, anything else fails
    assert search["Next"] == "TrainOn"
    assert search["Catch"][0]["Next"] == "RegisterRejected"
    assert search["Catch"][-1]["Next"] == "RegisterFailed"


def test_the_local_stack_knows_which_functions_a_map_fans_out_to() -> None:
    # Given the template with its state machine inlined as the local stack prepares it
    local = prepare(SAM, ROOT, "code-bucket")
    # When it looks for functions invoked from Map iterations
    # Then it finds TrainFunction (candidates), BatchScoreFunction (batches of a scoring job) and
    # DriftFunction (the monitoring partitions and models), and no
    # function only invoked from ordinary states
    assert local.map_fanout_functions() == {"TrainFunction", "BatchScoreFunction", "DriftFunction"}


HANDLER = """
import os, threading, time
inside = []
peak = [0]
lock = threading.Lock()

def handler(event, context):
    started = time.monotonic()
    with lock:
        inside.append(1)
        peak[0] = max(peak[0], len(inside))
    time.sleep(0.2)
    with lock:
        inside.pop()
    return {"peak": peak[0], "env": os.environ.get("WHO"), "started": started, "ended": time.monotonic()}
"""


def _code(tmp_path: Path, logical_id: str) -> FunctionCode:
    folder = tmp_path / logical_id
    folder.mkdir()
    (folder / "app.py").write_text(HANDLER)
    return FunctionCode(logical_id, folder, "app.handler")


def _invoke_together(
    runtime: HandlerRuntime, code: FunctionCode, env: dict[str, str], n: int
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    context = LambdaContext(function_name=code.logical_id, invoked_function_arn="arn")

    def call() -> None:
        outcome = runtime.run(code, {}, env, context)
        results.append(outcome.payload)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_invocations_of_a_fanned_out_function_overlap_and_others_run_one_at_a_time(tmp_path: Path) -> None:
    # Given a runtime where one function is fanned out to by a Map and another is not
    fanned, single = _code(tmp_path, "Fanned"), _code(tmp_path, "Single")
    runtime = HandlerRuntime(output_to_stderr=False, concurrent=frozenset({"Fanned"}))
    # When three invocations of each start together
    overlapping = _invoke_together(runtime, fanned, {"WHO": "fanned"}, 3)
    one_by_one = _invoke_together(runtime, single, {"WHO": "single"}, 3)
    # Then the fanned-out ones ran at the same time, the others never did, and each saw its environment
    assert max(int(str(r["peak"])) for r in overlapping) >= 2
    assert max(int(str(r["peak"])) for r in one_by_one) == 1
    assert {r["env"] for r in overlapping} == {"fanned"} and {r["env"] for r in one_by_one} == {"single"}


def test_a_different_function_waits_until_the_fanned_out_invocations_leave(tmp_path: Path) -> None:
    # Given fanned-out invocations running
    fanned, single = _code(tmp_path, "Fanned"), _code(tmp_path, "Single")
    runtime = HandlerRuntime(output_to_stderr=False, concurrent=frozenset({"Fanned"}))
    fanned_results: list[list[dict[str, object]]] = []
    worker = threading.Thread(
        target=lambda: fanned_results.append(_invoke_together(runtime, fanned, {"WHO": "fanned"}, 2))
    )
    worker.start()
    time.sleep(0.05)
    # When another function is invoked meanwhile
    outcome = runtime.run(single, {}, {"WHO": "single"}, LambdaContext("Single", "arn"))
    worker.join()
    # Then it started only after they had all left, and ran in its own environment
    assert outcome.payload["started"] >= max(float(str(r["ended"])) for r in fanned_results[0])
    assert outcome.payload["env"] == "single"
