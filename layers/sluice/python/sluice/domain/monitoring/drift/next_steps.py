"""What happens after a drift check and what a person can do, in words: built from what the check
actually did (the alert, the retraining started or why it was held), so the stored report says what
happened, not what was planned. `sluice drift` on files does nothing itself: its `next` says so and its
actions are the ones a person may take."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from sluice.domain.monitoring.drift.explain import (
    FILES,
    LIVE,
    Explanation,
    Wording,
    column_sentences,
    headline,
    multivariate_sentence,
    names_in_words,
    prediction_sentence,
    relationship_action,
)
from sluice.domain.monitoring.drift.report import ColumnDrift, DriftReport
from sluice.domain.reports.charts import plain_percent
from sluice.domain.spec.model_spec import ModelSpec

MAX_ACTIONS = 4


class RetrainHold(StrEnum):
    """Why a retraining the check asked for did not start."""

    NOT_ALLOWED = "not_allowed"  # the spec says retrain_on_drift: false
    RUNNING = "running"  # a training run of the model is already running
    COOLDOWN = "cooldown"  # an automatic retraining started within the cool-down
    NO_DATASET = "no_dataset"  # no accepted dataset to retrain on
    NOTHING_NEW = "nothing_new"  # its dataset and spec would be the production version's


RetrainReason = Literal["drift", "quality", "schedule"]


@dataclass(frozen=True)
class Retraining:
    """What the check did about retraining: not asked for (`reason` None), started (`execution` is its
    ARN) or held (`held` says why, `why` in a person's words)."""

    reason: RetrainReason | None = None
    execution: str | None = None
    held: RetrainHold | None = None
    why: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """What the scheduled check did after judging one model's version."""

    model: str
    version: int
    alerted: bool  # drift was announced (its incident opened, or was announced again)
    retraining: Retraining = field(default_factory=Retraining)
    # drift's open incident that this check did not announce again, in words (one alert per incident)
    drift_incident: str | None = None


def explain_check(
    report: DriftReport,
    spec: ModelSpec,
    prediction_drift: ColumnDrift | None,
    outcome: CheckOutcome,
) -> Explanation:
    """The scheduled check's report in words, with what it did and what a person can do."""
    return Explanation(
        headline=headline(report, prediction_drift),
        columns=column_sentences(report, LIVE),
        predictions=prediction_sentence(spec.task, spec.target, prediction_drift),
        next=next_sentence(report, outcome),
        actions=actions(report, prediction_drift, outcome),
        multivariate=multivariate_sentence(report, LIVE),
    )


def explain_files(report: DriftReport, model: str | None = None, wording: Wording = FILES) -> Explanation:
    """`sluice drift`'s report in words: it compares files and does nothing, so `next` says what a person
    may do; `model` (from --spec) names the model in the commands."""
    drifted = _drifted(report)
    if report.status != "ok":
        step = "Nothing was compared: give both files at least the minimum number of rows (--min-rows)."
    elif drifted or report.dataset_drift:
        step = "`sluice drift` only compares files: nothing was alerted or retrained. You may act as below."
    else:
        step = "Nothing to do: no column drifted."
    name = model or "MODEL"
    todo = relationship_action(report)
    if drifted or todo:
        todo += [_check_upstream(drifted)] if drifted else []
        todo += [
            f"If the shift is expected, retrain on newer labelled data: locally with `sluice train`, or by "
            f"uploading it under `{name}/data/` in the raw bucket.",
            f"If a deployed model already sees such data, compare its live predictions with "
            f"`sluice models show {name}` and roll back with `sluice models rollback {name}` if needed.",
        ]
    return Explanation(
        headline=headline(report),
        columns=column_sentences(report, wording),
        predictions=None,
        next=step,
        actions=todo,
        multivariate=multivariate_sentence(report, wording),
    )


def next_sentence(report: DriftReport, outcome: CheckOutcome) -> str:
    """What the check did: the alert, then the retraining started or why none was."""
    parts = []
    if report.status != "ok":
        parts.append("No verdict, so no alert: the next scheduled check tries again with more traffic.")
    elif outcome.alerted:
        parts.append("An alert was sent to the subscribers of the alert topic.")
    elif report.dataset_drift and outcome.drift_incident:
        parts.append(outcome.drift_incident)
    elif _drifted(report):
        share = plain_percent(report.share_threshold)
        parts.append(f"No alert: drift needs at least {share} of the columns to drift.")
    else:
        parts.append("No alert: no column drifted.")
    retraining = outcome.retraining
    if retraining.execution is not None:
        name = retraining.execution.rsplit(":", 1)[-1]
        because = {
            "drift": "because the inputs drifted",
            "quality": "because the live metric is worse than the spec's gate",
            "schedule": "because the spec's retraining schedule came due",
        }[retraining.reason or "drift"]
        parts.append(
            f"Retraining started {because} ({name}): the new version is compared with v{outcome.version} "
            "on the same holdout and promoted only if it passes the spec's gates."
        )
    elif retraining.held is not None:
        # `why` names the running execution ("a training run is already running (…)") or the start that
        # holds the cool-down ("cool-down: drift started a retraining at …").
        why = retraining.why or ""
        parts.append(
            {
                RetrainHold.NOT_ALLOWED: "No retraining: the spec does not allow retraining on drift.",
                RetrainHold.RUNNING: f"No new retraining: {why}.",
                RetrainHold.COOLDOWN: f"Retraining held by the {why}.",
                RetrainHold.NO_DATASET: "No retraining: there is no accepted dataset to retrain on.",
                RetrainHold.NOTHING_NEW: f"No retraining: {why}.",
            }[retraining.held]
        )
    elif report.status == "ok" and not report.dataset_drift:
        parts.append("Nothing is retrained.")
    return " ".join(parts)


def actions(report: DriftReport, prediction_drift: ColumnDrift | None, outcome: CheckOutcome) -> list[str]:
    """Two to four things a person can do, the likeliest first; none when nothing drifted or fell."""
    model, retraining = outcome.model, outcome.retraining
    drifted = _drifted(report)
    if not drifted and retraining.reason is None:
        if report.status != "ok":
            return [
                "Send more traffic, or lengthen the window (DRIFT_WINDOW_HOURS) or lower DRIFT_MIN_ROWS.",
                f"See what the model served with `sluice models show {model}`.",
            ]
        return []
    todo = relationship_action(report) + ([_check_upstream(drifted)] if drifted else [])
    upload = f"Upload newer labelled data under `{model}/data/` in the raw bucket: retraining learns from it."
    if retraining.execution is not None:
        todo.append(
            f"Follow the retraining with `sluice models show {model}`: it shows the new version and why it "
            "was promoted or rejected."
        )
    elif retraining.held in (RetrainHold.NO_DATASET, RetrainHold.NOTHING_NEW):
        todo.insert(0, upload)
    else:
        todo.append(upload)
        if retraining.held in (RetrainHold.NOT_ALLOWED, RetrainHold.COOLDOWN, None):
            todo.append(f"If the shift is expected, retrain now: `sluice models train {model}`.")
    if (prediction_drift is not None and prediction_drift.drifted) or retraining.reason == "quality":
        todo.append(
            f"If the model's answers look wrong, go back to the previous version: "
            f"`sluice models rollback {model}`."
        )
    return todo[:MAX_ACTIONS]


def _drifted(report: DriftReport) -> list[str]:
    return [name for name, column in report.features.items() if column.drifted]


def _check_upstream(names: Sequence[str]) -> str:
    shown = names_in_words(names)
    return (
        f"Check the upstream source of {shown}: a changed unit, a new default value or a broken join "
        "shows up as drift like this."
    )
