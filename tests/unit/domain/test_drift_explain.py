"""Drift in words, on columns with known shifts: each sentence states the direction and the size of the
move with the right numbers (`sluice.domain.monitoring.drift.explain`), built from the engine's own report."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from sluice.domain.monitoring.drift import CategoricalColumn, Column, NumericalColumn, check_drift_columns
from sluice.domain.monitoring.drift.explain import (
    FILES,
    LIVE,
    column_sentence,
    column_sentences,
    headline,
    prediction_sentence,
)
from sluice.domain.monitoring.drift.next_steps import CheckOutcome, actions, next_sentence
from sluice.domain.monitoring.drift.report import CategoricalChange, ColumnDrift, DriftReport, NumericalChange
from sluice.domain.spec.algorithms import Task

INCOMES = np.linspace(38_000.0, 58_000.0, 2001)  # median 48,000


def checked(reference: Mapping[str, Column], current: Mapping[str, Column]) -> DriftReport:
    return check_drift_columns(reference, current)


def labels(shares: dict[str, float], n: int, missing: float = 0.0) -> CategoricalColumn:
    """`n` labels in the given shares (exactly, by rounding), plus a `missing` share of missing ones."""
    cells: list[str | None] = []
    for label, share in shares.items():
        cells += [label] * round(share * n)
    cells += [None] * round(missing * n)
    return CategoricalColumn.from_labels(cells)


def only(report: DriftReport, name: str) -> ColumnDrift:
    return report.features[name]


def test_a_median_that_fell_35_percent_says_fell_with_both_medians_and_the_size() -> None:
    # Given incomes with median 48,000 and current incomes 35% lower across the board
    report = checked({"income": NumericalColumn(INCOMES)}, {"income": NumericalColumn(INCOMES * 0.65)})
    # When the drifted column is put in words
    sentences = column_sentences(report)
    # Then it says the median fell, from 48,000 to 31,200, by 35%, and keeps the numbers behind it
    assert sentences["income"].startswith("income: median fell from 48,000 to 31,200 (−35%)")
    change = only(report, "income").change
    assert isinstance(change, NumericalChange)
    assert (change.median_reference, change.median_current) == (48_000.0, pytest.approx(31_200.0))
    assert change.median_change == pytest.approx(-0.35)


def test_a_median_that_rose_says_rose_with_a_plus_sign() -> None:
    # Given current incomes 20% higher
    report = checked({"income": NumericalColumn(INCOMES)}, {"income": NumericalColumn(INCOMES * 1.2)})
    # When put in words
    sentence = column_sentences(report)["income"]
    # Then the median rose from 48,000 to 57,600 (+20%), and the values past the training maximum are named
    assert sentence.startswith("income: median rose from 48,000 to 57,600 (+20%)")
    change = only(report, "income").change
    assert isinstance(change, NumericalChange)
    above = change.above_reference
    assert above == pytest.approx(np.mean(INCOMES * 1.2 > 58_000))
    assert "of values now above the highest seen in training (58,000)" in sentence


def test_values_below_the_youngest_seen_in_training_are_counted() -> None:
    # Given ages 18 to 80 in training, and current traffic where 5% of applicants are 16
    ages = np.tile(np.arange(18.0, 81.0), 40)
    current = ages.copy()
    current[: round(0.05 * current.size)] = 16.0
    report = checked({"age": NumericalColumn(ages)}, {"age": NumericalColumn(current)})
    # When the column is put in words (drifted or not)
    sentence = column_sentence("age", only(report, "age"))
    # Then it says which share now lies below the lowest age seen in training
    assert sentence is not None
    assert "5% of values now below the lowest seen in training (18)" in sentence
    # And `sluice drift` on files says "in the reference" instead
    assert "below the lowest in the reference (18)" in (
        column_sentence("age", only(report, "age"), FILES) or ""
    )


def test_the_category_whose_share_moved_most_is_named_with_both_shares() -> None:
    # Given a segment mix of 60/30/10 in training and 33/61/6 now
    reference = labels({"retail": 0.6, "sme": 0.3, "corporate": 0.1}, 1000)
    current = labels({"retail": 0.33, "sme": 0.61, "corporate": 0.06}, 1000)
    report = checked({"segment": reference}, {"segment": current})
    # When put in words
    sentences = column_sentences(report, LIVE)
    # Then sme is named, with its share before and after, per request
    assert sentences == {"segment": "segment: sme rose from 30% to 61% of requests"}
    change = only(report, "segment").change
    assert isinstance(change, CategoricalChange)
    assert change.shares["sme"] == (pytest.approx(0.3), pytest.approx(0.61))
    assert change.unseen_share == 0.0


def test_unseen_categories_and_a_jump_in_missing_values_are_said() -> None:
    # Given a segment column where 12% of current values are a category never seen, and missing values
    # went from none to a fifth of the rows
    reference = labels({"retail": 0.7, "sme": 0.3}, 1000)
    current = labels({"retail": 0.58, "sme": 0.3, "startup": 0.12}, 800, missing=0.25)
    report = checked({"segment": reference}, {"segment": current})
    # When put in words
    sentence = column_sentences(report)["segment"]
    # Then the unseen share comes first, by name, then what moved, then the missing values
    assert sentence == (
        "segment: 12% of requests now in categories never seen in training (startup); "
        "retail fell from 70% to 58% of requests; missing values rose from 0% to 20%"
    )


def test_a_binary_models_positive_rate_names_the_target() -> None:
    # Given a binary model that predicted default for 8% of the reference and 19% of current traffic
    reference = labels({"0": 0.92, "1": 0.08}, 1000)
    current = labels({"0": 0.81, "1": 0.19}, 1000)
    report = checked({"_prediction": reference}, {"_prediction": current})
    # When its predictions are put in words
    sentence = prediction_sentence(Task.BINARY, "default", only(report, "_prediction"))
    # Then the positive class's rate is named after the target, with both rates
    assert sentence == "predicted default rate rose from 8% to 19%"


def test_a_multiclass_models_most_moved_class_and_a_regressors_median_prediction() -> None:
    # Given a multiclass model whose setosa answers fell from 50% to 20%, and a regressor whose median
    # prediction fell from 310,000 to 250,000
    multi = checked(
        {"_prediction": labels({"setosa": 0.5, "versicolor": 0.3, "virginica": 0.2}, 1000)},
        {"_prediction": labels({"setosa": 0.2, "versicolor": 0.45, "virginica": 0.35}, 1000)},
    )
    prices = np.linspace(210_000.0, 410_000.0, 1001)
    regression = checked(
        {"_prediction": NumericalColumn(prices)}, {"_prediction": NumericalColumn(prices - 60_000)}
    )
    # When their predictions are put in words
    classes = prediction_sentence(Task.MULTICLASS, "species", only(multi, "_prediction"))
    values = prediction_sentence(Task.REGRESSION, "price", only(regression, "_prediction"))
    # Then each names the move that matters, with its direction and size
    assert classes == "predictions of species setosa fell from 50% to 20% of all predictions"
    assert values == "median predicted price fell from 310,000 to 250,000 (−19%)"
    # And predictions not compared give no sentence
    assert prediction_sentence(Task.BINARY, "default", None) is None


def test_the_headline_names_the_drifted_columns_and_the_verdict() -> None:
    # Given two of three columns moved and the predictions too
    reference = {"income": NumericalColumn(INCOMES), "debt": NumericalColumn(INCOMES / 1e5)}
    reference["calm"] = NumericalColumn(INCOMES.copy())
    current = {"income": NumericalColumn(INCOMES * 0.6), "debt": NumericalColumn(INCOMES / 5e4)}
    current["calm"] = NumericalColumn(INCOMES.copy())
    report = checked(reference, current)
    predictions = checked(
        {"_prediction": labels({"0": 0.9, "1": 0.1}, 500)}, {"_prediction": labels({"0": 0.5, "1": 0.5}, 500)}
    )
    # When the headline is written
    line = headline(report, only(predictions, "_prediction"))
    # Then it gives the verdict, the columns by name and their count, and the predictions' move
    assert line == (
        "Dataset drift: income and debt changed (2 of 3 columns drifted); the model's predictions moved too."
    )
    # And without drift it says nothing changed
    calm = checked({"calm": NumericalColumn(INCOMES)}, {"calm": NumericalColumn(INCOMES.copy())})
    assert headline(calm) == "No drift: no column changed (1 checked)."


def test_too_little_data_says_no_verdict_and_how_to_get_one() -> None:
    # Given a check with fewer rows than its minimum, which therefore alerted and retrained nothing
    report = check_drift_columns(
        {"income": NumericalColumn(INCOMES)}, {"income": NumericalColumn(INCOMES[:5])}, min_rows=10
    )
    outcome = CheckOutcome(model="loans", version=2, alerted=False)
    # When its words are written
    words = [headline(report), next_sentence(report, outcome), *actions(report, None, outcome)]
    # Then it says why there is no verdict, that nothing was sent, and how to get enough rows
    assert words == [
        "Not enough data to judge drift: 5 rows on one side, fewer than the minimum of 10.",
        "No verdict, so no alert: the next scheduled check tries again with more traffic.",
        "Send more traffic, or lengthen the window (DRIFT_WINDOW_HOURS) or lower DRIFT_MIN_ROWS.",
        "See what the model served with `sluice models show loans`.",
    ]
