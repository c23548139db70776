"""The model card's summary for people: what it says for a first version, against production, when a gate
fails, at a chosen threshold, for a regression, with mitigation and for each rollout mode; the trivial
baseline it is compared with; and the page and card.json around it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sluice.domain.data.table import RawTable
from sluice.domain.reports.card import Lineage, ModelCard, build_card, render_card_html
from sluice.domain.reports.card_summary import points_pair, rounded, rounded_pair
from sluice.domain.spec.model_spec import Metric, ModelSpec, Task, parse_spec
from sluice.domain.training.baseline import baseline_metrics
from sluice.domain.training.decisions import FairnessSnapshot, MitigationReport, ThresholdChoice
from sluice.domain.training.evaluation import ConfusionMatrix, Evaluation, Fairness, apply_gates
from sluice.domain.training.export import ParityResult
from sluice.domain.training.search import CandidateScore, Experiment

BINARY_SPEC = """
name: credit-risk
description: Probability that a borrower defaults within a year.
intended_use: Loan officers screening applications; not for automatic refusals.
task: binary
target: default
features: [{name: income, type: numeric}]
sensitive: gender
algorithm: {name: logistic_regression, params: {}}
metric: roc_auc
gates: {min_metric: 0.7, max_regression: 0.01, max_fairness_gap: 0.1}
"""
REGRESSION_SPEC = """
name: prices
task: regression
target: price
features: [{name: rooms, type: numeric}]
algorithm: {name: ridge, params: {}}
metric: rmse
gates: {max_metric: 100}
"""
PARITY = ParityResult(passed=True, rows=150, max_abs_diff=1e-7, label_agreement=1.0, tolerance=1e-4)


def binary_evaluation(roc_auc: float, matrix: list[list[int]] | None = None, gap: float = 0.04) -> Evaluation:
    return Evaluation(
        task=Task.BINARY,
        metric=Metric.ROC_AUC,
        rows=150,
        metrics={"roc_auc": roc_auc, "accuracy": 0.75, "f1": 0.6, "log_loss": 0.5, "brier": 0.17},
        confusion_matrix=ConfusionMatrix(labels=["0", "1"], matrix=matrix or [[80, 20], [18, 32]]),
        fairness=Fairness(attribute="gender", demographic_parity_gap=gap, equal_opportunity_gap=0.03),
        model_size_bytes=1000,
        model_sha256="a" * 64,
    )


def card_of(
    spec: ModelSpec, evaluation: Evaluation, champion: Evaluation | None = None, **extra: Any
) -> ModelCard:
    return build_card(
        spec=spec,
        version="4",
        lineage=Lineage(
            dataset_sha256="d" * 64,
            dataset_source="data.csv",
            spec_sha256=spec.sha256,
            rows_train=600,
            rows_holdout=evaluation.rows,
            model_sha256="a" * 64,
        ),
        parameters={"C": 1.0},
        parity=PARITY,
        evaluation=evaluation,
        gates=apply_gates(spec, evaluation, champion),
        champion=champion,
        **extra,
    )


def sentences(card: ModelCard) -> str:
    assert card.summary is not None
    return " ".join(card.summary.sentences)


def test_a_first_version_says_what_it_predicts_for_whom_and_that_nothing_is_in_production() -> None:
    # Given a binary spec with a description and intended use, and no production version
    spec = parse_spec(BINARY_SPEC)
    # When its card is built with the trivial baseline and an automatic rollout
    card = card_of(spec, binary_evaluation(0.8123), baseline={"roc_auc": 0.5}, rollout="auto")
    # Then the summary opens with the description and intended use, compares with the baseline only,
    # and says it was promoted automatically
    assert card.summary is not None and card.summary.passed
    assert card.summary.purpose.startswith("Probability that a borrower defaults within a year.")
    assert "Intended use: Loan officers screening applications" in card.summary.purpose
    assert card.summary.quality == (
        "ROC AUC 0.81 on 150 held-out rows, better than a model that guesses without looking at the inputs "
        "(0.50); it is the first version, with nothing in production to compare with."
    )
    assert card.summary.decision == "It passed every gate and was promoted to production automatically."
    assert card.summary.verdict.startswith("✓")


def test_a_better_model_names_the_production_version_and_the_baseline_in_rounded_numbers() -> None:
    # Given production version 3 scores 0.7912 on the same holdout
    spec = parse_spec(BINARY_SPEC)
    # When a challenger scoring 0.8123 is summarised
    card = card_of(
        spec,
        binary_evaluation(0.8123),
        binary_evaluation(0.7912),
        champion_version=3,
        baseline={"roc_auc": 0.5},
    )
    # Then it reads "ROC AUC 0.81, production version 3 0.79, a model that guesses 0.50"
    assert card.summary is not None
    assert card.summary.quality.startswith(
        "ROC AUC 0.81 on 150 held-out rows, better than production version 3 (0.79 on the same rows) and "
        "better than a model that guesses without looking at the inputs (0.50)"
    )
    # And without a rollout mode it only says the gates passed
    assert card.summary.decision == "It passed parity and every gate."


def test_a_worse_model_is_rejected_and_the_summary_names_the_gate_in_words() -> None:
    # Given production version 3 scores 0.85 and the spec allows 0.01 of regression
    spec = parse_spec(BINARY_SPEC)
    # When a challenger scoring 0.81 is summarised
    card = card_of(spec, binary_evaluation(0.81), binary_evaluation(0.85), champion_version=3, rollout="auto")
    # Then it is rejected, worse than production, and the reason is the regression gate in words
    assert card.summary is not None and not card.summary.passed
    assert card.summary.verdict == "✗ Rejected"
    assert "worse than production version 3 (0.85 on the same rows)" in card.summary.quality
    assert card.summary.decision == (
        "It was rejected: it is 0.04 worse than production version 3 in ROC AUC, more than the 0.01 allowed."
    )
    # And the page shows the gates as ✓/✗ in words
    html = render_card_html(card)
    assert "no more than 0.01 worse than production version 3 in ROC AUC" in html
    assert "<td>✗</td>" in html and "<td>✓</td>" in html


def test_a_fairness_gate_failure_is_said_in_percentage_points() -> None:
    # Given a model whose share flagged differs by 15 points across gender (the gate allows 10)
    card = card_of(parse_spec(BINARY_SPEC), binary_evaluation(0.81, gap=0.15))
    # Then the summary says so in points, both in the fairness sentence and the decision
    assert card.summary is not None
    assert "differs by up to 15 percentage points (the gate allows 10)" in (card.summary.fairness or "")
    assert "differs by 15 percentage points across gender, more than the 10 allowed" in card.summary.decision


def test_at_a_chosen_threshold_the_recall_stated_is_the_confusion_matrix_s() -> None:
    # Given a binary model deciding at 0.31 (chosen for F1) whose holdout confusion matrix has 32 of the
    # 50 defaulters predicted as defaulters
    matrix = [[80, 20], [18, 32]]
    card = card_of(
        parse_spec(BINARY_SPEC),
        binary_evaluation(0.81, matrix),
        threshold=ThresholdChoice(value=0.31, objective="f1", score=0.58, rows=600),
    )
    # Then the summary states the recall of that matrix, the threshold and why it was chosen
    recall = matrix[1][1] / sum(matrix[1])
    assert card.summary is not None
    assert card.summary.catches == (
        f"It catches {round(100 * recall)}% of the cases where default is 1 (32 of 50 in the holdout) at its "
        "threshold 0.31 (chosen for the best F1 on the training part); 62% of the cases it flags are right."
    )
    # And the page has a decision threshold section that says the confusion matrix uses it
    html = render_card_html(card)
    assert "<h2>Decision threshold</h2>" in html
    assert "confusion matrix below counts the holdout's decisions at this threshold" in html
    assert html.index("<h2>Decision threshold</h2>") < html.index("<h2>Confusion matrix</h2>")


def regression_table(prices: list[float]) -> RawTable:
    return RawTable(
        source="prices.csv",
        header=["rooms", "price"],
        columns={"rooms": ["3"] * len(prices), "price": [str(p) for p in prices]},
    )


def test_the_regression_baseline_predicts_the_training_mean_and_there_is_no_recall_sentence() -> None:
    # Given a regression spec, training prices averaging 200 and a holdout
    spec = parse_spec(REGRESSION_SPEC)
    train, holdout = regression_table([100, 200, 300]), regression_table([150, 260])
    # When the trivial baseline is scored
    baseline = baseline_metrics(spec, train, holdout)
    # Then its errors are those of always predicting 200
    errors = np.array([150, 260]) - 200.0
    assert baseline["rmse"] == pytest.approx(float(np.sqrt(np.mean(errors**2))))
    assert baseline["mae"] == pytest.approx(float(np.mean(np.abs(errors))))
    # And a card compares a model with it, lower RMSE being better, without a recall sentence
    evaluation = Evaluation(
        task=Task.REGRESSION,
        metric=Metric.RMSE,
        rows=2,
        metrics={"rmse": 31.6, "mae": 30.0, "r2": 0.1},
        model_size_bytes=500,
        model_sha256="b" * 64,
    )
    card = card_of(spec, evaluation, baseline=baseline)
    assert card.summary is not None and card.summary.catches is None and card.summary.fairness is None
    assert card.summary.purpose == "Predicts price, a number."
    assert (
        f"RMSE 31.6 on 2 held-out rows, better than a model that always predicts the training average "
        f"({rounded(baseline['rmse'])})" in card.summary.quality
    )


def test_the_classification_baseline_guesses_the_majority_class_with_the_training_shares() -> None:
    # Given training labels 3 of 4 zero and a holdout with one of each
    spec = parse_spec(BINARY_SPEC)
    train = RawTable(
        source="t.csv",
        header=["income", "default"],
        columns={"income": ["1"] * 4, "default": ["0", "0", "0", "1"]},
    )
    holdout = RawTable(
        source="h.csv", header=["income", "default"], columns={"income": ["1"] * 2, "default": ["0", "1"]}
    )
    # When the trivial baseline is scored
    baseline = baseline_metrics(spec, train, holdout)
    # Then it ranks nothing (ROC AUC 0.5), labels every row 0 (accuracy 0.5) and its log loss is that of
    # the constant probabilities 0.75 / 0.25
    assert baseline["roc_auc"] == pytest.approx(0.5)
    assert baseline["accuracy"] == pytest.approx(0.5)
    assert baseline["log_loss"] == pytest.approx(-(np.log(0.75) + np.log(0.25)) / 2)


def test_mitigation_is_one_sentence_before_to_after_with_its_cost_and_a_section() -> None:
    # Given reweighing took the parity gap from 0.12 to 0.04 for 0.01 of ROC AUC
    report = MitigationReport(
        mitigation="reweighing",
        attribute="gender",
        before=FairnessSnapshot(demographic_parity_gap=0.12, equal_opportunity_gap=0.10, metric=0.82),
        after=FairnessSnapshot(demographic_parity_gap=0.04, equal_opportunity_gap=0.03, metric=0.81),
        metric_cost=0.01,
    )
    # When the card is built with it
    card = card_of(parse_spec(BINARY_SPEC), binary_evaluation(0.81), mitigation=report)
    # Then the fairness sentence says before → after and what it cost
    assert card.summary is not None
    assert card.summary.fairness == (
        "Reweighing the training rows narrowed the gap in the share flagged across gender groups from 12 to "
        "4 percentage points (true cases caught: 10 → 3 points), at a cost of 0.01 in ROC AUC (0.82 → 0.81)."
    )
    # And the page has the before/after section
    assert "<h2>Fairness before and after mitigation</h2>" in render_card_html(card)


@pytest.mark.parametrize(
    ("rollout", "rollout_section", "expected"),
    [
        ("auto", "", "was promoted to production automatically"),
        ("manual", "rollout: {mode: manual}", "waits for a person's approval"),
        ("canary", "rollout: {mode: canary, weight: 0.2}", "tried as a canary on 20% of requests first"),
        ("shadow", "rollout: {mode: shadow}", "first runs in shadow beside production"),
    ],
)
def test_each_rollout_mode_says_what_happens_next(rollout: str, rollout_section: str, expected: str) -> None:
    # Given a spec with the rollout mode and a model that passes its gates
    spec = parse_spec(BINARY_SPEC + rollout_section)
    # When its card is built with that mode
    card = card_of(spec, binary_evaluation(0.81), rollout=rollout)
    # Then the decision says what happens next
    assert card.summary is not None and card.summary.passed
    assert expected in card.summary.decision


def test_numbers_are_rounded_for_people_and_close_ones_kept_apart() -> None:
    # Given numbers of several sizes, then two that round alike
    # Then small ones keep two decimals, large ones three significant digits, close pairs more decimals
    assert [rounded(0.8123), rounded(53.62), rounded(5234.2), rounded(0.004), rounded(None)] == [
        "0.81",
        "53.6",
        "5,234",
        "0.004",
        "—",
    ]
    assert rounded_pair(0.8123, 0.8091) == ("0.812", "0.809")
    assert rounded_pair(0.81, 0.81) == ("0.81", "0.81")
    # and gaps in points likewise: 3.9 and 4.0 points are not both "4"
    assert points_pair(0.039, 0.0396) == ("3.9", "4.0")
    assert points_pair(0.09, 0.03) == ("9", "3") and points_pair(0.04, 0.04) == ("4", "4")


def test_the_experiment_table_marks_the_chosen_candidate_and_charts_the_means() -> None:
    # Given a search of two candidates, the second chosen
    def candidate(index: int, algorithm: str, mean: float) -> CandidateScore:
        return CandidateScore(
            index=index,
            algorithm=algorithm,
            params={"max_depth": 4} if index else {},
            folds=3,
            metric="roc_auc",
            mean=mean,
            std=0.01,
            fold_scores=[mean] * 3,
            fit_seconds=0.2,
            model_size_bytes=20_480,
            latency_ms_single_row=0.05,
        )

    experiment = Experiment(
        model="credit-risk",
        metric="roc_auc",
        higher_is_better=True,
        folds=3,
        rows=600,
        candidates=[candidate(0, "logistic_regression", 0.78), candidate(1, "random_forest", 0.82)],
        chosen=1,
        reason="random_forest has the best mean ROC AUC",
    )
    # When the card's page is rendered
    html = render_card_html(card_of(parse_spec(BINARY_SPEC), binary_evaluation(0.81), experiment=experiment))
    section = html[html.index("<h2>Experiments</h2>") :]
    # Then every candidate is a row, the chosen one marked, with a bar chart of the means
    assert "<td>✓ chosen</td><td>random_forest</td><td>max_depth=4</td><td>0.8200 ± 0.0100</td>" in section
    assert "<td></td><td>logistic_regression</td><td>defaults</td>" in section
    assert section.count("<rect") == 2 and "<svg" in section


def test_card_json_keeps_its_fields_and_a_card_written_before_summaries_gets_one_on_load() -> None:
    # Given a card as card.json, and the same document without the fields added with the summary
    card = card_of(parse_spec(BINARY_SPEC), binary_evaluation(0.81), rollout="auto")
    document = json.loads(card.model_dump_json())
    old = {
        k: v for k, v in document.items() if k not in {"summary", "rollout", "description", "intended_use"}
    }
    # Then the existing fields are all still there
    for key in (
        "model",
        "version",
        "task",
        "lineage",
        "algorithm",
        "parameters",
        "metrics",
        "parity",
        "gates",
    ):
        assert key in document
    # And the older card loads with a summary computed from what it has
    loaded = ModelCard.model_validate(old)
    assert loaded.summary is not None
    assert loaded.summary.decision == "It passed parity and every gate."
    assert "<section id='summary'>" in render_card_html(loaded)
