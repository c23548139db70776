"""The top of the model card, for people: what the model predicts and for whom, how good it is against
the production version and a trivial baseline, what share of positives it catches at its threshold, its
fairness and the decision — in plain sentences with numbers rounded for reading."""

from __future__ import annotations

import math
from typing import Any, Protocol

from pydantic import BaseModel

from sluice.domain.spec.model_spec import Metric, Task
from sluice.domain.training.decisions import MitigationReport, ThresholdChoice
from sluice.domain.training.evaluation import Evaluation, GateCheck, GateResult
from sluice.domain.training.export import ParityResult

METRIC_WORDS = {
    "roc_auc": "ROC AUC",
    "accuracy": "accuracy",
    "f1": "F1",
    "log_loss": "log loss",
    "brier": "Brier score",
    "rmse": "RMSE",
    "mae": "mean absolute error",
    "r2": "R²",
}
TASK_WORDS = {"binary": "a yes/no outcome", "multiclass": "one of several classes", "regression": "a number"}
OBJECTIVE_WORDS = {
    "f1": "chosen for the best F1 on the training part",
    "youden": "chosen to best separate the two classes (Youden's J) on the training part",
    "cost": "chosen for the lowest cost of mistakes on the training part",
    "fairness": "chosen to bring true-positive rates across groups within the tolerance",
}
MITIGATION_WORDS = {
    "reweighing": "Reweighing the training rows",
    "threshold": "Choosing the threshold for equal opportunity",
}
DEFAULT_CANARY_SHARE = 0.1


class CardSummary(BaseModel):
    """The card's opening sentences. `passed`: parity and every gate passed; `verdict`: a few words for
    the verdict box."""

    passed: bool
    verdict: str
    purpose: str
    quality: str
    catches: str | None = None  # binary classifiers: the share of positives caught at the threshold
    fairness: str | None = None  # with a sensitive column
    decision: str

    @property
    def sentences(self) -> list[str]:
        """Every sentence, in reading order."""
        parts = [self.purpose, self.quality, self.catches, self.fairness, self.decision]
        return [part for part in parts if part]


class SummarisedCard(Protocol):
    """What the summary reads from a model card (sluice.domain.reports.card.ModelCard has all of it)."""

    @property
    def task(self) -> str: ...
    @property
    def spec(self) -> dict[str, Any]: ...
    @property
    def description(self) -> str | None: ...
    @property
    def intended_use(self) -> str | None: ...
    @property
    def evaluation(self) -> Evaluation: ...
    @property
    def champion(self) -> Evaluation | None: ...
    @property
    def champion_version(self) -> int | None: ...
    @property
    def baseline(self) -> dict[str, float | None] | None: ...
    @property
    def threshold(self) -> ThresholdChoice | None: ...
    @property
    def mitigation(self) -> MitigationReport | None: ...
    @property
    def rollout(self) -> str | None: ...
    @property
    def gates(self) -> GateResult: ...
    @property
    def parity(self) -> ParityResult: ...


def metric_words(name: str) -> str:
    """A metric's name as people say it (roc_auc → "ROC AUC"); unknown names unchanged."""
    return METRIC_WORDS.get(name, name)


def rounded(value: float | None, extra_decimals: int = 0) -> str:
    """A number for reading: below 1, two decimals (two significant digits for tiny values, without
    trailing zeros); from 1 up, two decimals, fewer as it grows (1.23, 53.6, 5,234); "—" for None. `extra_decimals` adds precision (to tell close values
    apart)."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if abs(value) >= 1:
        return f"{value:,.{max(0, 2 - magnitude) + extra_decimals}f}"
    text = f"{value:.{max(2, 1 - magnitude) + extra_decimals}f}"
    while len(text.partition(".")[2]) > 2 and text.endswith("0"):  # 0.010 → 0.01, 0.0040 → 0.004
        text = text[:-1]
    return text


def rounded_pair(first: float, second: float) -> tuple[str, str]:
    """Both numbers rounded for reading, with up to two more decimals when rounding would make two
    different values look equal."""
    for extra in range(3):
        shown = rounded(first, extra), rounded(second, extra)
        if shown[0] != shown[1] or first == second:
            return shown
    return shown


def percent(share: float) -> str:
    return f"{round(100 * share)}%"


def points(gap: float, extra_decimals: int = 0) -> str:
    """A gap between two shares in percentage points, rounded for reading (`extra_decimals` more to
    tell close gaps apart)."""
    value = 100 * gap
    decimals = (0 if abs(value) >= 1 or value == 0 else 1) + extra_decimals
    return f"{value:.{decimals}f}"


def points_pair(first: float, second: float) -> tuple[str, str]:
    """Two gaps in points, with one more decimal when rounding would make different gaps look equal."""
    shown = points(first), points(second)
    if shown[0] == shown[1] and first != second:
        return points(first, 1), points(second, 1)
    return shown


def champion_name(version: int | None) -> str:
    return "the production version" if version is None else f"production version {version}"


def summarise(card: SummarisedCard) -> CardSummary:
    """The card's summary in plain sentences (see `CardSummary`)."""
    passed = card.parity.passed and card.gates.passed
    return CardSummary(
        passed=passed,
        verdict=_verdict(card, passed),
        purpose=_purpose(card),
        quality=_quality(card),
        catches=_catches(card),
        fairness=_fairness(card),
        decision=_decision(card, passed),
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _purpose(card: SummarisedCard) -> str:
    target = card.spec.get("target", "the target")
    what = card.description or f"Predicts {target}, {TASK_WORDS.get(card.task, card.task)}"
    text = _sentence(what)
    if card.intended_use:
        text += " Intended use: " + _sentence(card.intended_use)
    return text


def _better(metric: Metric, mine: float, theirs: float) -> str:
    if mine == theirs:
        return "as good as"
    return "better than" if (mine > theirs) == metric.higher_is_better else "worse than"


def _baseline_name(task: str) -> str:
    if task == Task.REGRESSION.value:
        return "a model that always predicts the training average"
    return "a model that guesses without looking at the inputs"


def _quality(card: SummarisedCard) -> str:
    evaluation = card.evaluation
    metric = evaluation.metric
    name = metric_words(metric.value)
    value = evaluation.primary
    if value is None:
        return f"Its {name} could not be computed on the {evaluation.rows:,} held-out rows."
    compared = []
    value_text = rounded(value)
    champion = card.champion.primary if card.champion else None
    if champion is not None:
        value_text, theirs = rounded_pair(value, champion)
        production = champion_name(card.champion_version)
        compared.append(f"{_better(metric, value, champion)} {production} ({theirs} on the same rows)")
    baseline = (card.baseline or {}).get(metric.value)
    if baseline is not None:
        compared.append(
            f"{_better(metric, value, baseline)} {_baseline_name(card.task)} ({rounded(baseline)})"
        )
    text = f"{name} {value_text} on {evaluation.rows:,} held-out rows"
    if compared:
        text += ", " + " and ".join(compared)
    if card.champion is None:
        text += "; it is the first version, with nothing in production to compare with"
    elif champion is None:
        text += f"; {champion_name(card.champion_version)} could not be scored on these rows"
    return _sentence(text)


def _threshold_words(card: SummarisedCard) -> tuple[float | None, str]:
    written = card.spec.get("threshold")
    if card.threshold is not None:
        objective = card.threshold.objective
        if objective == "cost" and isinstance(written, dict) and written.get("costs"):
            costs = written["costs"]
            how = (
                f"{OBJECTIVE_WORDS['cost']} (a missed case costs {rounded(costs['false_negative'])}, "
                f"a false alarm {rounded(costs['false_positive'])})"
            )
        else:
            fixed = "the default" if written is None else "fixed in the spec"
            how = OBJECTIVE_WORDS.get(objective, fixed)
        return card.threshold.value, how
    if isinstance(written, int | float):
        return float(written), "fixed in the spec"
    if written is None:
        return 0.5, "the default"
    return None, "chosen on the training part"


def _catches(card: SummarisedCard) -> str | None:
    confusion = card.evaluation.confusion_matrix
    if card.task != Task.BINARY.value or confusion is None or len(confusion.labels) != 2:
        return None
    missed, caught = confusion.matrix[1]  # rows: the true label; columns: the decision
    wrongly_flagged = confusion.matrix[0][1]
    actual = missed + caught
    target = card.spec.get("target", "the target")
    positive = f"the cases where {target} is {confusion.labels[1]}"
    value, how = _threshold_words(card)
    at = (
        f"at its threshold {rounded(value, 1 if value < 0.1 else 0)} ({how})"
        if value is not None
        else f"({how})"
    )
    if actual == 0:
        return f"The holdout has none of {positive}, so how many it catches is unknown."
    text = (
        f"It catches {percent(caught / actual)} of {positive} ({caught:,} of {actual:,} in the holdout) {at}"
    )
    flagged = caught + wrongly_flagged
    if flagged:
        text += f"; {percent(caught / flagged)} of the cases it flags are right"
    return _sentence(text)


def _fairness(card: SummarisedCard) -> str | None:
    fairness = card.evaluation.fairness
    if fairness is None:
        return None
    attribute = fairness.attribute
    mitigation = card.mitigation
    if mitigation is not None:
        return _mitigation_sentence(mitigation, card.evaluation.metric)
    gap = fairness.demographic_parity_gap
    if gap is None:
        groups = card.evaluation.groups or {}
        scores = [g.metric for g in groups.values() if g.metric is not None]
        if len(scores) < 2:
            return None
        name = metric_words(card.evaluation.metric.value)
        return _sentence(
            f"Across {attribute} groups its {name} ranges from {rounded(min(scores))} to {rounded(max(scores))}"
        )
    limit = (card.spec.get("gates") or {}).get("max_fairness_gap")
    gate = "no gate set" if limit is None else f"the gate allows {points(limit)}"
    text = f"Across {attribute} groups the share it flags differs by up to {points(gap)} percentage points ({gate})"
    if fairness.equal_opportunity_gap is not None:
        text += f"; the share of true cases it catches, by {points(fairness.equal_opportunity_gap)} points"
    return _sentence(text)


def _mitigation_sentence(report: MitigationReport, metric: Metric) -> str:
    before, after = report.before, report.after
    how = MITIGATION_WORDS.get(report.mitigation, report.mitigation.capitalize())
    if before.demographic_parity_gap is not None and after.demographic_parity_gap is not None:
        change = "narrowed" if after.demographic_parity_gap < before.demographic_parity_gap else "changed"
        shown = points_pair(before.demographic_parity_gap, after.demographic_parity_gap)
        text = (
            f"{how} {change} the gap in the share flagged across {report.attribute} groups from "
            f"{shown[0]} to {shown[1]} percentage points"
        )
    else:
        text = f"{how} was applied across {report.attribute} groups"
    if before.equal_opportunity_gap is not None and after.equal_opportunity_gap is not None:
        caught = points_pair(before.equal_opportunity_gap, after.equal_opportunity_gap)
        text += f" (true cases caught: {caught[0]} → {caught[1]} points)"
    name = metric_words(metric.value)
    if report.metric_cost is not None and before.metric is not None and after.metric is not None:
        shown_before, shown_after = rounded_pair(before.metric, after.metric)
        if report.metric_cost > 0:
            text += f", at a cost of {rounded(report.metric_cost)} in {name} ({shown_before} → {shown_after})"
        else:
            text += f", with no loss in {name} ({shown_before} → {shown_after})"
    return _sentence(text)


def gate_rule(check: GateCheck, metric: Metric, champion_version: int | None, attribute: str | None) -> str:
    """What a gate requires, in words (e.g. "ROC AUC at least 0.70")."""
    name = metric_words(metric.value)
    if check.gate == "min_metric":
        return f"{name} at least {rounded(check.limit)}"
    if check.gate == "max_metric":
        return f"{name} at most {rounded(check.limit)}"
    if check.gate == "max_regression":
        return f"no more than {rounded(check.limit)} worse than {champion_name(champion_version)} in {name}"
    if check.gate == "max_fairness_gap":
        return f"share flagged differs by at most {points(check.limit)} points across {attribute or 'groups'}"
    return f"{check.gate} within {rounded(check.limit)}"


def gate_failure(
    check: GateCheck, metric: Metric, champion_version: int | None, attribute: str | None
) -> str:
    """Why a failed gate failed, in words."""
    name = metric_words(metric.value)
    if check.value is None:
        return f"the {gate_rule(check, metric, champion_version, attribute)} gate could not be checked"
    if check.gate == "min_metric":
        return f"its {name} ({rounded(check.value)}) is below the minimum {rounded(check.limit)}"
    if check.gate == "max_metric":
        return f"its {name} ({rounded(check.value)}) is above the maximum {rounded(check.limit)}"
    if check.gate == "max_regression":
        return (
            f"it is {rounded(check.value)} worse than {champion_name(champion_version)} in {name}, more than "
            f"the {rounded(check.limit)} allowed"
        )
    if check.gate == "max_fairness_gap":
        return (
            f"the share it flags differs by {points(check.value)} percentage points across "
            f"{attribute or 'groups'}, more than the {points(check.limit)} allowed"
        )
    return f"{check.gate} is {rounded(check.value)}, beyond {rounded(check.limit)}"


def _failures(card: SummarisedCard) -> list[str]:
    attribute = card.evaluation.fairness.attribute if card.evaluation.fairness else None
    reasons = [
        gate_failure(check, card.evaluation.metric, card.champion_version, attribute)
        for check in card.gates.checks
        if not check.passed
    ]
    if not card.parity.passed:
        reasons.insert(0, "its ONNX export does not reproduce scikit-learn's predictions")
    return reasons


def _share_of_requests(card: SummarisedCard) -> float:
    weight = (card.spec.get("rollout") or {}).get("weight")
    return float(weight) if weight is not None else DEFAULT_CANARY_SHARE


def _decision(card: SummarisedCard, passed: bool) -> str:
    if not passed:
        return _sentence("It was rejected: " + "; ".join(_failures(card)))
    if card.rollout == "auto":
        return "It passed every gate and was promoted to production automatically."
    if card.rollout == "manual":
        return "It passed every gate and waits for a person's approval before it serves."
    if card.rollout == "canary":
        return (
            f"It passed every gate and is tried as a canary on {percent(_share_of_requests(card))} of "
            "requests first; it is promoted only if it holds up against production there."
        )
    if card.rollout == "shadow":
        return (
            "It passed every gate and first runs in shadow beside production (scoring requests without "
            "answering them); it is promoted only if it holds up there."
        )
    return "It passed parity and every gate."


def _verdict(card: SummarisedCard, passed: bool) -> str:
    if not card.parity.passed:
        return "✗ Not servable"
    if not passed:
        return "✗ Rejected"
    return {
        "auto": "✓ Promoted automatically",
        "manual": "✓ Passed: waits for approval",
        "canary": "✓ Passed: canary next",
        "shadow": "✓ Passed: shadow next",
    }.get(card.rollout or "", "✓ Passed every gate")
