"""A retraining's data in the domain: the spec's optional `retraining:` section (existing specs keep their
meaning and their hash), the sample weights that make a retraining dataset's recent rows count more
when fitting, and the recent holdout the gates judge on when it has enough rows."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from sluice.domain.candidate import Origin, assess_candidate, export_candidate, score_champion
from sluice.domain.data.table import RawTable
from sluice.domain.reports.card import render_card_html
from sluice.domain.scoring.onnx_model import ModelOutputs
from sluice.domain.spec.model_spec import RetrainingSpec, parse_spec
from sluice.domain.training.evaluation import MISSING_GROUP, group_fairness
from sluice.domain.training.pipeline import fit_pipeline, model_matrix, recent_weights, split_holdout
from sluice.errors import SpecError
from sluice.tools.example_data import credit_risk

SPEC_TEXT = """
name: lines
task: regression
target: y
features:
  - {name: x, type: numeric}
algorithm: {name: linear_regression}
metric: rmse
"""
SPEC = parse_spec(SPEC_TEXT)


def line_table(old: int, recent: int) -> RawTable:
    """`old` rows of y = x, then `recent` rows of y = 3x (the world changed); x in [1, 51), every row
    different."""
    xs = [1 + i % 50 + i / 10_000 for i in range(old + recent)]
    ys = [x if i < old else 3 * x for i, x in enumerate(xs)]
    return RawTable(
        source="lines.csv",
        header=["x", "y"],
        columns={"x": [repr(x) for x in xs], "y": [repr(y) for y in ys]},
    )


def recent_rows_in(table: RawTable) -> int:
    """How many rows of a table cut from `line_table` are recent (y = 3x)."""
    return sum(float(y) > 2 * float(x) for x, y in zip(table.columns["x"], table.columns["y"], strict=True))


# ------------------------------------------------------------------------------------------------ spec
def test_a_spec_without_retraining_has_none_and_keeps_its_hash() -> None:
    # Given the same spec with and without the section
    with_section = parse_spec(SPEC_TEXT + "retraining: {window_days: 3}\n")
    # Then a spec without it has none, and the section (set) changes the hash
    assert SPEC.retraining is None
    assert with_section.retraining == RetrainingSpec(
        window_days=3, recent_weight=2.0, recent_holdout_fraction=0.3, min_labelled_rows=50
    )
    assert with_section.sha256 != SPEC.sha256
    # And the hash of a spec without it is the hash of its fields before the section (and the later
    # optional keys) existed
    later = {"retraining", "rollout", "candidates", "cv_folds", "threshold", "fairness", "intended_use"}
    later |= {"ignored_columns", "resources"}
    document = SPEC.model_dump(
        mode="json", exclude={**dict.fromkeys(later, True), "drift": {"multivariate_threshold"}}
    )
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    assert SPEC.sha256 == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("{window_days: 0}", "retraining.window_days"),
        ("{recent_weight: -1}", "retraining.recent_weight"),
        ("{window: 7}", "retraining.window"),
    ],
)
def test_a_wrong_retraining_key_is_named(section: str, key: str) -> None:
    # When a spec has a wrong retraining key, Then the error names it
    with pytest.raises(SpecError, match=key.replace(".", r"\.")):
        parse_spec(SPEC_TEXT + f"retraining: {section}\n")


# --------------------------------------------------------------------------------------------- weights
def test_the_recent_training_rows_weigh_recent_weight_and_the_others_one() -> None:
    # Given a table whose last 40 of 200 rows are recent
    table = line_table(160, 40)
    split = split_holdout(SPEC, table)
    # When the weights of its training rows are asked for with a weight of 3
    weights = recent_weights(SPEC, table, 40, 3.0)
    # Then there is one per training row, 3 for each recent one that is not held out, 1 for the rest
    assert weights is not None and len(weights) == split.train.n_rows
    recent_in_train = recent_rows_in(split.train)
    assert int(np.sum(weights == 3.0)) == recent_in_train > 0
    assert int(np.sum(weights == 1.0)) == split.train.n_rows - recent_in_train


@pytest.mark.parametrize(("recent", "weight"), [(0, 3.0), (40, 1.0)])
def test_no_recent_rows_or_a_weight_of_one_fits_unweighted(recent: int, weight: float) -> None:
    # When nothing is recent or recent rows weigh 1, Then there are no weights (the fit is as before)
    assert recent_weights(SPEC, line_table(160, 40), recent, weight) is None


def test_weighing_recent_rows_moves_the_model_towards_them() -> None:
    # Given old rows of y = x and recent rows of y = 3x
    table = line_table(100, 100)
    train = split_holdout(SPEC, table).train
    # When the model is fitted unweighted and with recent rows weighing 10
    plain = fit_pipeline(SPEC, train)
    weighted = fit_pipeline(SPEC, train, recent_weights(SPEC, table, 100, 10.0))
    # Then the weighted model's slope is nearer the recent world's 3
    probe = model_matrix(
        SPEC, RawTable(source="p", header=["x", "y"], columns={"x": ["0", "10"], "y": ["0", "0"]})
    )
    slope_plain = float(np.diff(plain.predict(probe))[0]) / 10
    slope_weighted = float(np.diff(weighted.predict(probe))[0]) / 10
    assert abs(slope_weighted - 3) < abs(slope_plain - 3)


# -------------------------------------------------------------------------------------- recent holdout
def test_the_recent_holdout_is_the_last_rows_and_never_trained_on() -> None:
    # Given a table whose last 40 of 200 rows are recent, 10 of them the recent holdout
    table = line_table(160, 40)
    # When it is split
    split = split_holdout(SPEC, table, recent_holdout_rows=10)
    # Then the recent holdout is the last 10 rows, and the other 190 are split as they would be alone
    assert split.recent is not None and split.recent.columns["x"] == table.columns["x"][-10:]
    alone = split_holdout(SPEC, table.select(list(range(190))))
    assert (split.train, split.holdout) == (alone.train, alone.holdout)
    # And the weights cover the training rows, the 30 recent rows that are not held out weighing 3
    weights = recent_weights(SPEC, table, 40, 3.0, recent_holdout_rows=10)
    assert weights is not None and len(weights) == split.train.n_rows
    assert int(np.sum(weights == 3.0)) == recent_rows_in(split.train)
    # And a recent holdout as large as the recent rows leaves no training row to weigh
    assert recent_weights(SPEC, table, 40, 3.0, recent_holdout_rows=40) is None


CREDIT_SPEC_TEXT = """
name: credit
task: binary
target: default
features:
  - {name: income, type: numeric}
  - {name: debt_ratio, type: numeric}
  - {name: credit_lines, type: numeric}
algorithm: {name: random_forest, params: {n_estimators: 15, max_depth: 5}}
metric: roc_auc
gates: {min_metric: 0.55}
"""


@pytest.mark.parametrize(("min_rows", "counted"), [(50, True), (150, False)])
def test_the_gates_judge_on_the_recent_holdout_when_it_has_enough_rows(min_rows: int, counted: bool) -> None:
    # Given a retraining spec, and a table whose newest 100 rows are the recent holdout
    spec = parse_spec(CREDIT_SPEC_TEXT + f"retraining: {{min_labelled_rows: {min_rows}}}\n")
    table = credit_risk(600, seed=5)
    split = split_holdout(spec, table, recent_holdout_rows=100)
    assert split.recent is not None
    pipeline = fit_pipeline(spec, split.train)
    exported = export_candidate(pipeline, spec, split, version="2")
    champion = fit_pipeline(spec, split.train.select(list(range(100))))
    champion_onnx = export_candidate(champion, spec, split, version="1").onnx_model
    # When the candidate is assessed against the champion
    assessment = assess_candidate(
        spec,
        split,
        exported.onnx_model,
        version="2",
        origin=Origin(dataset_sha256="d" * 64, dataset_source="t", spec_sha256=spec.sha256),
        parameters={},
        parity=exported.parity,
        champion=score_champion(champion_onnx, spec, split.holdout),
        champion_recent=score_champion(champion_onnx, spec, split.recent),
    )
    # Then both are scored on the recent holdout, shown in evaluation.json and on the card
    recent = assessment.document["recent_holdout"]
    assert recent["rows"] == 100 and recent["counted"] is counted and recent["champion"] is not None
    assert assessment.card.recent_holdout is not None and assessment.card.recent_holdout.rows == 100
    assert "Recent holdout" in render_card_html(assessment.card)
    # And the gates judged on the recent holdout when it had enough rows, else on the usual one
    judged = recent["evaluation"] if counted else assessment.document["evaluation"]
    champion_judged = recent["champion"] if counted else assessment.document["champion"]
    assert assessment.gates.challenger_metric == judged["metrics"]["roc_auc"]
    assert assessment.gates.champion_metric == champion_judged["metrics"]["roc_auc"]
    assert (
        recent["evaluation"]["metrics"]["roc_auc"] != assessment.document["evaluation"]["metrics"]["roc_auc"]
    )


def test_rows_without_the_sensitive_attribute_are_listed_but_not_a_group_of_the_fairness_gaps() -> None:
    # Given a holdout where the groups select alike, plus labelled-traffic rows (no sensitive value)
    # that the model selects far more often
    spec = parse_spec(
        "name: loans\ntask: binary\ntarget: y\nfeatures: [{name: x, type: numeric}]\n"
        "algorithm: {name: logistic_regression}\nmetric: accuracy\nsensitive: gender\n"
    )
    gender = ["female"] * 4 + ["male"] * 4 + [""] * 4
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1])
    holdout = RawTable(source="holdout", header=["gender"], columns={"gender": gender})
    probabilities = np.column_stack([1 - labels, labels]).astype(np.float32)
    outputs = ModelOutputs(labels=labels, probabilities=probabilities, values=None)
    # When the fairness of its outputs is measured
    found = group_fairness(spec, holdout, labels, outputs, [0, 1])
    # Then the rows without a value are listed as their own group, but the gap is the known groups'
    assert found is not None
    groups, fairness = found
    assert set(groups) == {"female", "male", MISSING_GROUP} and groups[MISSING_GROUP].selection_rate == 1.0
    assert fairness.demographic_parity_gap == 0.0
