"""`sluice train`: every algorithm × task the spec allows trains, exports to ONNX in the contract,
passes parity and is byte-reproducible; champion/challenger gating accepts better and rejects worse."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from sluice.domain.data.table import read_csv
from sluice.domain.spec.model_spec import ALGORITHM_TASKS, Task, load_spec
from sluice.domain.training.pipeline import SEED
from sluice.entrypoints.cli.model_folder import MODEL_FILE
from tests.conftest import spec_path, write_example

DATASET_FOR_TASK = {Task.BINARY: "breast-cancer", Task.MULTICLASS: "wine", Task.REGRESSION: "diabetes"}
PAIRINGS = sorted(
    (DATASET_FOR_TASK[task], algorithm.value)
    for algorithm, tasks in ALGORITHM_TASKS.items()
    for task in tasks
)


def _spec_with_algorithm(tmp_path: Path, dataset: str, algorithm: str) -> Path:
    spec = load_spec(spec_path(dataset))
    document = spec.model_dump(mode="json", exclude_none=True)
    document["algorithm"] = {
        "name": algorithm,
        "params": {"n_estimators": 30} if "forest" in algorithm else {},
    }
    if algorithm == "gradient_boosting":
        document["algorithm"]["params"] = {"n_estimators": 30}
    document["gates"] = {}  # this test is about export, not about how good the model is
    path = tmp_path / f"{dataset}-{algorithm}.yaml"
    path.write_text(json.dumps(document))  # JSON is YAML
    return path


@pytest.mark.parametrize(("dataset", "algorithm"), PAIRINGS)
def test_every_pairing_exports_with_parity_and_identical_bytes(
    sluice, tmp_path: Path, dataset: str, algorithm: str
) -> None:
    # Given a shipped dataset and a spec using the algorithm
    data = write_example(tmp_path / f"{dataset}.csv", dataset)
    spec = _spec_with_algorithm(tmp_path, dataset, algorithm)
    # When it is trained twice
    first = sluice("train", "--spec", spec, "--data", data, "--out", tmp_path / "a", "--json")
    second = sluice("train", "--spec", spec, "--data", data, "--out", tmp_path / "b", "--json")
    # Then both runs pass parity and write byte-identical ONNX models
    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    parity = first.json["parity"]
    assert parity["passed"] is True
    assert parity["label_agreement"] == 1.0
    assert parity["max_abs_diff"] <= parity["tolerance"]
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()
    # And the model follows the ONNX contract
    model = onnx.load(tmp_path / "a" / MODEL_FILE)
    loaded_spec = load_spec(spec)
    assert [i.name for i in model.graph.input] == loaded_spec.feature_names
    for graph_input in model.graph.input:
        assert [d.dim_value for d in graph_input.type.tensor_type.shape.dim][1] == 1
        assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    outputs = [o.name for o in model.graph.output]
    assert outputs == (["variable"] if loaded_spec.task is Task.REGRESSION else ["label", "probabilities"])
    props = {p.key: p.value for p in model.metadata_props}
    assert props["sluice.model"] == loaded_spec.name
    assert props["sluice.spec_sha256"] == loaded_spec.sha256
    assert props["sluice.version"] == "local"


def test_credit_risk_card_carries_lineage_metrics_and_fairness(
    sluice, tmp_path: Path, credit_csv: Path
) -> None:
    # Given credit-risk data with categorical features, missing values and a sensitive attribute
    out = tmp_path / "model"
    # When trained
    result = sluice("train", "--spec", spec_path("credit-risk"), "--data", credit_csv, "--out", out, "--json")
    # Then every metric, the fairness gaps, importance and latency are reported
    assert result.exit_code == 0, result.stderr
    summary = result.json
    assert set(summary["metrics"]) == {"roc_auc", "accuracy", "f1", "log_loss", "brier"}
    assert 0.65 < summary["metrics"]["roc_auc"] < 0.95
    assert summary["fairness"]["attribute"] == "gender"
    assert 0 <= summary["fairness"]["demographic_parity_gap"] < 0.1
    # income and debt_ratio drive the generator's default probability most
    ranked = sorted(summary["importance"], key=summary["importance"].get, reverse=True)
    assert set(ranked[:2]) == {"income", "debt_ratio"}
    assert summary["latency_ms_single_row"] > 0
    assert summary["gates"]["passed"] is True
    assert [c["gate"] for c in summary["gates"]["checks"]] == ["min_metric", "max_fairness_gap"]
    # And the card names the dataset by the file's sha256 and the exact model bytes
    card = json.loads((out / "card.json").read_text())
    assert card["lineage"]["dataset_sha256"] == hashlib.sha256(credit_csv.read_bytes()).hexdigest()
    assert card["lineage"]["model_sha256"] == hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()
    assert card["lineage"]["rows_train"] + card["lineage"]["rows_holdout"] == 3000
    assert card["libraries"]["scikit-learn"] and card["libraries"]["onnxruntime"]
    # And its parameters are the estimator's as trained: the spec's, Sluice's seed, scikit-learn's defaults
    parameters = card["parameters"]
    assert (parameters["n_estimators"], parameters["max_depth"], parameters["min_samples_leaf"]) == (
        100,
        8,
        5,
    )
    assert parameters["random_state"] == SEED and parameters["criterion"] == "gini"
    assert card["evaluation"]["confusion_matrix"]["labels"] == ["0", "1"]
    assert set(card["evaluation"]["groups"]) == {"female", "male"}
    # And the HTML card is self-contained with charts
    html = (out / "card.html").read_text()
    assert "<svg" in html and "Confusion matrix" in html and "By gender" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    # And the reference sample holds training rows with the spec's columns and the model's predictions
    reference = read_csv(io.BytesIO(gzip.decompress((out / "reference.csv.gz").read_bytes())), "ref")
    feature_names = load_spec(spec_path("credit-risk")).feature_names
    assert reference.header == [*feature_names, "default", "gender", "_prediction"]
    assert reference.n_rows == card["lineage"]["rows_train"]
    assert set(reference.columns["_prediction"]) == {"0", "1"}


def test_label_noise_challenger_is_rejected_and_better_one_passes(sluice, tmp_path: Path) -> None:
    spec = spec_path("credit-risk")
    # Given a champion trained on clean data
    champion_data = write_example(tmp_path / "champion.csv", "credit-risk", rows=3000, seed=1)
    assert (
        sluice("train", "--spec", spec, "--data", champion_data, "--out", tmp_path / "champion").exit_code
        == 0
    )
    # When a challenger trained on data with 30% of labels flipped is compared on its holdout
    noisy = write_example(tmp_path / "noisy.csv", "credit-risk", rows=3000, seed=2, label_noise=0.3)
    worse = sluice(
        "train",
        "--spec",
        spec,
        "--data",
        noisy,
        "--out",
        tmp_path / "worse",
        "--champion",
        tmp_path / "champion",
        "--json",
    )
    # Then it is trained (exit 0) but the gates fail, naming the gate, the value and the limit
    assert worse.exit_code == 0, worse.stderr
    gates = worse.json["gates"]
    assert gates["passed"] is False
    assert {f["gate"] for f in gates["failed"]} >= {"min_metric"}
    assert all(f["value"] is not None and f["limit"] is not None for f in gates["failed"])
    assert worse.json["champion_metrics"] is not None
    # When a challenger trained on more clean data is compared
    more = write_example(tmp_path / "more.csv", "credit-risk", rows=12000, seed=3)
    better = sluice(
        "train",
        "--spec",
        spec,
        "--data",
        more,
        "--out",
        tmp_path / "better",
        "--champion",
        tmp_path / "champion",
        "--json",
    )
    # Then it passes every gate, including the regression gate against the champion
    assert better.exit_code == 0, better.stderr
    assert better.json["gates"]["passed"] is True, better.json["gates"]
    assert "max_regression" in [c["gate"] for c in better.json["gates"]["checks"]]
    assert better.json["metrics"]["roc_auc"] >= better.json["champion_metrics"]["roc_auc"] - 0.005


def test_bad_data_is_not_trained(sluice, tmp_path: Path, credit_csv: Path) -> None:
    text = credit_csv.read_text().splitlines()
    text[5] = (
        text[5].replace("retail", "bank", 1) if "retail" in text[5] else text[5].replace("sme", "bank", 1)
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    result = sluice(
        "train", "--spec", spec_path("credit-risk"), "--data", bad, "--out", tmp_path / "out", "--json"
    )
    assert result.exit_code == 1
    assert result.json["servable"] is False
    assert result.json["validation"]["problems"][0]["column"] == "segment"
    assert not (tmp_path / "out" / MODEL_FILE).exists()


def test_missing_champion_folder_exits_2(sluice, tmp_path: Path, credit_csv: Path) -> None:
    result = sluice(
        "train",
        "--spec",
        spec_path("credit-risk"),
        "--data",
        credit_csv,
        "--out",
        tmp_path / "o",
        "--champion",
        tmp_path / "none",
    )
    assert result.exit_code == 2
    assert "no model.onnx" in result.stderr


def test_human_output_summarises_metrics_parity_and_files(sluice, tmp_path: Path) -> None:
    data = write_example(tmp_path / "wine.csv", "wine")
    result = sluice("train", "--spec", spec_path("wine"), "--data", data, "--out", tmp_path / "wine")
    assert result.exit_code == 0
    assert "parity: max abs diff" in result.stdout and "→ passed" in result.stdout
    assert "model.onnx" in result.stdout
    assert "training random_forest" in result.stderr  # progress goes to stderr


def test_multiclass_probabilities_are_in_class_order(tmp_path: Path, sluice) -> None:
    data = write_example(tmp_path / "wine.csv", "wine")
    assert (
        sluice("train", "--spec", spec_path("wine"), "--data", data, "--out", tmp_path / "m").exit_code == 0
    )
    from sluice.domain.scoring.onnx_model import OnnxModel

    model = OnnxModel((tmp_path / "m" / MODEL_FILE).read_bytes())
    outputs = model.run_table(read_csv(data))
    assert model.classes == [0, 1, 2]
    assert outputs.probabilities is not None and outputs.labels is not None
    assert np.array_equal(np.asarray(model.classes)[outputs.probabilities.argmax(axis=1)], outputs.labels)


@pytest.mark.slow
def test_model_onnx_is_byte_identical_across_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    # Given one dataset and spec (skl2onnx collects opset imports in a set, whose order follows the
    # string hash seed: two runs in one process agree even when two processes do not)
    data = write_example(tmp_path / "credit.csv", "credit-risk", rows=400, seed=3)
    sluice_bin = Path(sys.executable).with_name("sluice")
    digests = []
    for seed in ("1", "3"):
        # When `sluice train` runs in a separate process with its own PYTHONHASHSEED
        out = tmp_path / f"out-{seed}"
        completed = subprocess.run(
            [
                *(str(sluice_bin), "train", "--spec", str(spec_path("credit-risk"))),
                *("--data", str(data), "--out", str(out), "--json"),
            ],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        digests.append(hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest())
    # Then both processes wrote the same bytes, with the opset imports in domain order
    assert digests[0] == digests[1]
    model = onnx.load(str(tmp_path / "out-1" / MODEL_FILE))
    assert [o.domain for o in model.opset_import] == sorted(o.domain for o in model.opset_import)
    assert model.graph.name == "sluice_credit-risk"
