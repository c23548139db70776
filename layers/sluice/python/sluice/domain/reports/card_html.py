"""The model card's HTML sections for people: the summary with its verdict, the gates as ✓/✗, the
experiment table, the decision threshold and fairness before and after mitigation.
(sluice.domain.reports.card.render_card_html puts them together with the detailed sections.)"""

from __future__ import annotations

from html import escape

from sluice.domain.reports.card_summary import (
    OBJECTIVE_WORDS,
    CardSummary,
    gate_rule,
    metric_words,
    points,
    rounded,
)
from sluice.domain.reports.charts import score_bars, table
from sluice.domain.spec.model_spec import Metric
from sluice.domain.training.decisions import MitigationReport, ThresholdChoice
from sluice.domain.training.evaluation import GateResult
from sluice.domain.training.search import CandidateScore, Experiment

PASSED, FAILED = "✓", "✗"


def summary_html(summary: CardSummary) -> str:
    """The verdict box and the summary's sentences, one paragraph each."""
    sentences = "".join(f"<p>{escape(sentence)}</p>" for sentence in summary.sentences)
    return (
        f"<section id='summary'><div class='summary {'ok' if summary.passed else 'bad'}'>"
        f"<b>{escape(summary.verdict)}</b></div>{sentences}</section>"
    )


def gates_html(gates: GateResult, metric: Metric, champion_version: int | None, attribute: str | None) -> str:
    """Each gate in words with its value (rounded), ✓ or ✗, and its key in the spec."""
    if not gates.checks:
        return "<h2>Gates</h2><p class='muted'>no gates configured</p>"
    rows = []
    for check in gates.checks:
        as_points = check.gate == "max_fairness_gap"
        value = (
            (points(check.value) + " points")
            if as_points and check.value is not None
            else rounded(check.value)
        )
        rows.append(
            [
                PASSED if check.passed else FAILED,
                gate_rule(check, metric, champion_version, attribute),
                value,
                f"gates.{check.gate}",
            ]
        )
    # The spec key beside the words: what an engineer edits to move the gate.
    return "<h2>Gates</h2>" + table(["", "gate", "this model", "spec key"], rows)


def _params(candidate: CandidateScore) -> str:
    return ", ".join(f"{name}={value}" for name, value in sorted(candidate.params.items())) or "defaults"


def _mean_and_spread(candidate: CandidateScore) -> str:
    if candidate.mean is None:
        return "—"
    return f"{candidate.mean:.4f} ± {candidate.std or 0.0:.4f}"


def experiments_html(experiment: Experiment) -> str:
    """Every candidate the search tried (the chosen one marked) and a chart of their mean scores."""
    name = metric_words(experiment.metric)
    rows = [
        [
            "✓ chosen" if candidate.index == experiment.chosen else "",
            candidate.algorithm,
            _params(candidate),
            _mean_and_spread(candidate),
            candidate.fit_seconds,
            f"{candidate.model_size_bytes / 1024:,.1f} KB",
            candidate.latency_ms_single_row,
            candidate.error or "",
        ]
        for candidate in experiment.candidates
    ]
    headers = [
        "",
        "algorithm",
        "parameters",
        f"{name} (mean ± std)",
        "fit (s)",
        "size",
        "latency (ms)",
        "error",
    ]
    scored = [c for c in experiment.candidates if c.mean is not None]
    chosen = next((i for i, c in enumerate(scored) if c.index == experiment.chosen), None)
    chart = score_bars(
        [(f"{c.index}. {c.algorithm}", float(c.mean or 0.0), c.std) for c in scored], highlight=chosen
    )
    better = "higher" if experiment.higher_is_better else "lower"
    return (
        "<h2>Experiments</h2>"
        f"<p class='muted'>{len(experiment.candidates)} candidates, each cross-validated on the "
        f"{experiment.rows:,} training rows ({experiment.folds} folds; {better} {escape(name)} is better). "
        f"{escape(experiment.reason)}</p>" + table(headers, rows) + chart
    )


def threshold_html(threshold: ThresholdChoice) -> str:
    """The decision threshold, how it was chosen, and a note that the confusion matrix uses it."""
    how = OBJECTIVE_WORDS.get(threshold.objective, "fixed")
    rows: list[list[object]] = [["threshold", threshold.value], ["how it was chosen", how]]
    if threshold.score is not None:
        measured = threshold.optimised or threshold.objective
        rows.append([f"{measured} at this threshold (training part)", threshold.score])
    if threshold.note:
        rows.append(["note", threshold.note])
    if threshold.rows:
        rows.append(["training rows it was chosen on", threshold.rows])
    if threshold.equal_opportunity_gap is not None:
        rows.append(["equal opportunity gap on those rows", threshold.equal_opportunity_gap])
    return (
        "<h2>Decision threshold</h2>"
        f"<p>The model says yes when the probability of the positive class is at least "
        f"{threshold.value:.4g}. The confusion matrix below counts the holdout's decisions at this "
        "threshold (the ONNX model's label uses it).</p>" + table(["what", "value"], rows)
    )


def mitigation_html(report: MitigationReport, metric: Metric) -> str:
    """Both fairness gaps and the primary metric before and after mitigation, and the metric's cost."""
    name = metric_words(metric.value)
    before, after = report.before, report.after

    def change(first: float | None, second: float | None) -> float | None:
        return None if first is None or second is None else second - first

    rows = [
        [
            "demographic parity gap (share flagged)",
            before.demographic_parity_gap,
            after.demographic_parity_gap,
            change(before.demographic_parity_gap, after.demographic_parity_gap),
        ],
        [
            "equal opportunity gap (true cases caught)",
            before.equal_opportunity_gap,
            after.equal_opportunity_gap,
            change(before.equal_opportunity_gap, after.equal_opportunity_gap),
        ],
        [name, before.metric, after.metric, change(before.metric, after.metric)],
    ]
    if report.metric_cost is None:
        cost = "The cost in the metric is unknown."
    elif report.metric_cost > 0:
        cost = f"It cost {rounded(report.metric_cost)} in {name}."
    else:
        cost = f"It cost nothing in {name}."
    return (
        "<h2>Fairness before and after mitigation</h2>"
        f"<p>Mitigation: <b>{escape(report.mitigation)}</b> across <b>{escape(report.attribute)}</b>, "
        f"both models scored on the same holdout; the gates judge the mitigated one. {escape(cost)}</p>"
        + table(["", "before", "after", "change"], rows)
    )


def contributions_html(means: dict[str, float]) -> str:
    """The global view of explanations: each feature's mean |Shapley value| on a holdout sample (for a
    classifier, of the predicted class's probability), beside permutation importance."""
    from sluice.domain.explain.summary import HOLDOUT_CAP
    from sluice.domain.reports.charts import horizontal_bars

    return (
        "<h2>Mean contribution to a prediction</h2><p class='muted'>mean |Shapley value| over up to "
        f"{HOLDOUT_CAP} holdout rows: how far each feature moves one prediction, on average (the "
        "predicted class's probability, or the value); /explain gives them for one prediction</p>"
        + horizontal_bars(list(means.items()))
    )
