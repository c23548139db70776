"""`infer_spec`: a spec inferred from a table validates that table, infers the task from the target, and
leaves out the columns a model cannot use, each with its reason; its YAML reads back as the same spec."""

from __future__ import annotations

import random

import pytest
import yaml

from sluice.domain.data.infer_spec import (
    MAX_CATEGORIES,
    InferredSpec,
    LeftOutReason,
    infer_spec,
    slugify_name,
)
from sluice.domain.data.table import RawTable, is_missing
from sluice.domain.data.validation import validate_table
from sluice.domain.spec.model_spec import Metric, Task, parse_spec
from sluice.errors import SpecError
from sluice.tools.example_data import example_table

ROWS = 120


def table(columns: dict[str, list[str]], source: str = "data.csv") -> RawTable:
    return RawTable(source=source, header=list(columns), columns=columns)


def without(data: RawTable, columns: list[str]) -> RawTable:
    """The table without some columns, and without rows whose target cell is missing."""
    kept = {name: cells for name, cells in data.columns.items() if name not in columns}
    return table(kept, data.source)


def messy(rows: int = ROWS) -> RawTable:
    """A file as people export them: an id, a constant, free text, an empty column, a text column
    with too many values, two usable features and a target with a missing cell."""
    rng = random.Random(7)
    churn = [str(rng.randint(0, 1)) for _ in range(rows)]
    churn[3] = ""
    return table(
        {
            "customer_id": [str(5000 + i) for i in range(rows)],
            "email": [f"user{i}@example.com" for i in range(rows)],
            "country": ["NL"] * rows,
            "notes": [f"called about invoice {i}, no answer yet" for i in range(rows)],
            "fax": [""] * rows,
            "city": [f"city-{rng.randint(0, 90)}" for _ in range(rows)],
            "plan": [rng.choice(["basic", "pro", "yes", "1"]) for _ in range(rows)],
            "spend": [f"{rng.uniform(-5, 100):.2f}" if i % 10 else "" for i in range(rows)],
            "churn": churn,
        },
        "messy.csv",
    )


def assert_yaml_reads_back(inferred: InferredSpec) -> None:
    text = inferred.yaml_text()
    assert yaml.safe_load(text) == inferred.document
    assert parse_spec(text).sha256 == inferred.spec.sha256


@pytest.mark.parametrize(
    ("dataset", "target", "task", "metric"),
    [
        ("credit-risk", "default", Task.BINARY, Metric.ROC_AUC),
        ("breast-cancer", "target", Task.BINARY, Metric.ROC_AUC),
        ("wine", "target", Task.MULTICLASS, Metric.F1),
        ("diabetes", "target", Task.REGRESSION, Metric.RMSE),
    ],
)
def test_an_example_dataset_gets_a_spec_that_validates_it(
    dataset: str, target: str, task: Task, metric: Metric
) -> None:
    # Given an example dataset
    data = example_table(dataset, rows=800)
    # When a spec is inferred for its target
    inferred = infer_spec(data, target=target, name=dataset)
    # Then the task and metric fit the target, every other column is a feature, and the data passes
    spec = inferred.spec
    assert (spec.task, spec.metric, spec.candidates) == (task, metric, "auto")
    assert set(spec.feature_names) == set(data.header) - {target}
    assert inferred.left_out == {} and inferred.warnings == []
    report = validate_table(spec, data)
    assert report.passed, report.to_text()
    assert_yaml_reads_back(inferred)


def test_credit_risk_features_get_types_ranges_nullability_and_categories() -> None:
    # Given the credit-risk data, whose age is sometimes missing and region is text
    data = example_table("credit-risk", rows=800)
    # When a spec is inferred with gender as the sensitive column
    spec = infer_spec(data, target="default", name="credit-risk", sensitive="gender").spec
    # Then numbers are numeric with a floor of 0, gaps make a feature nullable, text is categorical
    features = {f.name: f.model_dump(exclude_none=True) for f in spec.features}
    assert features["income"] == {"name": "income", "type": "numeric", "min": 0, "nullable": False}
    assert features["age"]["nullable"] is True
    assert set(features["segment"]["categories"]) == {"retail", "sme", "corporate"}
    assert features["region"]["nullable"] is True
    # and the sensitive column is measured for fairness, never a feature
    assert spec.sensitive == "gender" and "gender" not in features
    assert spec.fairness is not None and spec.fairness.sensitive == "gender"


def test_messy_columns_are_left_out_each_with_its_reason() -> None:
    # Given a messy file
    data = messy()
    # When a spec is inferred
    inferred = infer_spec(data, target="churn", name="messy")
    # Then each useless column is left out for the right reason, and the rest are features
    assert {name: note.reason for name, note in inferred.left_out.items()} == {
        "customer_id": LeftOutReason.IDENTIFIER,
        "email": LeftOutReason.IDENTIFIER,
        "country": LeftOutReason.CONSTANT,
        "notes": LeftOutReason.FREE_TEXT,
        "fax": LeftOutReason.ALL_MISSING,
        "city": LeftOutReason.HIGH_CARDINALITY,
    }
    spec = inferred.spec
    assert spec.feature_names == ["plan", "spend"]
    features = {f.name: f.model_dump(exclude_none=True) for f in spec.features}
    assert features["spend"] == {"name": "spend", "type": "numeric", "nullable": True}  # negatives: no floor
    assert set(features["plan"]["categories"]) == {"basic", "pro", "yes", "1"}  # text, quoted in YAML
    assert_yaml_reads_back(inferred)
    # and the YAML says why each column was left out
    text = inferred.yaml_text()
    for name, note in inferred.left_out.items():
        assert f"#   {name} ({note.reason}): " in text


def test_a_messy_file_validates_once_what_the_warnings_name_is_removed() -> None:
    # Given a messy file and the spec inferred from it
    data = messy()
    inferred = infer_spec(data, target="churn", name="messy")
    # When the file is validated as it is
    report = validate_table(inferred.spec, data)
    # Then the left-out columns are ignored, not errors, and the only problem is the one the warning
    # names: a row without a target
    assert inferred.spec.ignored_columns == list(inferred.left_out)
    assert [(p.column, p.check) for p in report.problems] == [("churn", "target")]
    assert len(inferred.warnings) == 1 and "1 of 120 rows have no churn" in inferred.warnings[0]
    # and once the row without a target is removed, it passes
    labelled = [i for i, cell in enumerate(data.columns["churn"]) if not is_missing(cell)]
    report = validate_table(inferred.spec, data.select(labelled))
    assert report.passed, report.to_text()


@pytest.mark.parametrize(
    ("labels", "task", "hint"),
    [
        (["0", "1"], Task.BINARY, "two values, 0 and 1"),
        (["1.0", "0.0"], Task.BINARY, "two values, 0 and 1"),
        (["no", "yes"], Task.MULTICLASS, "recode them as 0 and 1"),
        (["low", "mid", "high"], Task.MULTICLASS, "text with 3 classes"),
        (["1", "2", "3", "4", "5"], Task.MULTICLASS, "5 integer classes"),
        ([str(i) for i in range(40)], Task.REGRESSION, "a number with 40 distinct values"),
        (["0.5", "1.25", "2.75"], Task.REGRESSION, "a number with 3 distinct values"),
    ],
)
def test_the_task_follows_from_the_target(labels: list[str], task: Task, hint: str) -> None:
    # Given a target cycling through some labels
    target = [labels[i % len(labels)] for i in range(ROWS)]
    data = table({"x": [str(i % 7) for i in range(ROWS)], "y": target})
    # When a spec is inferred
    inferred = infer_spec(data, target="y", name="t")
    # Then the task is inferred, the comment says why, and the data validates
    assert inferred.spec.task is task
    assert hint in inferred.comments["task"]
    assert validate_table(inferred.spec, data).passed


def test_gates_are_passed_by_anything_better_than_a_trivial_baseline() -> None:
    # Given a regression target with spread √106.25 ≈ 10.31 and a multiclass target with a 50% majority
    # of 3 classes
    values = table({"x": ["1", "2", "3", "4"] * 30, "y": ["-12.5", "-7.5", "7.5", "12.5"] * 30})
    classes = table({"x": ["1", "2", "3", "4"] * 30, "y": ["a", "a", "b", "c"] * 30})
    # When specs are inferred
    regression = infer_spec(values, target="y", name="r").spec.gates
    multiclass = infer_spec(classes, target="y", name="m").spec.gates
    # Then the bound is the baseline's, rounded to let it pass: the mean's rmse (up), the majority
    # answer's macro F1, 2·½/1½/3 (down); a retraining may be 1% of the spread worse
    assert (regression.max_metric, regression.max_regression) == (10.4, 0.104)
    assert multiclass.min_metric == 0.222 and multiclass.max_regression == 0.01


def test_a_column_with_more_categories_than_the_cap_is_left_out_one_within_it_is_listed_whole() -> None:
    # Given a text column at the cap and one just above it, in plenty of rows
    rows = 400
    data = table(
        {
            "within": [f"v{i % MAX_CATEGORIES}" for i in range(rows)],
            "above": [f"w{i % (MAX_CATEGORIES + 1)}" for i in range(rows)],
            "y": [str(i % 2) for i in range(rows)],
        }
    )
    # When a spec is inferred
    inferred = infer_spec(data, target="y", name="cap")
    # Then the column within the cap lists every value (unknown ones are rejected), the other is left out
    within = inferred.spec.categorical_features[0]
    assert within.name == "within" and len(within.categories) == MAX_CATEGORIES
    assert inferred.left_out["above"].reason is LeftOutReason.HIGH_CARDINALITY
    assert "'other'" in inferred.left_out["above"].comment
    assert_yaml_reads_back(inferred)


def test_unique_integers_that_are_quantities_stay_features() -> None:
    # Given unique integers that neither count rows nor are named like an identifier
    amounts = list(range(ROWS))
    random.Random(3).shuffle(amounts)
    data = table({"amount": [str(a) for a in amounts], "y": [str(i % 2) for i in range(ROWS)]})
    # When a spec is inferred
    inferred = infer_spec(data, target="y", name="q")
    # Then the column is a numeric feature, not an identifier
    assert inferred.spec.feature_names == ["amount"] and inferred.left_out == {}


@pytest.mark.parametrize(
    ("columns", "kwargs", "message"),
    [
        ({"x": ["1", "2"], "y": ["0", "1"]}, {"target": "label"}, "target: column 'label' is not in"),
        ({"x": ["1", "2"], "y": ["", "NA"]}, {"target": "y"}, "has no value at all"),
        ({"x": ["1", "2"], "y": ["1", "1"]}, {"target": "y"}, "has only '1'"),
        ({"x": ["1", "2"], "y": ["0", "1"]}, {"target": "y", "sensitive": "sex"}, "sensitive: column 'sex'"),
        ({"x": ["1", "2"], "y": ["0", "1"]}, {"target": "y", "sensitive": "y"}, "is the target"),
        ({"x": ["1", "1"], "y": ["0", "1"]}, {"target": "y"}, "no column besides the target"),
        ({"x": ["1", "2"], "y": ["0", "1"]}, {"target": "y", "name": "Bad Name"}, "name: 'Bad Name'"),
    ],
)
def test_what_cannot_be_inferred_raises_a_spec_error_naming_it(
    columns: dict[str, list[str]], kwargs: dict[str, str], message: str
) -> None:
    # Given a table and a request that cannot give a spec / When inferred / Then a SpecError says why
    with pytest.raises(SpecError, match=message):
        infer_spec(table(columns), **{"name": "m", **kwargs})


def test_description_and_intended_use_are_written_into_the_spec() -> None:
    data = table({"x": ["1", "2", "3"], "y": ["0", "1", "0"]})
    inferred = infer_spec(data, target="y", name="d", description="Who churns: yes", intended_use="CRM")
    assert (inferred.spec.description, inferred.spec.intended_use) == ("Who churns: yes", "CRM")
    assert_yaml_reads_back(inferred)


@pytest.mark.parametrize(
    ("stem", "name"),
    [("Credit Risk 2024", "credit-risk-2024"), ("__data__", "data"), ("???", "model"), ("a" * 80, "a" * 64)],
)
def test_a_file_stem_becomes_a_valid_model_name(stem: str, name: str) -> None:
    assert slugify_name(stem) == name
