"""Model specs: the shipped examples load, and every broken spec is refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.errors import SpecError
from sluice.spec import Metric, Task, load_spec, parse_spec
from tests.conftest import EXAMPLES

VALID = """
name: credit-risk
task: binary
target: default
features:
  - {name: income, type: numeric, min: 0}
  - {name: age, type: numeric, min: 18, max: 110, nullable: true}
  - {name: segment, type: categorical, categories: [retail, sme, corporate]}
sensitive: gender
algorithm: {name: random_forest, params: {n_estimators: 20, max_depth: 8}}
metric: roc_auc
gates: {min_metric: 0.7, max_regression: 0.005, max_fairness_gap: 0.1}
"""


@pytest.mark.parametrize("folder", sorted(p.name for p in EXAMPLES.iterdir() if (p / "spec.yaml").exists()))
def test_shipped_example_specs_load(folder: str) -> None:
    # Given a spec shipped in examples/ / When it is loaded
    spec = load_spec(EXAMPLES / folder / "spec.yaml")
    # Then it is valid and named after its folder
    assert spec.name == folder
    assert spec.features


def test_valid_spec_exposes_typed_fields_and_a_stable_hash() -> None:
    spec = parse_spec(VALID)
    assert spec.task is Task.BINARY
    assert spec.metric is Metric.ROC_AUC and spec.metric.higher_is_better
    assert spec.feature_names == ["income", "age", "segment"]
    # Reformatting the YAML (flow vs block style) keeps the hash; changing meaning changes it.
    reformatted = VALID.replace(
        "gates: {min_metric: 0.7, max_regression: 0.005, max_fairness_gap: 0.1}",
        ("gates:\n  max_fairness_gap: 0.1\n  min_metric: 0.7\n  max_regression: 0.005"),
    )
    assert parse_spec(reformatted).sha256 == spec.sha256
    assert parse_spec(VALID.replace("0.7", "0.75")).sha256 != spec.sha256


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("task: binary", "task: binry"), "task:"),
        (("name: credit-risk", "name: Credit Risk"), "name:"),
        (("min: 18", "min: old"), "features[1] (age).min"),
        (("min: 18, max: 110", "min: 110, max: 18"), "features[1] (age)"),
        (("type: categorical", "type: cat"), "features[2] (segment)"),
        (("categories: [retail, sme, corporate]", "categories: []"), "features[2] (segment).categories"),
        (("metric: roc_auc", "metric: rmse"), "metric:"),
        (("gates: {", "gates: {speed: 1, "), "gates.speed: unknown key"),
        (("gates: {min_metric: 0.7", "gates: {max_metric: 0.7"), "gates.max_metric"),
        (("name: random_forest", "name: ridge"), "algorithm.name"),
        (("target: default", "target: income"), "target:"),
        (("sensitive: gender", "sensitive: age"), "sensitive:"),
        (("task: binary", "task: regression"), "metric:"),
    ],
)
def test_broken_spec_is_refused_naming_the_key(change: tuple[str, str], named: str) -> None:
    # Given a valid spec with one thing broken
    broken = VALID.replace(*change)
    assert broken != VALID
    # When it is parsed / Then the error names the key
    with pytest.raises(SpecError) as caught:
        parse_spec(broken, "spec.yaml")
    assert named in str(caught.value)


def test_spec_that_is_not_yaml_or_not_a_mapping_is_refused() -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("name: [")
    with pytest.raises(SpecError, match="YAML mapping"):
        parse_spec("- just\n- a list\n")


def test_unknown_algorithm_params_are_named(tmp_path: Path, sluice, credit_csv: Path) -> None:
    # Given a spec whose algorithm params include one the estimator does not take
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        (EXAMPLES / "credit-risk" / "spec.yaml").read_text().replace("min_samples_leaf", "min_leaf")
    )
    # When training / Then the command stops with exit 2 naming the param
    result = sluice("train", "--spec", spec, "--data", credit_csv, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "algorithm.params" in result.stderr and "min_leaf" in result.stderr
