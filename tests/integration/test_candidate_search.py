"""A candidate search on the local stack: the state machine cross-validates every candidate in a Map,
trains the best, records every candidate (registry items and experiments.json), and the version's card
and `sluice experiments` show the table; a binary spec's decision threshold and reweighing reach the
served ONNX model and its card."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from sluice.domain.data.table import read_csv
from sluice.domain.registry.records import VersionStatus
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.training.decisions import THRESHOLD_TIE
from sluice.tools.cli import main
from tests.integration.conftest import Stack, spec_text
from tests.integration.scenario import FIRST

CANDIDATES = """candidates:
  - {name: logistic_regression, params: {C: [1.0]}}
  - {name: random_forest, params: {n_estimators: [15], max_depth: [2, 5]}}
cv_folds: 3"""


def _search_spec(model: str, extra: str = "") -> bytes:
    text = re.sub(r"algorithm: .*", CANDIDATES, spec_text(model))
    return (text + "\n" + extra).encode()


def test_a_search_trains_the_best_candidate_and_records_every_one(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a spec with three candidates (two grids) and a dataset
    stack.upload("it-search/spec.yaml", _search_spec("it-search"))
    stack.settle()
    stack.upload("it-search/data/first.csv", FIRST[1])
    executions = stack.settle()

    # Then the run succeeded and version 1 is in production, trained as the best candidate
    runs = [e for e in executions if e["name"].startswith("it-search-")]
    assert [r["status"] for r in runs] == ["SUCCEEDED"]
    version = stack.registry.get_version("it-search", 1)
    assert version.status is VersionStatus.PRODUCTION
    experiment = json.loads(stack.artifacts.get_verified(version.artifacts["experiments"]))
    assert [c["index"] for c in experiment["candidates"]] == [0, 1, 2]
    scored = [c for c in experiment["candidates"] if c["mean"] is not None]
    best = max(scored, key=lambda c: c["mean"])
    assert experiment["chosen"] == best["index"] and experiment["reason"]
    # and every candidate is a registry item beside the version, the chosen one marked
    items = stack.registry.list_candidates("it-search", 1)
    assert [(i.score.index, i.chosen) for i in items] == [
        (c["index"], c["index"] == best["index"]) for c in experiment["candidates"]
    ]
    assert all(len(i.score.fold_scores) == 3 for i in items)
    # and the card is of the chosen estimator, with the experiment table
    card = json.loads(stack.artifacts.get_verified(version.artifacts["card"]))
    assert card["algorithm"] == best["algorithm"]
    assert card["experiment"]["chosen"] == best["index"]
    html = stack.artifacts.get_verified(version.artifacts["card_html"]).decode()
    assert "random_forest" in html and "logistic_regression" in html

    # When a person asks for the experiment table
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    capsys.readouterr()
    code = main(["experiments", "it-search", "--stack-outputs", str(outputs), "--json"])
    # Then it is the version's table
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["chosen"] == best["index"] and len(shown["candidates"]) == 3


def test_a_chosen_threshold_and_reweighing_reach_the_served_model_and_its_card(stack: Stack) -> None:
    # Given a binary spec that picks its threshold for F1 and reweighs by gender
    spec = spec_text("it-decide").replace("\nsensitive: gender", "")
    spec += "\nthreshold: {optimise: f1}\nfairness: {sensitive: gender, mitigation: reweighing}\n"
    stack.upload("it-decide/spec.yaml", spec.encode())
    stack.settle()
    stack.upload("it-decide/data/first.csv", FIRST[1])
    stack.settle()

    # Then the version's card names the threshold it decides at and the fairness before and after
    version = stack.registry.get_version("it-decide", 1)
    assert version.status is VersionStatus.PRODUCTION
    card = json.loads(stack.artifacts.get_verified(version.artifacts["card"]))
    threshold = card["threshold"]["value"]
    assert card["threshold"]["objective"] == "f1" and 0 < threshold < 1
    assert card["mitigation"]["mitigation"] == "reweighing"
    assert set(card["mitigation"]["before"]) >= {"demographic_parity_gap", "equal_opportunity_gap", "metric"}
    # and the served ONNX model's label decides at that threshold
    model = OnnxModel(stack.artifacts.get_verified(version.artifacts["model"]))
    outputs = model.run_table(read_csv(io.BytesIO(FIRST[1]), name=FIRST[0]))
    assert outputs.probabilities is not None and outputs.labels is not None and model.classes is not None
    positive = outputs.probabilities[:, 1] >= np.float32(threshold - THRESHOLD_TIE)
    assert np.array_equal(outputs.labels, np.where(positive, model.classes[1], model.classes[0]))
    assert positive.mean() != (outputs.probabilities[:, 1] >= 0.5).mean()  # the threshold changed decisions
