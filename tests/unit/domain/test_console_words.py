"""What the console shows in plain words: a run's steps from the states its execution entered, and a
CSV's columns as someone choosing what to predict reads them."""

from __future__ import annotations

import io

from sluice.domain.data.column_words import describe_columns
from sluice.domain.data.table import read_csv
from sluice.domain.registry.run_steps import Step, rollout_step, run_steps

TRAINED = ["AllocateVersion", "PlanSearch", "SearchOrTrain", "TrainOn", "Train", "ExportAndCheckParity"]
COMPARED = [*TRAINED, "Evaluate", "Gate", "PlanRollout", "RolloutMode"]


def states(steps: list[Step]) -> list[tuple[str, str]]:
    return [(s.name, s.state) for s in steps]


def test_a_run_in_training_shows_validating_done_training_running_and_the_rest_pending() -> None:
    assert states(run_steps(["AllocateVersion", "PlanSearch", "Train"], "RUNNING")) == [
        ("Validating", "done"),
        ("Training", "running"),
        ("Checking parity", "pending"),
        ("Comparing with production", "pending"),
        ("Promoting", "pending"),
    ]


def test_a_manual_rollout_waits_for_approval() -> None:
    steps = run_steps([*COMPARED, "AwaitApproval"], "RUNNING")
    assert states(steps)[-2:] == [("Waiting for approval", "waiting"), ("Promoting", "pending")]
    assert all(state == "done" for _, state in states(steps)[:4])


def test_a_canary_shows_its_percent() -> None:
    steps = run_steps(
        [*COMPARED, "StartRollout", "RolloutDecision", "WaitForTraffic"],
        "RUNNING",
        rollout=rollout_step("canary", 0.1),
    )
    assert ("Canary at 10%", "running") in states(steps)


def test_a_rejected_run_fails_in_the_step_it_was_in_with_the_reason() -> None:
    steps = run_steps([*COMPARED[:8], "RegisterRejected", "Notify"], "SUCCEEDED", reason="roc_auc under 0.7")
    assert ("Comparing with production", "failed") in states(steps)
    assert next(s for s in steps if s.state == "failed").detail == "roc_auc under 0.7"
    assert "Promoting" not in [s.name for s in steps]


def test_a_promoted_run_is_done_throughout() -> None:
    steps = run_steps([*COMPARED, "RegisterAndPromote", "Notify", "Done"], "SUCCEEDED")
    assert {state for _, state in states(steps)} == {"done"}


def test_columns_are_described_in_plain_words_with_what_can_be_predicted() -> None:
    rows = ["id,age,segment,note,default"] + [
        f"{i},{'' if i == 0 else 18 + i},{['retail', 'sme', 'corporate'][i % 3]},<script>x{i}</script> said a lot here,{i % 2}"
        for i in range(50)
    ]
    table = read_csv(io.BytesIO("\n".join(rows).encode()), name="loans.csv")
    words = {c.name: c for c in describe_columns(table)}
    assert words["age"].description == "numbers from 19 to 67, 2% empty"
    assert words["segment"].description == "3 categories: retail, sme, corporate"
    assert words["default"].description == "two values: 0 and 1" and words["default"].can_predict
    assert words["note"].kind == "identifier" and not words["note"].can_predict
    assert words["id"].can_predict  # numbers: a regression target, if the person says so
