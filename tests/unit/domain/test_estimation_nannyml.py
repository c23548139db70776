"""NannyML 0.13.1 as the oracle of performance estimation without labels: the same reference (a
model's holdout, scored by its ONNX export, with labels) and the same analysis chunks (unlabelled
traffic, one unchanged and one shifted) through NannyML's CBPE and DLE and through Sluice's.

CBPE is the same arithmetic on the same calibration: every estimate within 0.02 (binary and
multiclass). DLE learns its loss models with different learners (NannyML: LightGBM; Sluice:
scikit-learn's HistGradientBoostingRegressor with the same tree count, leaf count and learning rate),
so the two estimates differ by what two boosted-tree fits of the same noisy errors differ by: within
10% of the realized value, and both follow the realized MAE and RMSE when the traffic shifts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.estimation.cbpe import classifier_rows, estimate_classifier
from sluice.domain.monitoring.estimation.dle import estimate_regressor, loss_inputs
from sluice.domain.monitoring.estimation.fit import fit_estimation
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.spec.model_spec import ModelSpec, load_spec, parse_spec
from sluice.domain.training.export import export_onnx
from sluice.domain.training.pipeline import fit_pipeline, split_holdout, target_array
from sluice.tools.example_data import example_table
from tests.oracles import run_oracle

ROOT = Path(__file__).resolve().parents[3]
CBPE_TOLERANCE = 0.02
DLE_RELATIVE_TOLERANCE = 0.10
CLASSIFIER_METRICS = ["roc_auc", "accuracy", "f1", "precision", "recall"]

NANNYML = """
import warnings
import pandas as pd
import nannyml as nml
warnings.filterwarnings("ignore")

def outcome(estimator, frame, names):
    data = estimator.estimate(frame).filter(period="analysis").to_df()
    return {
        m: {
            "value": float(data[(m, "value")].iloc[0]),
            "sampling_error": float(data[(m, "sampling_error")].iloc[0]),
            "band": [float(data[(m, "lower_confidence_boundary")].iloc[0]),
                     float(data[(m, "upper_confidence_boundary")].iloc[0])],
        }
        for m in names
    }

result = {}
for name, case in inputs["cbpe"].items():
    reference = pd.DataFrame(case["reference"])
    proba = case["proba"] if isinstance(case["proba"], str) else dict(case["proba"])
    estimator = nml.CBPE(
        problem_type=case["problem_type"], y_pred_proba=proba, y_pred="y_pred", y_true="y_true",
        metrics=case["metrics"], chunk_number=1,
    ).fit(reference)
    result[name] = [outcome(estimator, pd.DataFrame(chunk), case["metrics"]) for chunk in case["chunks"]]
case = inputs["dle"]
estimator = nml.DLE(
    feature_column_names=case["features"], y_pred="y_pred", y_true="y_true", metrics=["mae", "rmse"],
    chunk_number=1,
).fit(pd.DataFrame(case["reference"]))
result["dle"] = [outcome(estimator, pd.DataFrame(chunk), ["mae", "rmse"]) for chunk in case["chunks"]]
"""


def _trained(spec: ModelSpec, table: RawTable) -> tuple[bytes, RawTable]:
    split = split_holdout(spec, table)
    return export_onnx(fit_pipeline(spec, split.train), spec, version="1"), split.holdout


def _records(model: OnnxModel, table: RawTable) -> list[dict[str, Any]]:
    outputs = model.run_table(table)
    if outputs.values is not None:
        return [{"outputs": {"prediction": v}} for v in outputs.values.tolist()]
    assert outputs.labels is not None and outputs.probabilities is not None
    return [
        {"outputs": {"prediction": label, "probabilities": row, "classes": model.classes}}
        for label, row in zip(outputs.labels.tolist(), outputs.probabilities.tolist(), strict=True)
    ]


def _cbpe_case(spec: ModelSpec, table: RawTable, chunks: list[RawTable]) -> dict[str, Any]:
    """Sluice's estimates of each chunk and NannyML's inputs: probabilities and predictions as the
    ONNX model answers them, classes named c<i> (NannyML's keys are text)."""
    onnx_model, holdout = _trained(spec, table)
    model = OnnxModel(onnx_model)
    fitted = fit_estimation(spec, onnx_model, holdout, version="1")
    assert fitted is not None and model.classes is not None
    classes = [str(c) for c in model.classes]

    def frame(records: list[dict[str, Any]], truth: Any = None) -> dict[str, list[Any]]:
        probabilities = np.asarray([r["outputs"]["probabilities"] for r in records], dtype=np.float64)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        predicted = [classes.index(str(r["outputs"]["prediction"])) for r in records]
        columns: dict[str, list[Any]] = {}
        if len(classes) == 2:
            columns = {"y_pred_proba": probabilities[:, 1].tolist(), "y_pred": predicted}
            if truth is not None:
                columns["y_true"] = [classes.index(str(t)) for t in truth]
        else:
            columns = {f"p{i}": probabilities[:, i].tolist() for i in range(len(classes))}
            columns["y_pred"] = [f"c{p}" for p in predicted]
            if truth is not None:
                columns["y_true"] = [f"c{classes.index(str(t))}" for t in truth]
        return columns

    sluice = []
    for chunk in chunks:
        rows = classifier_rows(fitted.basis, _records(model, chunk))
        assert rows is not None
        sluice.append(estimate_classifier(fitted.basis, *rows))
    binary = len(classes) == 2
    return {
        "sluice": sluice,
        "oracle": {
            "problem_type": "classification_binary" if binary else "classification_multiclass",
            "proba": "y_pred_proba" if binary else [[f"c{i}", f"p{i}"] for i in range(len(classes))],
            "metrics": CLASSIFIER_METRICS,
            "reference": frame(_records(model, holdout), target_array(spec, holdout).tolist()),
            "chunks": [frame(_records(model, chunk)) for chunk in chunks],
        },
    }


REGRESSION_SPEC = """
name: loans-loss
task: regression
target: y
features:
  - {name: x, type: numeric}
  - {name: noise, type: numeric}
  - {name: segment, type: categorical, categories: [a, b]}
algorithm: {name: ridge}
metric: mae
"""


def _regression_table(rows: int, seed: int, noisy_share: float) -> RawTable:
    """y = 3x + 2 (segment b) + noise whose scale is `noise`: the loss model learns that rows with a
    larger `noise` have larger errors; raising `noisy_share` shifts traffic towards them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, rows)
    noise = np.where(rng.random(rows) < noisy_share, rng.uniform(1.5, 3, rows), rng.uniform(0.1, 0.5, rows))
    segment = np.where(rng.random(rows) < 0.5, "a", "b")
    y = 3 * x + 2 * (segment == "b") + rng.normal(0, 1, rows) * noise
    columns = {
        "x": [f"{v:.6g}" for v in x],
        "noise": [f"{v:.6g}" for v in noise],
        "segment": segment.tolist(),
        "y": [f"{v:.6g}" for v in y],
    }
    return RawTable(source="synthetic", header=list(columns), columns=columns)


def _dle_case() -> dict[str, Any]:
    spec = parse_spec(REGRESSION_SPEC)
    onnx_model, holdout = _trained(spec, _regression_table(5000, seed=1, noisy_share=0.2))
    model = OnnxModel(onnx_model)
    fitted = fit_estimation(spec, onnx_model, holdout, version="1")
    assert fitted is not None
    losses = {metric: OnnxModel(m) for metric, m in fitted.loss_models.items()}
    chunks = [
        _regression_table(1500, seed=2, noisy_share=0.2),
        _regression_table(1500, seed=3, noisy_share=0.7),
    ]

    def frame(table: RawTable, labelled: bool) -> dict[str, list[Any]]:
        columns: dict[str, list[Any]] = {
            "x": [float(v) for v in table.columns["x"]],
            "noise": [float(v) for v in table.columns["noise"]],
            "segment": table.columns["segment"],
            "y_pred": model.run_table(table).values.tolist(),  # type: ignore[union-attr]
        }
        if labelled:
            columns["y_true"] = [float(v) for v in table.columns["y"]]
        return columns

    sluice, realized = [], []
    for chunk in chunks:
        predicted = model.run_table(chunk).values
        assert predicted is not None
        inputs = loss_inputs(chunk, predicted.tolist())
        per_row = {metric: m.run_table(inputs).values.tolist() for metric, m in losses.items()}  # type: ignore[union-attr]
        sluice.append(estimate_regressor(fitted.basis, per_row))
        errors = target_array(spec, chunk) - predicted.astype(np.float64)
        realized.append({"mae": float(np.mean(np.abs(errors))), "rmse": float(np.sqrt(np.mean(errors**2)))})
    return {
        "sluice": sluice,
        "realized": realized,
        "oracle": {
            "features": ["x", "noise", "segment"],
            "reference": frame(holdout, labelled=True),
            "chunks": [frame(chunk, labelled=False) for chunk in chunks],
        },
    }


@pytest.fixture(scope="module")
def compared() -> dict[str, Any]:
    """Every case through Sluice, then through NannyML in one oracle call."""
    credit = load_spec(ROOT / "examples" / "credit-risk" / "spec.yaml")
    assert credit.algorithm is not None
    credit = credit.trained_as(
        credit.algorithm.model_copy(update={"params": {"n_estimators": 40, "max_depth": 6}})
    )
    wine = load_spec(ROOT / "examples" / "wine" / "spec.yaml")
    wine_table = example_table("wine")
    cases = {
        "binary": _cbpe_case(
            credit,
            example_table("credit-risk", rows=4000, seed=1),
            [
                example_table("credit-risk", rows=1000, seed=5),
                example_table("credit-risk", rows=1000, seed=6, shift=1.0),
            ],
        ),
        "multiclass": _cbpe_case(wine, wine_table, [wine_table]),
    }
    dle = _dle_case()
    oracle = run_oracle(
        NANNYML,
        cbpe={name: case["oracle"] for name, case in cases.items()},
        dle=dle["oracle"],
    )
    return {"cases": cases, "dle": dle, "oracle": oracle}


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_cbpe_estimates_agree_with_nannyml_within_002(compared: dict[str, Any], task: str) -> None:
    # Given a classifier's holdout as the reference and traffic chunks (binary: one unchanged, one shifted)
    ours = compared["cases"][task]["sluice"]
    theirs = compared["oracle"][task]
    # When both estimate each chunk's metrics without labels
    # Then every estimate, its sampling error and its band agree within 0.02
    for estimate, expected in zip(ours, theirs, strict=True):
        for metric in CLASSIFIER_METRICS:
            assert estimate.values[metric] == pytest.approx(expected[metric]["value"], abs=CBPE_TOLERANCE), (
                metric
            )
            assert estimate.sampling_error[metric] == pytest.approx(
                expected[metric]["sampling_error"], abs=CBPE_TOLERANCE
            )
            low, high = estimate.band[metric]
            assert low == pytest.approx(expected[metric]["band"][0], abs=CBPE_TOLERANCE), metric
            assert high == pytest.approx(expected[metric]["band"][1], abs=CBPE_TOLERANCE), metric


def test_the_binary_estimate_moves_when_traffic_shifts(compared: dict[str, Any]) -> None:
    # Given the unchanged chunk and the shifted one
    unchanged, shifted = compared["cases"]["binary"]["sluice"]
    # Then the estimates differ by more than their bands' width would allow by chance
    assert abs(shifted.values["f1"] - unchanged.values["f1"]) > 3 * unchanged.sampling_error["f1"]


def test_dle_follows_nannyml_and_the_realized_errors(compared: dict[str, Any]) -> None:
    # Given a regressor whose errors grow with a feature, and traffic shifted towards large errors
    dle = compared["dle"]
    # When Sluice's DLE (HistGradientBoosting) and NannyML's (LightGBM) estimate each chunk
    for estimate, expected, realized in zip(
        dle["sluice"], compared["oracle"]["dle"], dle["realized"], strict=True
    ):
        for metric in ("mae", "rmse"):
            # Then both agree within 10% of the realized value, the sampling errors exactly,
            tolerance = DLE_RELATIVE_TOLERANCE * realized[metric]
            assert estimate.values[metric] == pytest.approx(expected[metric]["value"], abs=tolerance), metric
            assert estimate.sampling_error[metric] == pytest.approx(
                expected[metric]["sampling_error"], rel=1e-6
            )
            # and the realized value lies within Sluice's estimate ± 10%
            assert estimate.values[metric] == pytest.approx(realized[metric], rel=DLE_RELATIVE_TOLERANCE), (
                metric
            )
    unchanged, shifted = dle["sluice"]
    assert shifted.values["mae"] > 1.5 * unchanged.values["mae"]
