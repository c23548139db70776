"""Drift in words: for each drifted column a sentence a person understands ("income: median fell from
48,000 to 31,000 (−35%)"), the model's predictions likewise ("predicted default rate rose from 8% to
19%"), and a headline. Built from the numbers in each column's `change` (quartiles, range, category
shares, computed on the values the test compared), never from the drawn histograms. What happens next
and what a person can do are in `sluice.domain.monitoring.drift.next_steps`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from sluice.domain.monitoring.drift.report import CategoricalChange, ColumnDrift, DriftReport, NumericalChange
from sluice.domain.reports.charts import MINUS, plain_number, plain_percent
from sluice.domain.spec.algorithms import Task

MIN_OUT_OF_RANGE = 0.01  # share of values past the reference's range worth a clause (a sample's edge moves)
MIN_MISSING_JUMP = 0.02  # change in the share of missing values worth a clause
MIN_SPREAD_CHANGE = 0.2  # relative change of the middle half's width worth saying when the median held
NAMES_IN_HEADLINE = 3


@dataclass(frozen=True)
class Wording:
    """What a row is called and where the reference came from: traffic against training for the scheduled
    check, rows against a reference file for `sluice drift`."""

    rows: str
    reference: str


LIVE = Wording(rows="requests", reference="seen in training")
FILES = Wording(rows="rows", reference="in the reference")


class Explanation(BaseModel):
    """The drift report in words: `headline` first; `columns` holds one sentence per drifted column;
    `predictions` how the model's answers moved (null when they were not compared); `next` what happened
    (or, for `sluice drift`, may happen) after the check; `actions` what a person can do (empty when
    nothing drifted); `multivariate` what the classifier judging the columns together found (null when
    it did not run)."""

    model_config = ConfigDict(frozen=True)

    headline: str
    columns: dict[str, str]
    predictions: str | None
    next: str
    actions: list[str]
    multivariate: str | None = None


def column_sentences(report: DriftReport, wording: Wording = LIVE) -> dict[str, str]:
    """A sentence for each drifted column, drifted columns in the report's order."""
    sentences = {}
    for name, column in report.features.items():
        if column.drifted and (sentence := column_sentence(name, column, wording)) is not None:
            sentences[name] = sentence
    return sentences


def column_sentence(name: str, column: ColumnDrift, wording: Wording = LIVE) -> str | None:
    """ "name: what moved; what else moved", from the column's change; None when it has none (not
    computed)."""
    change = column.change
    if change is None:
        return None
    if isinstance(change, NumericalChange):
        clauses = _numerical_clauses(change, wording)
    else:
        clauses = _categorical_clauses(column, change, wording)
    jump = column.missing_current - column.missing_reference
    if abs(jump) >= MIN_MISSING_JUMP:
        clauses.append(
            f"missing values {_moved(jump)} from {plain_percent(column.missing_reference)} to "
            f"{plain_percent(column.missing_current)}"
        )
    return f"{name}: {'; '.join(clauses)}"


def prediction_sentence(task: Task, target: str, column: ColumnDrift | None) -> str | None:
    """How the model's answers moved: a binary classifier's positive-class rate ("predicted default rate
    rose from 8% to 19%", the positive class being the larger of its two sorted labels, as training
    takes it), a multiclass model's class share that moved most, a regressor's median prediction. None
    when predictions were not compared."""
    if column is None or column.change is None:
        return None
    change = column.change
    if isinstance(change, NumericalChange):
        return f"median predicted {target} {_median_clause(change)}"
    if task is Task.BINARY:
        positive = _positive_class(change)
        if positive is not None:
            before, after = change.shares.get(positive, (0.0, 0.0))
            return f"predicted {target} rate {_share_move(before, after)}"
    category, (before, after) = next(iter(change.shares.items()))
    return f"predictions of {target} {category} {_share_move(before, after)} of all predictions"


def headline(report: DriftReport, predictions: ColumnDrift | None = None) -> str:
    """One line: the verdict, the drifted columns by name, and whether the predictions moved."""
    if report.status != "ok":
        return f"Not enough data to judge drift: {report.message}."
    drifted = [name for name, column in report.features.items() if column.drifted]
    counted = f"{len(drifted)} of {report.n_columns} columns"
    together = report.multivariate
    relationship = (
        f"the relationship between {names_in_words(together.columns)} changed"
        if together is not None and together.changed_relationship
        else None
    )
    if relationship and report.dataset_drift and report.drift_share < report.share_threshold:
        line = f"Dataset drift: {relationship}" + (
            f"; {names_in_words(drifted)} changed on their own too ({counted} drifted)"
            if drifted
            else ", though no column drifted on its own"
        )
    elif report.dataset_drift:
        line = f"Dataset drift: {names_in_words(drifted)} changed ({counted} drifted)"
        line += f", and {relationship}" if relationship else ""
    elif drifted:
        line = (
            f"No dataset drift: {names_in_words(drifted)} changed, but {counted} is under the share of "
            f"{plain_percent(report.share_threshold)} that makes drift"
        )
    else:
        line = f"No drift: no column changed ({report.n_columns} checked)"
    if predictions is not None and predictions.drifted:
        line += "; the model's predictions moved too"
    return line + "."


def multivariate_sentence(report: DriftReport, wording: Wording = LIVE) -> str | None:
    """What the classifier judging the columns together found, or None when it did not run: whether it
    told the two apart, with its ROC AUC against the threshold, and by which columns."""
    together = report.multivariate
    if together is None:
        return None
    apart = f"a classifier tells the {wording.rows} apart from those {wording.reference}"
    score = f"ROC AUC {together.roc_auc:.2f}, drift above {together.threshold:.2f}"
    if not together.drift:
        if together.roc_auc > together.threshold:
            return (
                f"The columns together: no drift. The classifier's ROC AUC of {together.roc_auc:.2f} is "
                f"above {together.threshold:.2f} but, on {together.rows.reference:,} + "
                f"{together.rows.current:,} rows, not clearly above chance (0.5)."
            )
        return f"The columns together did not change: no classifier told them apart ({score})."
    drifted = {name for name, column in report.features.items() if column.drifted}
    steady = [name for name in together.columns if name not in drifted]
    if steady:
        return (
            f"The columns together changed: {apart} ({score}), mostly by {names_in_words(together.columns)}; "
            f"{names_in_words(steady)} did not drift on {'its' if len(steady) == 1 else 'their'} own, so "
            "what changed is how the columns relate to each other."
        )
    return (
        f"The columns together: {apart} ({score}) by {names_in_words(together.columns)}, which drifted on "
        "their own: no relationship between columns changed beyond that."
    )


def relationship_action(report: DriftReport) -> list[str]:
    """What to check when the columns' relationship changed (none otherwise)."""
    together = report.multivariate
    if together is None or not together.changed_relationship:
        return []
    return [
        f"Check how {names_in_words(together.columns)} are produced together: a join that mixes rows, "
        "swapped fields or a new source feeding one of them changes how they relate while each looks "
        "as before."
    ]


def _numerical_clauses(change: NumericalChange, wording: Wording) -> list[str]:
    clauses = [f"median {_median_clause(change)}"]
    if _plain(change.median_reference) == _plain(change.median_current):
        ref_width = change.quartiles_reference[1] - change.quartiles_reference[0]
        cur_width = change.quartiles_current[1] - change.quartiles_current[0]
        if ref_width > 0 and abs(cur_width / ref_width - 1) >= MIN_SPREAD_CHANGE:
            clauses.append(
                f"values spread {'wider' if cur_width > ref_width else 'narrower'}: the middle half now "
                f"spans {_span(change.quartiles_current)} (was {_span(change.quartiles_reference)})"
            )
    if change.below_reference >= MIN_OUT_OF_RANGE:
        clauses.append(
            f"{plain_percent(change.below_reference)} of values now below the lowest {wording.reference} "
            f"({_plain(change.min_reference)})"
        )
    if change.above_reference >= MIN_OUT_OF_RANGE:
        clauses.append(
            f"{plain_percent(change.above_reference)} of values now above the highest {wording.reference} "
            f"({_plain(change.max_reference)})"
        )
    return clauses


def _categorical_clauses(column: ColumnDrift, change: CategoricalChange, wording: Wording) -> list[str]:
    clauses = []
    unseen = set(column.unseen_categories)
    moved = [(category, shares) for category, shares in change.shares.items() if category not in unseen]
    if moved:
        category, (before, after) = moved[0]
        clauses.append(f"{category} {_share_move(before, after)} of {wording.rows}")
    if change.unseen_share > 0:
        listed = ", ".join(column.unseen_categories[:NAMES_IN_HEADLINE])
        more = len(column.unseen_categories) - NAMES_IN_HEADLINE
        clauses.insert(
            0 if change.unseen_share >= MIN_OUT_OF_RANGE else len(clauses),
            f"{plain_percent(change.unseen_share)} of {wording.rows} now in categories never "
            f"{wording.reference} ({listed}{f' and {more} more' if more > 0 else ''})",
        )
    return clauses or ["the mix of categories changed"]


def _median_clause(change: NumericalChange) -> str:
    before, after = _plain(change.median_reference), _plain(change.median_current)
    if before == after:
        return f"stayed at {after}"
    direction = "rose" if change.median_current > change.median_reference else "fell"
    relative = "" if change.median_change is None else f" ({_signed_percent(change.median_change)})"
    return f"{direction} from {before} to {after}{relative}"


def _share_move(before: float, after: float) -> str:
    if plain_percent(before) == plain_percent(after):
        return f"stayed at {plain_percent(after)}"
    return f"{_moved(after - before)} from {plain_percent(before)} to {plain_percent(after)}"


def _positive_class(change: CategoricalChange) -> str | None:
    labels = sorted(change.shares, key=_label_order)
    return labels[-1] if len(labels) >= 2 else None


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _moved(difference: float) -> str:
    return "rose" if difference > 0 else "fell"


def _signed_percent(relative: float) -> str:
    text = plain_percent(abs(relative))
    return ("+" if relative > 0 else MINUS) + text if text != "0%" else text


def _plain(value: float) -> str:
    return plain_number(value, 3 if abs(value) >= 100 else 2)


def _span(quartiles: tuple[float, float]) -> str:
    return f"{_plain(quartiles[0])}–{_plain(quartiles[1])}"


def names_in_words(names: Sequence[str], most: int = NAMES_IN_HEADLINE) -> str:
    """ "a", "a and b", "a, b and c", "a, b, c and 2 more"."""
    if len(names) > most:
        return f"{', '.join(names[:most])} and {len(names) - most} more"
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
