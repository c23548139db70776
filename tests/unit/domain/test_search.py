"""Candidate search: cross-validated on the training part only, the best by the primary metric chosen
(ties on size, then order), failures recorded and never chosen, the same scores and choice in any
process."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sluice.domain.data.table import RawTable
from sluice.domain.spec.model_spec import ModelSpec, parse_spec
from sluice.domain.training.pipeline import holdout_mask, split_holdout
from sluice.domain.training.search import CandidateScore, choose, cross_validate, experiment_text, search
from sluice.errors import SpecError

XOR_SPEC = """
name: xor
task: binary
target: y
features: [{name: a, type: numeric}, {name: b, type: numeric}]
candidates:
  - {name: logistic_regression, params: {C: [1.0]}}
  - {name: random_forest, params: {n_estimators: [20], max_depth: [5]}}
cv_folds: 3
metric: roc_auc
"""

# Measurements: they differ between runs by nature, and nothing is decided on them.
TIMINGS = {"fit_seconds", "latency_ms_single_row"}


def _xor_table(rows: int, seed: int) -> RawTable:
    """A target no line separates (the sign of a·b) and a forest learns easily."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, rows), rng.uniform(-1, 1, rows)
    y = (a * b > 0).astype(int)
    columns = {
        "a": [f"{v:.4f}" for v in a],
        "b": [f"{v:.4f}" for v in b],
        "y": [str(v) for v in y],
    }
    return RawTable(source=f"xor-{seed}", header=["a", "b", "y"], columns=columns)


def _spec(text: str = XOR_SPEC, **changes: Any) -> ModelSpec:
    spec = parse_spec(text)
    return spec.model_validate(spec.model_dump(mode="json", exclude_none=True) | changes)


def _decided(candidates: list[CandidateScore]) -> list[dict[str, Any]]:
    return [c.model_dump(exclude=TIMINGS) for c in candidates]


def _score(index: int, mean: float | None, size: int, latency: float = 0.1, **extra: Any) -> CandidateScore:
    return CandidateScore(
        index=index,
        algorithm="random_forest",
        params={"max_depth": index + 2},
        folds=5,
        metric="roc_auc",
        mean=mean,
        std=None if mean is None else 0.01,
        fold_scores=[mean] * 5,
        fit_seconds=0.1,
        model_size_bytes=size,
        latency_ms_single_row=latency,
        **extra,
    )


def test_the_forest_wins_on_a_target_no_line_separates_and_every_candidate_is_recorded() -> None:
    # Given an XOR-like target, a linear model and a forest as candidates
    spec = _spec()
    train = split_holdout(spec, _xor_table(300, seed=1)).train
    progress: list[str] = []
    # When searched in this process
    experiment = search(spec, train, workers=1, progress=progress.append)
    # Then both are recorded, with a score per fold, a size and a latency, and the forest is chosen
    logistic, forest = experiment.candidates
    assert [c.algorithm for c in experiment.candidates] == ["logistic_regression", "random_forest"]
    assert [c.error for c in experiment.candidates] == [None, None]
    assert [len(c.fold_scores) for c in experiment.candidates] == [3, 3]
    assert all(c.model_size_bytes > 0 and c.latency_ms_single_row is not None for c in experiment.candidates)
    assert forest.mean is not None and logistic.mean is not None
    assert forest.mean > logistic.mean + 0.25
    assert experiment.chosen == 1
    assert experiment.rows == train.n_rows and experiment.folds == 3
    assert experiment.reason.startswith("best mean roc_auc")
    assert "next: logistic_regression {C: 1.0}" in experiment.reason
    # And each finished candidate was reported once
    assert len(progress) == 2
    assert progress[1].startswith("[2/2] random_forest {n_estimators: 20, max_depth: 5}: roc_auc ")
    # And the table marks the chosen one and says why
    text = experiment_text(experiment)
    chosen_line = next(line for line in text.splitlines() if line.startswith("*"))
    assert "random_forest" in chosen_line
    assert experiment.reason in text


def test_a_lower_is_better_metric_chooses_the_lowest_mean() -> None:
    # Given a regression spec (rmse) and three scored candidates
    spec = parse_spec(
        """
name: r
task: regression
target: y
features: [{name: a, type: numeric}]
candidates: [{name: ridge, params: {alpha: [0.1, 1.0, 10.0]}}]
metric: rmse
"""
    )
    scores = [_score(0, 3.0, 100), _score(1, 2.0, 100), _score(2, 2.5, 100)]
    # When chosen
    experiment = choose(spec, scores, rows=50)
    # Then the lowest rmse wins
    assert experiment.chosen == 1
    assert experiment.higher_is_better is False


def test_ties_go_to_the_smaller_model_then_to_the_order_written_never_to_latency() -> None:
    # Given three candidates within 1e-9 of each other, the fastest being the last
    spec = _spec()
    scores = [
        _score(0, 0.9, 2000, latency=0.5),
        _score(1, 0.9 + 1e-12, 1000, latency=0.5),
        _score(2, 0.9, 1000, latency=0.01),
    ]
    # When chosen
    experiment = choose(spec, scores, rows=100)
    # Then the smaller model wins, and between equal sizes the one written first
    assert experiment.chosen == 1
    assert "tied with 2 other(s)" in experiment.reason
    assert "first in the spec's order" in experiment.reason
    # And a smaller size alone decides when it is unique
    assert choose(spec, [_score(0, 0.9, 2000), _score(1, 0.9, 900)], rows=100).reason.endswith(
        "chosen as the smallest model (900 bytes)"
    )


def test_a_candidate_that_cannot_be_fitted_is_recorded_with_its_error_and_never_chosen() -> None:
    # Given a grid with one combination scikit-learn refuses (elasticnet with the lbfgs solver)
    spec = _spec(
        candidates=[
            {"name": "logistic_regression", "params": {"l1_ratio": [0.5]}},
            {"name": "logistic_regression", "params": {"C": [1.0]}},
        ]
    )
    train = split_holdout(spec, _xor_table(120, seed=2)).train
    # When that candidate is cross-validated
    failed = cross_validate(spec, train, 0)
    # Then it comes back with its error, no mean, and is not chosen
    assert failed.error is not None and "ValueError" in failed.error
    assert failed.mean is None
    experiment = search(spec, train, workers=1)
    assert experiment.chosen == 1
    assert experiment.candidates[0].error == failed.error
    assert experiment.reason.endswith("1 could not be scored")
    assert f"[0] {failed.error}" in experiment_text(experiment)


def test_a_search_where_nothing_can_be_scored_names_each_candidates_error() -> None:
    # Given only failures
    scores = [_score(0, None, 0, error="ValueError: no"), _score(1, None, 0, error="ExportFailed: never")]
    # When chosen, Then SpecError names both
    with pytest.raises(SpecError, match=r"\[0\] random_forest \{max_depth: 2\}: ValueError: no; \[1\]"):
        choose(_spec(), scores, rows=10)


def test_the_folds_never_see_the_holdout_changing_it_changes_nothing() -> None:
    # Given a dataset, and the same dataset with every holdout row replaced by other holdout rows
    spec = _spec()
    table = _xor_table(300, seed=3)
    held = holdout_mask(table)
    others = _xor_table(600, seed=4)
    replacements = others.select(np.flatnonzero(holdout_mask(others))[: int(held.sum())])
    changed = RawTable(
        source="changed",
        header=table.header,
        columns={
            c: table.select(np.flatnonzero(~held)).columns[c] + replacements.columns[c] for c in table.header
        },
    )
    first, second = split_holdout(spec, table), split_holdout(spec, changed)
    assert set(first.holdout.rows()).isdisjoint(second.holdout.rows())
    # When each is searched
    before = search(spec, first.train, workers=1)
    after = search(spec, second.train, workers=1)
    # Then every score and the choice are the same
    assert _decided(after.candidates) == _decided(before.candidates)
    assert (after.chosen, after.reason) == (before.chosen, before.reason)


@pytest.mark.slow
def test_scores_and_choice_are_identical_in_worker_processes_and_in_this_one() -> None:
    # Given a search spec
    spec = _spec()
    train = split_holdout(spec, _xor_table(200, seed=5)).train
    finished: list[str] = []
    # When searched here and in two spawned processes (each with its own hash seed)
    here = search(spec, train, workers=1)
    there = search(spec, train, workers=2, progress=finished.append)
    # Then every fold score, mean, std, size and the choice are equal; only timings differ
    assert _decided(there.candidates) == _decided(here.candidates)
    assert (there.chosen, there.reason) == (here.chosen, here.reason)
    # And the candidates are in index order whatever order they finished in
    assert [c.index for c in there.candidates] == [0, 1]
    assert sorted(line.split("]")[0] for line in finished) == ["[1/2", "[2/2"]
