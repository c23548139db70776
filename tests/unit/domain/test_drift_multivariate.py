"""The multivariate drift check (a domain classifier) through the drift engine: it sees a changed
relationship between columns whose distributions did not move, names those columns, stays quiet on data
drawn alike, gives the same answer in any process, and leaves the share rule to decide when the
separation is all in columns that drifted on their own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sluice.domain.monitoring.drift import CategoricalColumn, Column, NumericalColumn, check_drift_columns
from sluice.domain.monitoring.drift.explain import multivariate_sentence
from sluice.domain.monitoring.drift.multivariate import MultivariateSettings, domain_classifier_drift
from sluice.domain.monitoring.drift.report import DriftReport
from sluice.domain.spec.model_spec import parse_spec

SETTINGS = MultivariateSettings()
ROOT = Path(__file__).resolve().parents[3]


def world(n: int, seed: int, *, flipped: bool = False, shifted: float = 0.0) -> dict[str, Column]:
    """income and spend correlated (+0.8, or −0.8 when `flipped`: each keeps its N(0, 1) distribution),
    five independent columns (the first moved by `shifted`) and a segment whose labels appear in an
    order that depends on the seed (so the two sides' category codes differ)."""
    rng = np.random.default_rng(seed)
    income = rng.normal(size=n)
    spend = (-0.8 if flipped else 0.8) * income + 0.6 * rng.normal(size=n)
    columns: dict[str, Column] = {"income": NumericalColumn(income), "spend": NumericalColumn(spend)}
    for i in range(5):
        columns[f"noise_{i}"] = NumericalColumn(rng.normal(shifted if i == 0 else 0.0, 1.0, size=n))
    labels = ["retail", "sme", "corporate"]
    rng.shuffle(labels)
    columns["segment"] = CategoricalColumn.from_labels(labels[int(k)] for k in rng.integers(0, 3, size=n))
    return columns


def check(reference: dict[str, Column], current: dict[str, Column]) -> DriftReport:
    return check_drift_columns(reference, current, multivariate=SETTINGS)


@pytest.fixture(scope="module")
def flipped() -> DriftReport:
    return check(world(3000, seed=1), world(2000, seed=2, flipped=True))


def test_a_flipped_relationship_with_unmoved_columns_is_dataset_drift_naming_the_two_columns(
    flipped: DriftReport,
) -> None:
    # Given current data where income and spend now move against each other, each column distributed
    # as before
    # When the drift check runs (fixture) / Then no column drifted on its own
    assert flipped.n_drifted == 0
    # But the classifier tells the two apart, well above the threshold, through income and spend only
    together = flipped.multivariate
    assert together is not None and together.drift and together.changed_relationship
    assert together.roc_auc > 0.75 and together.threshold == 0.55
    assert set(together.columns) == {"income", "spend"}
    assert all(together.importance[name] > 0.1 for name in together.columns)
    assert (together.rows.reference, together.rows.current) == (1500, 1500)  # the sample, not the data
    # And that is dataset drift, said in words
    assert flipped.dataset_drift is True
    sentence = multivariate_sentence(flipped)
    assert sentence is not None and "how the columns relate to each other" in sentence
    assert "income and spend" in sentence or "spend and income" in sentence


def test_data_drawn_alike_is_not_drift_and_the_auc_is_near_one_half() -> None:
    # Given two samples drawn alike (their category codes in different orders)
    report = check(world(3000, seed=3), world(2000, seed=4))
    # Then the classifier cannot tell them apart: no drift, no column named
    together = report.multivariate
    assert together is not None and not together.drift
    assert abs(together.roc_auc - 0.5) < 0.05
    assert together.columns == [] and report.dataset_drift is False


def test_separation_through_a_column_that_drifted_on_its_own_is_left_to_the_share_rule() -> None:
    # Given one column of eight moved (one share of 8 is under the default share of 0.5)
    report = check(world(3000, seed=5), world(2000, seed=6, shifted=1.0))
    # Then the classifier tells them apart through that column, which drifted on its own: no new
    # relationship, so the share rule decides (no dataset drift), as Evidently's would
    together = report.multivariate
    assert together is not None and together.drift and together.columns == ["noise_0"]
    assert together.changed_relationship is False
    assert report.n_drifted == 1 and report.dataset_drift is False


def test_the_threshold_decides() -> None:
    # Given the flipped relationship judged with a threshold above its ROC AUC
    strict = MultivariateSettings(threshold=0.99)
    together = domain_classifier_drift(world(3000, seed=1), world(2000, seed=2, flipped=True), strict)
    # Then it is reported, not drift
    assert together is not None and together.threshold == 0.99 and not together.drift


def test_too_few_rows_give_no_multivariate_verdict() -> None:
    assert domain_classifier_drift(world(20, seed=1), world(2000, seed=2, flipped=True)) is None


SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.unit.domain.test_drift_multivariate import check, world
print(check(world(3000, seed=1), world(2000, seed=2, flipped=True)).multivariate.model_dump_json())
"""


def test_the_same_inputs_give_the_same_answer_in_two_processes(flipped: DriftReport) -> None:
    # When two fresh processes (their own hash seeds) check the same data, side by side
    runs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(ROOT)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    answers = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    # Then they answer exactly what this process answered
    assert flipped.multivariate is not None
    assert json.loads(answers[0]) == json.loads(answers[1]) == flipped.multivariate.model_dump(mode="json")


def test_the_threshold_is_spec_able_and_hashed_only_when_set() -> None:
    text = "name: m\ntask: binary\ntarget: y\nfeatures: [{name: x, type: numeric}]\nmetric: roc_auc\n"
    text += "algorithm: {name: logistic_regression}\n"
    plain = parse_spec(text)
    assert plain.drift.multivariate_threshold is None
    assert parse_spec(text + "drift: {share_threshold: 0.5}\n").sha256 == plain.sha256
    strict = parse_spec(text + "drift: {multivariate_threshold: 0.7}\n")
    assert strict.drift.multivariate_threshold == 0.7 and strict.sha256 != plain.sha256
