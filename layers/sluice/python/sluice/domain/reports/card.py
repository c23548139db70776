"""The model card: lineage, parameters, metrics, parity and gates of one trained model, as JSON for
machines (card.json) and as a page for people (card.html) that opens with a summary in plain words
(sluice.domain.reports.card_summary), then the details."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from html import escape
from importlib.metadata import version as package_version
from typing import Any

from pydantic import BaseModel, Field, model_validator

from sluice.domain.reports.card_html import (
    contributions_html,
    experiments_html,
    gates_html,
    mitigation_html,
    summary_html,
    threshold_html,
)
from sluice.domain.reports.card_summary import CardSummary, champion_name, summarise
from sluice.domain.reports.charts import heatmap, horizontal_bars, page, table
from sluice.domain.spec.model_spec import ModelSpec
from sluice.domain.training.decisions import MitigationReport, ThresholdChoice
from sluice.domain.training.evaluation import Evaluation, GateResult
from sluice.domain.training.export import ParityResult
from sluice.domain.training.search import Experiment

LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy", "scipy", "sluice")


class Lineage(BaseModel):
    dataset_sha256: str
    dataset_source: str
    spec_sha256: str
    rows_train: int
    rows_holdout: int
    model_sha256: str
    run_id: str | None = None
    trigger: str | None = None
    # Where a retraining's rows come from, in words ("dataset … + captured traffic … + feedback").
    dataset_lineage: str | None = None
    backend: str | None = None  # where Train ran: lambda | fargate


class RecentHoldout(BaseModel):
    """A retraining's recent holdout: its newest labelled rows, never trained on, and the scores of the
    candidate and the champion on it. `counted`: the gates judged on it (it had `min_rows` rows)."""

    rows: int
    min_rows: int
    counted: bool
    evaluation: Evaluation
    champion: Evaluation | None = None


class LiveQuality(BaseModel):
    """The version's quality on live traffic as the last drift check measured it: each metric on the
    labelled rows of its window (feedback joined with captured requests), its performance estimated
    without labels on the window's captured rows (CBPE or DLE: each metric, its band of ±3 sampling
    errors), and the spec's gate for its primary metric."""

    checked_at: str
    window_start: str
    window_end: str
    metrics: dict[str, float]
    labelled_rows: int
    estimated: dict[str, float] = Field(default_factory=dict)
    estimated_band: dict[str, list[float]] = Field(default_factory=dict)
    estimated_rows: int = 0
    gate: str | None = None
    limit: float | None = None
    below_minimum: bool = False
    report: str | None = None  # the drift check's HTML report


class ModelCard(BaseModel):
    """One model's card. The fields after `live` came with the summary for people: cards written before
    them load with None, and every card gets its `summary` computed when it is built or loaded without
    one."""

    model: str
    version: str
    task: str
    created_at: str
    lineage: Lineage
    algorithm: str
    parameters: dict[str, Any]
    libraries: dict[str, str]
    metrics: dict[str, float | None]
    parity: ParityResult
    gates: GateResult
    evaluation: Evaluation
    champion: Evaluation | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    recent_holdout: RecentHoldout | None = None
    live: LiveQuality | None = None  # added by each drift check after promotion
    description: str | None = None  # the spec's: what it predicts
    intended_use: str | None = None  # the spec's: for whom and for what decisions
    champion_version: int | None = None  # the production version it was compared with
    baseline: dict[str, float | None] | None = None  # the trivial model's metrics on the same holdout
    threshold: ThresholdChoice | None = None  # binary: the decision threshold in the ONNX model
    mitigation: MitigationReport | None = None  # fairness before and after mitigation
    experiment: Experiment | None = None  # the candidate search that chose this algorithm
    rollout: str | None = None  # auto | manual | shadow | canary: what follows when the gates pass
    summary: CardSummary | None = None  # set on validation when absent (see `summarise`)

    @model_validator(mode="after")
    def _summarised(self) -> ModelCard:
        if self.summary is None:
            self.summary = summarise(self)
        return self


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = package_version(name)
        except Exception:  # a library absent from this bundle is simply not listed
            continue
    return found


def build_card(
    *,
    spec: ModelSpec,
    version: str,
    lineage: Lineage,
    parameters: dict[str, Any],
    parity: ParityResult,
    evaluation: Evaluation,
    gates: GateResult,
    champion: Evaluation | None = None,
    recent_holdout: RecentHoldout | None = None,
    champion_version: int | None = None,
    baseline: dict[str, float | None] | None = None,
    threshold: ThresholdChoice | None = None,
    mitigation: MitigationReport | None = None,
    experiment: Experiment | None = None,
    rollout: str | None = None,
) -> ModelCard:
    """Assemble the card of one candidate, its summary for people included. `parameters` are its
    estimator's, JSON-safe (`sluice.domain.candidate.card_parameters`); a retraining's card has its
    recent holdout too. The optional parts enrich the summary and add sections: `champion_version` names
    the production version `champion` scored; `baseline` is `sluice.domain.training.baseline.baseline_metrics` on
    the same holdout; `rollout` is what happens when the gates pass (auto | manual | shadow | canary;
    None: the summary only says the gates passed)."""
    return ModelCard(
        model=spec.name,
        version=version,
        task=spec.task.value,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        lineage=lineage,
        algorithm=spec.estimator.name.value,
        parameters=dict(parameters),
        libraries=library_versions(),
        metrics=evaluation.metrics,
        parity=parity,
        gates=gates,
        evaluation=evaluation,
        champion=champion,
        spec=spec.model_dump(mode="json"),
        recent_holdout=recent_holdout,
        description=spec.description,
        intended_use=spec.intended_use,
        champion_version=champion_version,
        baseline=baseline,
        threshold=threshold,
        mitigation=mitigation,
        experiment=experiment,
        rollout=rollout,
    )


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _recent_holdout_html(recent: RecentHoldout) -> str:
    verdict = (
        "the gates judged on it"
        if recent.counted
        else f"fewer than {recent.min_rows} rows, or no score: the gates judged on the usual holdout"
    )
    champion_metrics = recent.champion.metrics if recent.champion else {}
    rows = [[name, value, champion_metrics.get(name)] for name, value in recent.evaluation.metrics.items()]
    return (
        f"<h2>Recent holdout</h2><p class='muted'>the newest {recent.rows} labelled rows of traffic, never "
        f"trained on; {escape(verdict)}</p>" + table(["metric", "this model", "champion (same rows)"], rows)
    )


def render_card_html(card: ModelCard) -> str:
    """The card as a self-contained HTML page (inline SVG charts, no network needed): the summary in plain
    words and the gates first, then the details."""
    evaluation = card.evaluation
    summary = card.summary or summarise(card)
    attribute = evaluation.fairness.attribute if evaluation.fairness else None
    sections = [
        f"<h1>{escape(card.model)} <span class='muted'>version {escape(card.version)}</span></h1>",
        f"<p class='muted'>{escape(card.task)} · {escape(card.algorithm)} · created {escape(card.created_at)}</p>",
        summary_html(summary),
        gates_html(card.gates, evaluation.metric, card.champion_version, attribute),
        "<h2>Metrics</h2>",
    ]
    champion_metrics = card.champion.metrics if card.champion else {}
    production = champion_name(card.champion_version) if card.champion else "champion"
    headers = ["metric", "this model", f"{production} (same holdout)"]
    metric_rows = [[name, value, champion_metrics.get(name)] for name, value in evaluation.metrics.items()]
    if card.baseline is not None:
        headers.append("trivial baseline (same holdout)")
        for row in metric_rows:
            row.append(card.baseline.get(str(row[0])))
    sections.append(table(headers, metric_rows))
    if card.recent_holdout is not None:
        sections.append(_recent_holdout_html(card.recent_holdout))
    if card.live is not None:
        sections.append(_live_html(card.live))
    if card.experiment is not None:
        sections.append(experiments_html(card.experiment))
    if card.threshold is not None:
        sections.append(threshold_html(card.threshold))
    if evaluation.confusion_matrix is not None:
        cm = evaluation.confusion_matrix
        sections.append("<h2>Confusion matrix</h2>" + heatmap(cm.labels, cm.labels, cm.matrix))
    sections.extend(_groups_html(card))
    if card.mitigation is not None:
        sections.append(mitigation_html(card.mitigation, evaluation.metric))
    sections.append(_parity_html(card.parity))
    if evaluation.importance:
        ranked = sorted(evaluation.importance.items(), key=lambda item: -item[1].mean)
        sections.append(
            f"<h2>Permutation importance</h2><p class='muted'>drop in {escape(evaluation.metric.value)} when a "
            "feature is shuffled</p>" + horizontal_bars([(name, imp.mean) for name, imp in ranked])
        )
    if evaluation.mean_abs_contributions:
        sections.append(contributions_html(evaluation.mean_abs_contributions))
    sections.append(_lineage_html(card.lineage, evaluation))
    sections.append("<h2>Parameters and libraries</h2>")
    sections.append(table(["parameter", "value"], [[k, str(v)] for k, v in card.parameters.items()]))
    sections.append(table(["library", "version"], list(card.libraries.items())))
    return page(f"Model card: {card.model} v{card.version}", "".join(sections))


def _parity_html(parity: ParityResult) -> str:
    return "<h2>ONNX parity with scikit-learn</h2>" + table(
        ["rows", "max abs difference", "tolerance", "label agreement", "passed"],
        [[parity.rows, parity.max_abs_diff, parity.tolerance, parity.label_agreement, parity.passed]],
    )


def _groups_html(card: ModelCard) -> list[str]:
    evaluation = card.evaluation
    if not evaluation.groups:
        return []
    sections = [
        f"<h2>By {escape(evaluation.fairness.attribute if evaluation.fairness else 'group')}</h2>",
        table(
            ["group", "rows", evaluation.metric.value, "selection rate", "true positive rate"],
            [
                [g, m.rows, m.metric, m.selection_rate, m.true_positive_rate]
                for g, m in evaluation.groups.items()
            ],
        ),
    ]
    if evaluation.fairness is not None:
        fairness = evaluation.fairness
        sections.append(
            f"<p>Demographic parity gap <b>{_number(fairness.demographic_parity_gap)}</b>, "
            f"equal opportunity gap <b>{_number(fairness.equal_opportunity_gap)}</b>.</p>"
        )
    return sections


def _lineage_html(lineage: Lineage, evaluation: Evaluation) -> str:
    return "<h2>Lineage</h2>" + table(
        ["what", "value"],
        [
            ["dataset sha256", lineage.dataset_sha256],
            ["dataset source", lineage.dataset_source],
            *([["dataset lineage", lineage.dataset_lineage]] if lineage.dataset_lineage else []),
            ["spec sha256", lineage.spec_sha256],
            ["model sha256", lineage.model_sha256],
            ["rows (train / holdout)", f"{lineage.rows_train} / {lineage.rows_holdout}"],
            ["run", lineage.run_id or "—"],
            ["trigger", lineage.trigger or "—"],
            ["trained on", lineage.backend or "—"],
            ["single-row latency (ms, median)", evaluation.latency_ms_single_row],
            ["model size (bytes)", evaluation.model_size_bytes],
        ],
    )


def _live_html(live: LiveQuality) -> str:
    if live.labelled_rows:
        said = ", ".join(f"{name} {value:.3f}" for name, value in live.metrics.items())
        sentence = f"On {live.labelled_rows:,} labelled rows of live traffic: {said}."
    else:
        sentence = "No labelled rows of live traffic yet."
    if live.estimated:
        said = ", ".join(
            f"{name} {value:.3f}"
            + (f" ({band[0]:.3f}–{band[1]:.3f})" if (band := live.estimated_band.get(name)) else "")
            for name, value in live.estimated.items()
        )
        sentence += f" Estimated without labels on {live.estimated_rows:,} captured rows: {said}."
    if live.gate and live.limit is not None:
        sentence += (
            f" Below its gate ({live.gate} {live.limit})."
            if live.below_minimum
            else f" Within its gate ({live.gate} {live.limit})."
        )
    link = f" <a href='{escape(live.report)}'>drift report</a>" if live.report else ""
    return (
        "<h2>Live quality (last drift check)</h2>"
        f"<div class='summary {'bad' if live.below_minimum else 'neutral'}'>{escape(sentence)}</div>"
        f"<p class='muted'>window {escape(live.window_start)} to {escape(live.window_end)}, checked "
        f"{escape(live.checked_at)}.{link}</p>"
    )
