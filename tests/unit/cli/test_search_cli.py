"""`sluice train` on a spec with `candidates` searches first (progress per candidate, experiments.json
beside the card, the same choice and model bytes in every run), and `sluice experiments` prints a
version's search from the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.domain.data.table import write_csv
from sluice.domain.spec.model_spec import load_spec
from sluice.domain.training.search import EXPERIMENTS_FILE, Experiment, choose
from sluice.entrypoints.cli.model_folder import CARD_FILE, MODEL_FILE
from tests.unit.app.fakes import FakePorts
from tests.unit.domain.test_search import TIMINGS, XOR_SPEC, _score, _spec, _xor_table

SEARCH_SPEC = XOR_SPEC
ALGORITHM_SPEC = XOR_SPEC.replace(
    """candidates:
  - {name: logistic_regression, params: {C: [1.0]}}
  - {name: random_forest, params: {n_estimators: [20], max_depth: [5]}}
cv_folds: 3
""",
    "algorithm: {name: random_forest, params: {n_estimators: 20, max_depth: 5}}\n",
)


@pytest.fixture
def xor_files(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "xor.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        write_csv(_xor_table(300, seed=11), handle)
    search_spec, algorithm_spec = tmp_path / "search.yaml", tmp_path / "one.yaml"
    search_spec.write_text(SEARCH_SPEC)
    algorithm_spec.write_text(ALGORITHM_SPEC)
    return {"data": data, "search": search_spec, "algorithm": algorithm_spec}


def _decided(experiment: dict[str, Any]) -> dict[str, Any]:
    return experiment | {
        "candidates": [{k: v for k, v in c.items() if k not in TIMINGS} for c in experiment["candidates"]]
    }


def test_train_searches_reports_each_candidate_and_writes_the_experiment(
    sluice, tmp_path: Path, xor_files: dict[str, Path]
) -> None:
    # Given a spec with two candidates on a target only the forest can learn
    out = tmp_path / "model"
    # When trained in this process
    result = sluice(
        "train", "--spec", xor_files["search"], "--data", xor_files["data"], "--out", out, "--workers", "1"
    )
    # Then the data is validated first, then each candidate's progress line is on stderr, and the choice
    # with its reason
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("sluice: validating ")
    assert "sluice: searching 2 candidates: 3-fold cross-validation on" in lines[1]
    assert lines[2].startswith("sluice: [1/2] logistic_regression {C: 1.0}: roc_auc ")
    assert lines[3].startswith("sluice: [2/2] random_forest {n_estimators: 20, max_depth: 5}: roc_auc ")
    assert lines[4].startswith("sluice: chose [1]: best mean roc_auc")
    # And stdout shows the experiment table before the summary
    assert "2 candidates, 3-fold cross-validation" in result.stdout
    # And experiments.json lies beside the card, the forest chosen, the model trained as the forest
    experiment = Experiment.model_validate_json((out / EXPERIMENTS_FILE).read_text())
    assert experiment.chosen == 1 and len(experiment.candidates) == 2
    assert experiment.version == "local"
    card = json.loads((out / CARD_FILE).read_text())
    assert card["lineage"]["spec_sha256"] == load_spec(xor_files["search"]).sha256
    assert card["parameters"]["max_depth"] == 5 and card["parameters"]["n_estimators"] == 20
    # and the card carries the same experiment table
    assert Experiment.model_validate(card["experiment"]) == experiment
    # And the summary names experiments.json among what was written
    assert str(out / EXPERIMENTS_FILE) in result.stdout


@pytest.mark.slow
def test_two_searches_in_worker_processes_choose_alike_and_write_the_same_model_bytes(
    sluice, tmp_path: Path, xor_files: dict[str, Path]
) -> None:
    # Given a search spec, When trained twice with two worker processes
    runs = [
        sluice(
            "train",
            "--spec",
            xor_files["search"],
            "--data",
            xor_files["data"],
            "--out",
            tmp_path / name,
            "--workers",
            "2",
            "--json",
        )
        for name in ("a", "b")
    ]
    assert [r.exit_code for r in runs] == [0, 0], runs[0].stderr
    # Then --json carries the chosen candidate, its reason and how many were tried
    first, second = (r.json["experiment"] for r in runs)
    assert (first["algorithm"], first["index"], first["candidates"]) == ("random_forest", 1, 2)
    assert first["reason"].startswith("best mean roc_auc")
    # And the experiments agree on every score and the choice, and the models are byte-identical
    documents = [json.loads((tmp_path / name / EXPERIMENTS_FILE).read_text()) for name in ("a", "b")]
    assert _decided(documents[0]) == _decided(documents[1])
    assert {k: v for k, v in first.items() if k not in TIMINGS} == {
        k: v for k, v in second.items() if k not in TIMINGS
    }
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()


def test_an_algorithm_spec_trains_as_before_and_leaves_no_experiment(
    sluice, tmp_path: Path, xor_files: dict[str, Path]
) -> None:
    # Given a folder an earlier search wrote into
    out = tmp_path / "model"
    out.mkdir()
    (out / EXPERIMENTS_FILE).write_text("{}")
    # When a spec naming one algorithm is trained there
    result = sluice(
        "train", "--spec", xor_files["algorithm"], "--data", xor_files["data"], "--out", out, "--json"
    )
    # Then nothing is searched: no progress line, no experiment in the summary, no stale experiments.json
    assert result.exit_code == 0, result.stderr
    assert "searching" not in result.stderr and "[1/" not in result.stderr
    assert "experiment" not in result.json
    assert not (out / EXPERIMENTS_FILE).exists()


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakePorts, Path]:
    """`sluice experiments` pointed at in-memory ports instead of a stack's."""
    fakes = FakePorts()
    monkeypatch.setattr("sluice.entrypoints.wiring.stack_deps", lambda *_args, **_kwargs: fakes.deps())
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"ArtifactBucketName": "artifacts", "RegistryTableName": "registry"}))
    return fakes, outputs


def test_experiments_prints_a_versions_table_and_json(sluice, stack: tuple[FakePorts, Path]) -> None:
    # Given a model whose version 1 searched
    fakes, outputs = stack
    stored = choose(_spec(), [_score(0, 0.8, 100), _score(1, 0.9, 200)], rows=100, version="1")
    files = {"experiments": ("experiments.json", stored.model_dump_json().encode())}
    fakes.train_version(stored.model, files)
    # When its experiments are printed, as a table and as JSON
    table = sluice("experiments", stored.model, "--stack-outputs", outputs)
    as_json = sluice("experiments", stored.model, "--version", "1", "--stack-outputs", outputs, "--json")
    # Then the table marks the chosen candidate and says why, and the JSON is the stored experiment
    assert table.exit_code == 0, table.stderr
    chosen = next(line for line in table.stdout.splitlines() if line.startswith("*"))
    assert "random_forest {max_depth: 3}" in chosen
    assert stored.reason in table.stdout
    assert Experiment.model_validate(as_json.json) == stored


def test_experiments_of_a_version_that_did_not_search_fails_with_the_reason(
    sluice, stack: tuple[FakePorts, Path]
) -> None:
    # Given a version that trained one algorithm
    fakes, outputs = stack
    fakes.train_version("xor", {"model": ("model.onnx", b"onnx")})
    # When its experiments are asked for, Then the command fails and says why
    result = sluice("experiments", "xor", "--version", "1", "--stack-outputs", outputs)
    assert result.exit_code == 1
    assert "xor version 1 trained one algorithm" in result.stderr
