"""A candidate search through the TrainAndPromote steps on the in-memory ports, as the state machine
runs them: PlanSearch lists the candidates, one cross_validate task scores each (the Map), Train chooses
the best and records every candidate, and the version's card shows the experiment."""

from __future__ import annotations

import json
import re

from sluice.app.training.steps import CROSS_VALIDATE, run_step, score_candidate
from sluice.domain.registry.records import RunState, TaskEvent
from sluice.domain.training.search import Experiment
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_steps import (
    FIRST,
    SPEC_TEXT,
    STATE_MACHINE_LIMIT_BYTES,
    execution_arn,
    step,
    stored_run,
)

SEARCH_SPEC_TEXT = re.sub(
    r"algorithm: .*",
    "candidates:\n"
    "  - {name: logistic_regression, params: {C: [0.01, 1.0]}}\n"
    "  - {name: random_forest, params: {n_estimators: [15], max_depth: [4]}}\n"
    "cv_folds: 3",
    SPEC_TEXT,
)


def searched(fakes: FakePorts, name: str) -> RunState:
    """A run through AllocateVersion, PlanSearch and the SearchCandidates Map (its results in the run,
    as the Map's ResultPath puts them)."""
    run = step(fakes, "allocate", stored_run(fakes, FIRST, SEARCH_SPEC_TEXT), name)
    run = step(fakes, "plan_search", run, name)
    assert run.search is not None
    scores = [
        score_candidate(
            TaskEvent(action=CROSS_VALIDATE, run=run, execution_arn=execution_arn(name), candidate=index),
            fakes.core_deps(),
        ).model_dump(mode="json")
        for index in run.search
    ]
    return run.model_copy(update={"search_results": scores})


def test_plan_search_lists_every_candidate_and_a_one_algorithm_spec_none(fakes: FakePorts) -> None:
    # Given a spec with two grids (three candidates) and one naming one algorithm
    search_run = step(fakes, "allocate", stored_run(fakes, FIRST, SEARCH_SPEC_TEXT), "search")
    single_run = step(fakes, "allocate", stored_run(fakes, FIRST), "single")
    # When PlanSearch runs on each
    # Then the search spec lists its three candidates, and the other goes straight to Train
    assert step(fakes, "plan_search", search_run, "search").search == [0, 1, 2]
    assert step(fakes, "plan_search", single_run, "single").search is None


def test_train_chooses_the_best_candidate_and_records_every_one(fakes: FakePorts) -> None:
    # Given the Map's scores of three candidates
    run = searched(fakes, "search")
    scores = run.search_results or []
    best = max((s for s in scores if s["mean"] is not None), key=lambda s: s["mean"])
    # When Train runs
    trained = step(fakes, "train", run, "search")
    # Then it trained the best, carries its choice (not the scores) on, and recorded every candidate
    assert trained.algorithm == {"name": best["algorithm"], "params": best["params"]}
    assert trained.search is None and trained.search_results is None
    experiment = Experiment.model_validate_json(
        fakes.artifacts.get_verified(trained.artifacts["experiments"])
    )
    assert experiment.chosen == best["index"] and len(experiment.candidates) == 3
    items = fakes.registry.list_candidates("credit-risk", trained.version or 0)
    assert [(i.score.index, i.chosen) for i in items] == [
        (s["index"], s["index"] == best["index"]) for s in scores
    ]
    # And export and evaluation use the chosen estimator, and the card shows the experiment
    evaluated = step(fakes, "evaluate", step(fakes, "export", trained, "search"), "search")
    card = json.loads(fakes.artifacts.get_verified(evaluated.artifacts["card"]))
    assert card["algorithm"] == best["algorithm"]
    assert card["experiment"]["chosen"] == best["index"]
    # and the run stays far below the state machine's payload limit
    assert len(evaluated.model_dump_json()) < STATE_MACHINE_LIMIT_BYTES / 10


def test_the_map_results_fit_in_a_state_payload(fakes: FakePorts) -> None:
    # Given the Map's results in the run, as SearchCandidates leaves them
    run = searched(fakes, "payload")
    # Then the whole run, scores included, is a small fraction of Step Functions' 256 KB
    assert len(run.model_dump_json()) < STATE_MACHINE_LIMIT_BYTES / 20


def test_a_one_algorithm_spec_still_trains_as_before(fakes: FakePorts) -> None:
    # Given a spec naming one algorithm, through AllocateVersion and PlanSearch
    run = step(fakes, "plan_search", step(fakes, "allocate", stored_run(fakes, FIRST), "one"), "one")
    # When Train runs
    trained = run_step(
        TaskEvent(action="train", run=run, execution_arn=execution_arn("one")),
        fakes.core_deps(),
    )
    # Then no search was recorded and the estimator is the spec's
    assert "experiments" not in trained.artifacts and trained.algorithm is None
    assert fakes.registry.list_candidates("credit-risk", trained.version or 0) == []
