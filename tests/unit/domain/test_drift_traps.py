"""Drift traps the engine handles on purpose, one test each, and its behaviour on raw tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.drift import (
    CategoricalColumn,
    ColumnOverride,
    NumericalColumn,
    check_drift,
    check_drift_columns,
)
from sluice.errors import DataUnreadable


def table(columns: dict[str, list[str]], source: str = "t.csv") -> RawTable:
    return RawTable(source=source, header=list(columns), columns=columns)


def test_category_absent_from_reference_gives_chisquare_p_zero_and_is_named() -> None:
    # Given a small reference with categories a, b, c and current data that also has "d"
    reference = CategoricalColumn.from_labels(["a", "b", "c"] * 100)
    current = CategoricalColumn.from_labels(["a", "b", "c"] * 30 + ["d"])
    # When checked (chi-square: 300 reference rows, 4 categories)
    column = check_drift_columns({"x": reference}, {"x": current}).features["x"]
    # Then the p-value is 0 as in Evidently, the column drifts, and "d" is reported by name
    assert column.method == "chisquare"
    assert column.score == 0.0
    assert column.drifted
    assert column.unseen_categories == ["d"]
    assert column.note is not None and "absent from the reference" in column.note


def test_unseen_categories_are_listed_most_frequent_first_under_jensenshannon() -> None:
    # Given a large reference and current data with two new categories, "y" more frequent than "x"
    reference = CategoricalColumn.from_labels(["a", "b"] * 1000)
    current = CategoricalColumn.from_labels(["a", "b"] * 100 + ["x"] + ["y"] * 3)
    # When checked
    column = check_drift_columns({"c": reference}, {"c": current}).features["c"]
    # Then both are named, most frequent first
    assert column.method == "jensenshannon"
    assert column.unseen_categories == ["y", "x"]


def test_constant_column_gives_null_chisquare_score_and_no_drift() -> None:
    # Given a column holding one value on both sides, compared by chi-square
    constant = CategoricalColumn.from_labels(["same"] * 50)
    # When checked
    report = check_drift_columns({"k": constant}, {"k": constant}, {"k": ColumnOverride(method="chisquare")})
    column = report.features["k"]
    # Then the score is null (not NaN) in the JSON and the column is not drifted
    assert column.score is None
    assert not column.drifted
    assert json.loads(report.model_dump_json())["features"]["k"]["score"] is None
    assert column.note is not None and "no degrees of freedom" in column.note


def test_constant_reference_under_wasserstein_uses_evidently_floor_and_says_so() -> None:
    # Given a constant reference (std 0) of 2,000 rows and current values spread over 3.0000…3.0009
    reference = NumericalColumn(np.full(2000, 3.0))
    current = NumericalColumn(np.asarray(3.0 + (np.arange(2000) % 10) * 0.0001, dtype=np.float64))
    # When checked
    column = check_drift_columns({"c": reference}, {"c": current}).features["c"]
    # Then the mean move 0.00045 is divided by Evidently's floor 0.001 (score 0.45), and a note says why
    assert column.method == "wasserstein"
    assert column.score == pytest.approx(0.45, rel=1e-6)
    assert column.drifted
    assert column.note is not None and "floor 0.001" in column.note


def test_ks_on_a_handful_of_rows_cannot_reject_and_the_report_says_so() -> None:
    # Given 4 reference and 4 current values that do not overlap at all
    reference = NumericalColumn(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    current = NumericalColumn(np.array([101.0, 102.0, 103.0, 104.0, 105.0, 106.0]))
    small_ref = NumericalColumn(reference.values[:3])
    small_cur = NumericalColumn(current.values[:3])
    # When checked with KS
    column = check_drift_columns(
        {"x": small_ref}, {"x": small_cur}, {"x": ColumnOverride(method="ks")}
    ).features["x"]
    # Then KS's smallest possible p-value (0.1) is above 0.05: no drift, with a note saying it cannot reject
    assert column.method == "ks"
    assert column.score == pytest.approx(0.1)
    assert not column.drifted
    assert column.note is not None and "cannot reject" in column.note
    # And with 6 rows on each side the same separation is flagged, without the note
    larger = check_drift_columns({"x": reference}, {"x": current}).features["x"]
    assert larger.method == "ks"
    assert larger.drifted
    assert larger.note is None


def test_column_empty_after_dropping_missing_values_is_not_computed() -> None:
    # Given a raw current table whose "age" cells are all missing tokens
    reference = table({"age": ["30", "40", "50"] * 10, "city": ["a", "b", "c"] * 10})
    current = table({"age": ["", "NA", "null"] * 5, "city": ["a", "b", "c"] * 5})
    # When checked
    report = check_drift(reference, current)
    age = report.features["age"]
    # Then "age" is not computed (no exception), has a null score, and is left out of the share
    assert age.status == "not_computed"
    assert age.score is None
    assert not age.drifted
    assert age.missing_current == 1.0
    assert report.n_columns == 1
    assert report.features["city"].status == "computed"


def test_many_columns_some_alarms_by_chance_but_none_after_bonferroni() -> None:
    # Given 40 columns where reference and current come from the same distribution (KS, 300 rows each)
    rng = np.random.default_rng(11)
    reference = {f"x{i}": NumericalColumn(rng.normal(size=300)) for i in range(40)}
    current = {f"x{i}": NumericalColumn(rng.normal(size=300)) for i in range(40)}
    # When checked
    report = check_drift_columns(reference, current)
    # Then a few columns alarm at 0.05 by chance, but the dataset rule says no drift and the
    # Bonferroni-corrected count (threshold 0.05/40) is zero
    assert report.n_drifted >= 1
    assert not report.dataset_drift
    assert report.n_p_value_tests == 40
    assert report.n_drifted_bonferroni == 0


def test_bonferroni_count_keeps_a_real_shift() -> None:
    # Given 20 same-distribution columns and one strongly shifted, all KS
    rng = np.random.default_rng(12)
    reference = {f"x{i}": NumericalColumn(rng.normal(size=300)) for i in range(21)}
    current = {f"x{i}": NumericalColumn(rng.normal(2.0 if i == 0 else 0.0, size=300)) for i in range(21)}
    # When checked
    report = check_drift_columns(reference, current)
    # Then the shifted column survives the correction
    assert report.features["x0"].drifted
    assert report.n_drifted_bonferroni >= 1


def test_minimum_rows_guard_reports_insufficient_data_instead_of_a_verdict() -> None:
    # Given 40 current rows and a minimum of 100
    reference = {"x": NumericalColumn(np.arange(1000.0))}
    current = {"x": NumericalColumn(np.arange(40.0) + 5000)}
    # When checked
    report = check_drift_columns(reference, current, min_rows=100)
    # Then there is no verdict: status says insufficient data, no columns, no drift
    assert report.status == "insufficient_data"
    assert report.features == {}
    assert not report.dataset_drift
    assert report.n_current == 40
    assert "fewer than the minimum of 100" in (report.message or "")
    # And at the minimum exactly, a verdict is given
    assert check_drift_columns(reference, current, min_rows=40).status == "ok"


def test_missing_and_infinite_values_are_left_out_and_their_share_reported() -> None:
    # Given numbers with missing tokens and infinities on both sides
    reference = table({"x": ["1", "2", "", "inf", "3", "4"] * 50})
    current = table({"x": ["1", "NaN", "-inf", "2", "N/A", "3", "4", "5"] * 30})
    # When checked
    column = check_drift(reference, current).features["x"]
    # Then the shares of missing cells count infinities too, and the test ran on the rest
    assert column.type == "numerical"
    assert column.missing_reference == pytest.approx(2 / 6)
    assert column.missing_current == pytest.approx(3 / 8)
    assert column.status == "computed"
    assert column.method == "chisquare"  # 5 distinct values over both sides, small reference


def test_column_types_are_inferred_and_can_be_forced() -> None:
    # Given a numeric-valued column, a text column, and numeric codes meant as categories
    reference = table(
        {"n": ["1.5", "2", "3"] * 400, "t": ["a", "b", "c"] * 400, "code": ["10", "20", "30"] * 400}
    )
    current = table({"n": ["1.5", "2", "x"] * 10, "t": ["a", "b", "c"] * 10, "code": ["10", "20", "30"] * 10})
    # When checked with "code" declared categorical
    report = check_drift(reference, current, column_types={"code": "categorical"})
    # Then "n" is categorical because one current cell is not a number, "t" categorical, "code" forced
    assert report.features["n"].type == "categorical"
    assert report.features["t"].type == "categorical"
    assert report.features["code"].type == "categorical"
    # And the spec's "numeric" makes "n" numerical, its non-number cell counted as missing
    typed = check_drift(reference, current, column_types={"n": "numeric"})
    assert typed.features["n"].type == "numerical"
    assert typed.features["n"].missing_current == pytest.approx(1 / 3)


def test_only_columns_in_both_tables_are_compared_and_named_absent_columns_fail() -> None:
    # Given a reference with a target column the current data (traffic) does not have
    reference = table({"x": ["1", "2"] * 10, "target": ["0", "1"] * 10})
    current = table({"x": ["1", "2"] * 10}, source="capture.jsonl")
    # When checked without naming columns, Then only "x" is compared
    assert list(check_drift(reference, current).features) == ["x"]
    # And naming "target" explicitly is an unreadable-input error naming the file and column
    with pytest.raises(DataUnreadable, match=r"capture.jsonl: no column named 'target'"):
        check_drift(reference, current, columns=["x", "target"])
