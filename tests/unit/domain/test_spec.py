"""Model specs: the shipped examples load, and every broken spec is refused naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sluice.domain.spec.model_spec import Metric, Task, load_spec, parse_spec
from sluice.errors import SpecError
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


def _with_params(params: str, algorithm: str = "random_forest") -> str:
    return VALID.replace(
        "algorithm: {name: random_forest, params: {n_estimators: 20, max_depth: 8}}",
        f"algorithm: {{name: {algorithm}, params: {params}}}",
    )


def test_misspelled_estimator_parameter_is_refused_with_a_suggestion() -> None:
    # Given a spec whose forest parameter is misspelled / When it is parsed
    with pytest.raises(SpecError) as caught:
        parse_spec(_with_params("{n_estimators: 20, min_sample_leaf: 3}"))
    # Then the key is named, with the estimator's own spelling suggested
    assert "algorithm.params.min_sample_leaf: not a parameter of RandomForestClassifier" in str(caught.value)
    assert "did you mean min_samples_leaf?" in str(caught.value)


@pytest.mark.parametrize(
    ("params", "key", "expected"),
    [
        ("{n_estimators: -1}", "n_estimators", "an integer >= 1"),
        ("{n_estimators: 2.5}", "n_estimators", "an integer >= 1"),
        ("{max_features: 1.5}", "max_features", "a float in (0.0, 1.0]"),
        ("{criterion: ginni}", "criterion", "one of ['entropy', 'gini', 'log_loss']"),
        ("{bootstrap: 'yes'}", "bootstrap", "true or false"),
        ("{min_weight_fraction_leaf: 0.7}", "min_weight_fraction_leaf", "a number in [0.0, 0.5]"),
    ],
)
def test_out_of_range_estimator_parameter_value_is_refused_naming_the_key(
    params: str, key: str, expected: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_with_params(params))
    message = str(caught.value)
    assert f"algorithm.params.{key}: " in message
    assert expected in message


def test_valid_parameters_of_every_rule_kind_are_accepted() -> None:
    # Integers, floats in range, option strings, null, mappings and booleans
    spec = parse_spec(
        _with_params(
            "{n_estimators: 5, max_features: 0.5, criterion: entropy, max_depth: null, "
            "class_weight: {0: 1, 1: 3}, bootstrap: false, random_state: 7}"
        )
    )
    assert spec.estimator.params["class_weight"] == {0: 1, 1: 3}
    # and the rules follow the task: a regressor's criterion differs from a classifier's
    with pytest.raises(SpecError, match=r"algorithm\.params\.criterion"):
        parse_spec(
            _with_params("{criterion: gini}")
            .replace("task: binary", "task: regression")
            .replace("metric: roc_auc", "metric: rmse")
            .replace("gates: {min_metric: 0.7, max_regression: 0.005, max_fairness_gap: 0.1}", "")
        )


def test_parameter_data_file_matches_the_installed_scikit_learn() -> None:
    # Given the checked-in algorithm_params.json / When it is generated again from scikit-learn
    from sluice.tools.algorithm_params import DATA_FILE, generate, render

    # Then nothing changed (after a scikit-learn upgrade: python -m sluice.tools.algorithm_params --write)
    assert DATA_FILE.read_text(encoding="utf-8") == render(generate())


def test_spec_parameter_check_does_not_import_scikit_learn() -> None:
    # Given a fresh interpreter (IngestFunction ships without scikit-learn)
    code = (
        "import sys\n"
        "from sluice.errors import SpecError\n"
        "from sluice.domain.spec.model_spec import parse_spec\n"
        f"text = {_with_params('{min_sample_leaf: 3}')!r}\n"
        "try:\n    parse_spec(text)\nexcept SpecError as exc:\n    print(exc)\n"
        "print('sklearn' in sys.modules)\n"
    )
    # When a spec with a misspelled parameter is parsed
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Then it is refused, and scikit-learn was never imported
    assert "did you mean min_samples_leaf?" in completed.stdout
    assert completed.stdout.strip().endswith("False")


def test_sluice_validate_names_a_misspelled_parameter(sluice, tmp_path: Path, credit_csv: Path) -> None:
    # Given the credit-risk example spec with one parameter misspelled
    text = (EXAMPLES / "credit-risk" / "spec.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "spec.yaml"
    bad.write_text(text.replace("min_samples_leaf", "min_sample_leaf"), encoding="utf-8")
    # When it is validated with the CLI
    result = sluice("validate", "--spec", bad, "--data", credit_csv)
    # Then it is refused as a bad spec, naming the key and the right spelling
    assert result.exit_code == 2
    assert "algorithm.params.min_sample_leaf" in result.stderr
    assert "did you mean min_samples_leaf?" in result.stderr
