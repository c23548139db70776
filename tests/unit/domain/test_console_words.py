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


# ------------------------------------------------------------------------------ a quarantine report in words
LOANS_SPEC = """
name: loans
task: binary
target: default
features:
  - {name: age, type: numeric, min: 18}
  - {name: segment, type: categorical, categories: [retail, sme]}
algorithm: {name: logistic_regression}
metric: roc_auc
"""
KEY = "loans/data/20261207T204000-000123-loans.csv"


def quarantined(csv_text: str) -> dict[str, object]:
    """The report ingestion writes beside a file that failed validation (app/ingest/upload.py)."""
    from sluice.domain.data.validation import validate_table
    from sluice.domain.spec.model_spec import parse_spec

    report = validate_table(parse_spec(LOANS_SPEC), read_csv(io.BytesIO(csv_text.encode()), KEY))
    return {"reason": "invalid", "message": report.to_text()[:500], "report": report.model_dump(mode="json")}


def test_rows_with_text_in_a_number_column_are_one_sentence_naming_file_column_and_rows() -> None:
    from sluice.domain.data.quarantine_words import quarantine_words

    # Given a file whose age has text in rows 2, 3 and 5
    rows = ["30,retail,0", "x,sme,1", "y,retail,0", "41,sme,1", "z,retail,1"]
    # When its quarantine report is put in words
    words = quarantine_words(KEY, quarantined("age,segment,default\n" + "\n".join(rows) + "\n"))
    # Then one sentence names the file as the user named it, the column and the rows
    assert words.summary == (
        '3 rows of loans.csv cannot be used: column "age" has text where a number is expected '
        '(such as "x") in rows 2, 3 and 5.'
    )
    # And the table lists each row with its column and the problem in the same words
    assert [(p["row"], p["column"]) for p in words.problems] == [(2, "age"), (3, "age"), (5, "age")]
    assert words.problems[0]["message"] == 'has text where a number is expected (such as "x")'


def test_several_problems_are_named_the_target_as_the_column_to_predict() -> None:
    from sluice.domain.data.quarantine_words import quarantine_words

    rows = ["30,retail,0", "12,bank,2", "41,sme,1", "44,sme,1"]
    words = quarantine_words(KEY, quarantined("age,segment,default\n" + "\n".join(rows) + "\n"))
    assert words.summary == (
        '1 row of loans.csv cannot be used: column "age" has values below the minimum 18 in row 2; '
        'column "segment" has a value the model does not know, such as "bank" in row 2; '
        'the column to predict, "default", must hold 0 or 1, not "2" in row 2.'
    )


def test_a_missing_column_makes_the_whole_file_unusable_and_other_reasons_are_one_sentence_too() -> None:
    from sluice.domain.data.quarantine_words import quarantine_words

    words = quarantine_words(KEY, quarantined("age,default\n30,0\n41,1\n"))
    assert words.summary == 'The file loans.csv cannot be used: column "segment" is missing from the file.'
    assert words.problems == [{"row": None, "column": "segment", "message": "is missing from the file"}]
    # a file that could not be read: the reason's message, one sentence, and no raw statistics
    unreadable = {"reason": "unreadable", "message": f"{KEY}: the file is not UTF-8 text", "report": None}
    assert quarantine_words(KEY, unreadable).summary == (
        "The file loans.csv cannot be read: the file is not UTF-8 text."
    )
