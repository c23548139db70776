"""Explanations of single predictions (domain/explain): Shapley values of the exported ONNX model against
the version's background, checked against the `shap` package's exact explainer (in the oracles' venv),
their additivity, the permutation estimate's stated error bound, the background's determinism across
processes and the sentences."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from sluice.domain.candidate import train_candidate
from sluice.domain.data.features import Feed, feed_from_table
from sluice.domain.data.table import RawTable
from sluice.domain.explain import shapley
from sluice.domain.explain.background import SAMPLE_ROWS, Background, background_sample, read_background
from sluice.domain.explain.sentences import outcome_text, sentences
from sluice.domain.explain.shapley import explain_instance
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.spec.model_spec import ModelSpec
from sluice.tools.example_data import bundled, credit_risk
from tests.conftest import ROOT, spec_path
from tests.oracles import run_oracle

ROWS = 4  # instances explained per model in the oracle comparison


def _small(name: str) -> ModelSpec:
    from sluice.domain.spec.model_spec import load_spec

    spec = load_spec(spec_path(name))
    params = {"n_estimators": 10} if "n_estimators" in spec.estimator.params else spec.estimator.params
    return spec.model_copy(update={"algorithm": spec.estimator.model_copy(update={"params": params})})


class Trained:
    def __init__(self, spec: ModelSpec, table: RawTable) -> None:
        candidate = train_candidate(spec, table, dataset_sha256="0" * 64, version="1")
        assert candidate.onnx_model is not None
        self.spec, self.table, self.bytes = spec, table, candidate.onnx_model
        self.model = OnnxModel(candidate.onnx_model)
        self.background_bytes = background_sample(spec, table)
        self.background = read_background(self.background_bytes, self.model.inputs)
        self.feed = feed_from_table(self.model.inputs, table)

    def row(self, i: int) -> Feed:
        return {name: values[i : i + 1] for name, values in self.feed.items()}


@pytest.fixture(scope="module")
def credit() -> Trained:
    return Trained(_small("credit-risk"), credit_risk(600, seed=3))


@pytest.fixture(scope="module")
def diabetes() -> Trained:
    return Trained(_small("diabetes"), bundled("diabetes"))


def _oracle_case(trained: Trained, background: Background) -> dict[str, Any]:
    """What shap needs: the model, the background rows each repeated as many times as the training rows
    its cluster holds (its weight; shap's Independent masker weighs rows equally), the instances, and for
    each the probability column Sluice explains."""
    counts = np.rint(background.weights * min(trained.table.n_rows, SAMPLE_ROWS)).astype(int)
    assert np.allclose(counts / counts.sum(), background.weights, rtol=0, atol=1e-12)
    repeated = np.repeat(np.arange(background.rows), counts)

    def rows(feed: Feed, picked: Any) -> list[list[Any]]:
        return [
            [feed[n][i, 0].item() if feed[n].dtype.kind == "f" else feed[n][i, 0] for n in feed]
            for i in picked
        ]

    columns = [shapley.explained_output(trained.model, trained.row(i))[1] for i in range(ROWS)]
    return {
        "model": base64.b64encode(trained.bytes).decode(),
        "inputs": trained.model.inputs,
        "background": rows(background.feed, repeated),
        "instances": rows(trained.feed, range(ROWS)),
        "columns": columns,
    }


SHAP_EXACT = """
import base64
import numpy as np, onnxruntime as ort, shap

def explain(case):
    session = ort.InferenceSession(base64.b64decode(case["model"]), providers=["CPUExecutionProvider"])
    names = list(case["inputs"])
    strings = [case["inputs"][n] == "tensor(string)" for n in names]
    # shap masks numbers: categories become codes here, and strings again for the model
    levels = [sorted({str(r[j]) for r in case["background"] + case["instances"]}) if s else None
              for j, s in enumerate(strings)]
    def encode(rows):
        return np.array([[levels[j].index(str(v)) if strings[j] else (np.nan if v is None else v)
                          for j, v in enumerate(r)] for r in rows], dtype=np.float64)
    def model(column):
        def f(x):
            feed = {}
            for j, n in enumerate(names):
                if strings[j]:
                    feed[n] = np.array([levels[j][int(v)] for v in x[:, j]], dtype=object).reshape(-1, 1)
                else:
                    feed[n] = x[:, j].astype(np.float32).reshape(-1, 1)
            outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
            if column is None:
                return np.asarray(outputs["variable"], dtype=np.float64).ravel()
            return np.asarray(outputs["probabilities"], dtype=np.float64)[:, column]
        return f
    background = encode(case["background"])
    masker = shap.maskers.Independent(background, max_samples=len(background))
    answers = []
    for row, column in zip(encode(case["instances"]), case["columns"]):
        explained = shap.explainers.Exact(model(column), masker)(row.reshape(1, -1))
        answers.append({"values": explained.values[0].tolist(), "base": float(explained.base_values[0])})
    return answers

result = {name: explain(case) for name, case in inputs["cases"].items()}
"""


@pytest.fixture(scope="module")
def shap_answers(credit: Trained, diabetes: Trained) -> dict[str, Any]:
    """shap's exact explainer on every case, in one oracle call (~8 s each)."""
    cases = {
        "credit": _oracle_case(credit, credit.background),
        "diabetes": _oracle_case(diabetes, diabetes.background),
    }
    answers: dict[str, Any] = run_oracle(SHAP_EXACT, cases=cases)
    return answers


@pytest.mark.parametrize("case", ["credit", "diabetes"])
def test_exact_shapley_values_agree_with_shap_within_1e_4(
    case: str, credit: Trained, diabetes: Trained, shap_answers: dict[str, Any]
) -> None:
    # Given a classifier (its predicted class's probability) or a regressor (its value), and its background
    trained = diabetes if case == "diabetes" else credit
    for i, expected in enumerate(shap_answers[case]):
        # When Sluice explains the instance
        explanation = explain_instance(trained.model, trained.background, trained.row(i))
        # Then each contribution and the base value are shap's exact ones
        assert explanation.method == "exact" and explanation.error_bound is None
        assert np.allclose(list(explanation.contributions.values()), expected["values"], atol=1e-4, rtol=0)
        assert abs(explanation.base_value - expected["base"]) < 1e-4


def test_contributions_add_up_to_the_models_output(credit: Trained, diabetes: Trained) -> None:
    for trained in (credit, diabetes):
        for i in range(20):
            explanation = explain_instance(trained.model, trained.background, trained.row(i))
            outputs = trained.model.run(trained.row(i))
            if outputs.values is not None:
                output = float(outputs.values[0])
            else:
                assert outputs.probabilities is not None and trained.model.classes is not None
                column = [str(c) for c in trained.model.classes].index(str(explanation.explained_class))
                output = float(outputs.probabilities[0, column])
                assert str(explanation.explained_class) == str(outputs.labels[0])  # type: ignore[index]
            assert abs(explanation.base_value + sum(explanation.contributions.values()) - output) < 1e-6
            assert set(explanation.contributions) == set(trained.model.inputs)


def test_the_permutation_estimate_is_additive_and_within_its_stated_bound(
    credit: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the exact values, then the same instances with the exact method's limit below 7 features
    exact = [explain_instance(credit.model, credit.background, credit.row(i)) for i in range(10)]
    monkeypatch.setattr(shapley, "EXACT_MAX_FEATURES", 3)
    for i, truth in enumerate(exact):
        estimate = explain_instance(credit.model, credit.background, credit.row(i))
        # Then it says it is an estimate, stays additive, and its bound covers its distance to the truth
        # (a 95% bound on each of 7 contributions: allow one of the 70 to be outside it, not more)
        assert estimate.method == "permutation" and estimate.error_bound is not None
        assert abs(estimate.base_value + sum(estimate.contributions.values()) - truth.output) < 1e-6
        misses = sum(
            abs(estimate.contributions[n] - truth.contributions[n]) > estimate.error_bound
            for n in truth.contributions
        )
        assert misses <= 1, (i, estimate.error_bound, estimate.contributions, truth.contributions)
        # And it is seeded: the same instance gets the same estimate
        assert explain_instance(credit.model, credit.background, credit.row(i)) == estimate


def test_the_background_is_the_same_rows_in_another_process(credit: Trained) -> None:
    # Given the background computed here; When another Python process computes it from the same table
    code = textwrap.dedent(
        """
        import hashlib
        from pathlib import Path
        from sluice.domain.explain.background import background_sample
        from sluice.domain.spec.model_spec import load_spec
        from sluice.tools.example_data import credit_risk
        spec = load_spec(Path("examples/credit-risk/spec.yaml"))
        print(hashlib.sha256(background_sample(spec, credit_risk(600, seed=3))).hexdigest())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    # Then the bytes are identical, and the weights of its rows sum to 1
    assert done.stdout.strip() == hashlib.sha256(credit.background_bytes).hexdigest()
    assert abs(credit.background.weights.sum() - 1) < 1e-12 and credit.background.target == "default"


def test_the_largest_contributions_read_as_sentences() -> None:
    outcome = outcome_text("default", 1, binary=True)
    said = sentences(
        {"income": 0.12, "age": -0.031, "segment": 0.0004, "region": 0.2},
        {"income": 18000, "age": 41, "segment": "sme", "region": None},
        outcome,
        classifier=True,
    )
    assert said == [
        "region missing raised the probability of default by 20 points",
        "income 18,000 raised the probability of default by 12 points",
        "age 41 lowered the probability of default by 3.1 points",
    ]
    assert outcome_text("default", 0, binary=True) == "the probability of no default"
    assert outcome_text("species", "setosa", binary=False) == "the probability of species setosa"
    regression = sentences({"bmi": -12.345}, {"bmi": 0.0617}, outcome_text("target", None, False), False)
    assert regression == ["bmi 0.0617 lowered the predicted target by 12.35"]
