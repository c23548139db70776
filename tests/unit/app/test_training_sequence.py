"""One training sequence, two runners: `sluice train` runs every stage in one process
(`train_candidate`), the TrainAndPromote state machine one step at a time. The state machine's
definition follows the sequence's order, and both runners search the same way: the same candidates, the same scores, the same choice."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

from sluice.app.training.candidate import STEPS_OF_STAGE
from sluice.app.training.steps import run_step
from sluice.domain.candidate import train_candidate
from sluice.domain.registry.records import TaskEvent
from sluice.domain.spec.model_spec import parse_spec
from sluice.domain.training.search import CandidateScore
from sluice.domain.training.sequence import TRAINING_SEQUENCE, Stage
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_search_steps import SEARCH_SPEC_TEXT, searched
from tests.unit.app.test_steps import FIRST

ASL = Path(__file__).parents[3] / "statemachines" / "train_and_promote.asl.json"


def _steps_graph(states: dict[str, Any]) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Each state's `action` (a Task's parameters, a Map's item selector) and where a run may go from
    it (Next, Default, Choices, Catch)."""
    actions: dict[str, str] = {}
    following: dict[str, set[str]] = {}
    for name, state in states.items():
        for parameters in (state.get("Parameters", {}), state.get("ItemSelector", {})):
            if "action" in parameters:
                actions[name] = parameters["action"]
        targets = [state.get("Next"), state.get("Default")]
        targets += [choice.get("Next") for choice in state.get("Choices", [])]
        targets += [catch.get("Next") for catch in state.get("Catch", [])]
        following[name] = {t for t in targets if t}
    return actions, following


def _reachable(following: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    pending = list(following.get(start, ()))
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(following.get(name, ()))
    return seen


def test_the_state_machine_runs_the_stages_in_the_sequence_order() -> None:
    # Given the state machine's definition: each state's action and where a run goes from it
    definition = json.loads(ASL.read_text(encoding="utf-8"))
    actions, following = _steps_graph(definition["States"])
    state_of = {action: name for name, action in actions.items()}
    # When the sequence's steps are taken in order
    steps = [step for stage in TRAINING_SEQUENCE for step in STEPS_OF_STAGE[stage]]
    assert set(STEPS_OF_STAGE) == set(Stage)
    assert set(steps) <= set(state_of), sorted(set(steps) - set(state_of))
    # Then a run reaches each step after the one before it, and never goes back
    for earlier, later in pairwise(steps):
        assert state_of[later] in _reachable(following, state_of[earlier]), (earlier, later)
        assert state_of[earlier] not in _reachable(following, state_of[later]), (later, earlier)
    assert state_of[steps[0]] in _reachable(following, definition["StartAt"])


def test_both_runners_search_the_same_candidates_and_choose_the_same(fakes: FakePorts) -> None:
    # Given a spec that lists candidates and a table, stored for the state machine
    spec = parse_spec(SEARCH_SPEC_TEXT)
    run = searched(fakes, "both")  # the state machine's PlanSearch and SearchCandidates Map
    machine_scores = [CandidateScore.model_validate(s) for s in run.search_results or []]
    # When `sluice train`'s runner trains on the same table in one process
    candidate = train_candidate(spec, FIRST, dataset_sha256="0" * 64, version="1", search_workers=1)
    # Then it searched, and scored each candidate as the Map did, and trained the same choice
    assert candidate.experiment is not None
    assert [(c.index, c.mean, c.folds) for c in candidate.experiment.candidates] == [
        (s.index, s.mean, s.folds) for s in machine_scores
    ]
    trained = run_step(TaskEvent(action="train", run=run, execution_arn="arn"), fakes.core_deps())
    assert trained.algorithm is not None
    assert candidate.spec.estimator.name.value == trained.algorithm["name"]
    assert candidate.card.algorithm == trained.algorithm["name"]
