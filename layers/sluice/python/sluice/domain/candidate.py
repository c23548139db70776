"""A candidate: a model trained on one dataset, exported to ONNX with its parity proven, and assessed on
its holdout against the champion — a model that may become a version.

The training sequence is defined once (`sluice.domain.training.sequence`), and written here, one function
per stage: validate the
table, search the spec's candidates (when it lists them), fit, export and check parity, assess. It has
two runners: `train_candidate` runs every stage in one process (`sluice train`), and the TrainAndPromote
state machine runs them one step at a time with the artifacts in S3 between them
(`sluice.app.training.candidate.STEPS_OF_STAGE` names each stage's steps; a test holds the state
machine's definition to this order)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sklearn.pipeline import Pipeline

from sluice.domain.data.table import RawTable
from sluice.domain.data.validation import ValidationFailed, ValidationReport, validate_table
from sluice.domain.explain.summary import mean_abs_contributions
from sluice.domain.monitoring.reference import reference_sample
from sluice.domain.reports.card import Lineage, ModelCard, RecentHoldout, build_card
from sluice.domain.spec.model_spec import ModelSpec
from sluice.domain.training.baseline import baseline_metrics
from sluice.domain.training.decisions import (
    FairnessSnapshot,
    MitigationReport,
    ThresholdChoice,
    fit_model,
    mitigation_report,
)
from sluice.domain.training.evaluation import Evaluation, GateResult, apply_gates, evaluate
from sluice.domain.training.export import ParityResult, check_parity, export_onnx
from sluice.domain.training.pipeline import HoldoutSplit, split_holdout
from sluice.errors import SearchFailed, SpecError

if TYPE_CHECKING:
    from sluice.domain.training.search import Experiment

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Export:
    """A fitted pipeline in ONNX, how closely it reproduces scikit-learn on the holdout, and the
    reference sample later drift checks compare traffic with."""

    onnx_model: bytes
    parity: ParityResult
    reference: bytes


@dataclass(frozen=True)
class Origin:
    """Where a candidate comes from: its dataset and spec, and the run and trigger that trained it
    (None for `sluice train`)."""

    dataset_sha256: str
    dataset_source: str
    spec_sha256: str
    run_id: str | None = None
    trigger: str | None = None
    dataset_lineage: str | None = None
    backend: str | None = None  # where Train ran: lambda | fargate


@dataclass(frozen=True)
class Assessment:
    """The candidate's scores and the champion's on the same holdout, the gates, the card, and the
    evaluation document (evaluation.json) that records them."""

    evaluation: Evaluation
    champion: Evaluation | None
    gates: GateResult
    card: ModelCard
    document: dict[str, Any]


@dataclass(frozen=True)
class Candidate:
    """Everything `train_candidate` produced. `onnx_model` is set only when the export passed parity.
    `threshold`: the decision threshold its `label` uses (None: scikit-learn's predict); `unmitigated`
    and `mitigation`: the model without mitigation and what mitigation changed (None without one)."""

    spec: ModelSpec
    version: str
    validation: ValidationReport
    parity: ParityResult
    evaluation: Evaluation
    champion: Evaluation | None
    gates: GateResult
    card: ModelCard
    evaluation_document: dict[str, Any]
    onnx_model: bytes | None
    reference: bytes
    threshold: ThresholdChoice | None = None
    unmitigated: FairnessSnapshot | None = None
    mitigation: MitigationReport | None = None
    experiment: Experiment | None = None  # the search, when the spec listed candidates

    @property
    def servable(self) -> bool:
        return self.onnx_model is not None


def card_parameters(pipeline: Pipeline) -> dict[str, Any]:
    """The fitted estimator's own parameters as it was trained — the spec's params, Sluice's defaults
    and scikit-learn's — sorted by name, each a JSON scalar (anything else, and a non-finite float,
    as its repr), so they fit the card and the state machine's payload alike."""
    estimator = pipeline.steps[-1][1]
    return {name: _json_scalar(value) for name, value in sorted(estimator.get_params(deep=False).items())}


def _json_scalar(value: Any) -> str | int | float | bool | None:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return repr(value)


def export_candidate(
    pipeline: Pipeline, spec: ModelSpec, split: HoldoutSplit, *, version: str, threshold: float | None = None
) -> Export:
    """Export a fitted pipeline to ONNX with its `label` decided at `threshold` (None: scikit-learn's
    predict), check parity on the holdout at that threshold and sample the training rows with the
    exported model's predictions. A parity failure is reported in `parity`, never raised; raises
    ExportFailed when skl2onnx cannot convert."""
    onnx_model = export_onnx(pipeline, spec, version=version, threshold=threshold)
    return Export(
        onnx_model=onnx_model,
        parity=check_parity(pipeline, onnx_model, spec, split.holdout, threshold),
        reference=reference_sample(spec, split.train, onnx_model),
    )


def score_champion(champion_model: bytes, spec: ModelSpec, holdout: RawTable) -> Evaluation:
    """The champion's scores on the candidate's holdout (without the detailed parts). Raises what the
    evaluation raises when the champion cannot score this holdout (its spec changed)."""
    return evaluate(champion_model, spec, holdout, detailed=False)


def assess_candidate(
    spec: ModelSpec,
    split: HoldoutSplit,
    onnx_model: bytes,
    *,
    version: str,
    origin: Origin,
    parameters: dict[str, Any],
    parity: ParityResult,
    champion: Evaluation | None = None,
    champion_version: int | None = None,
    champion_recent: Evaluation | None = None,
    threshold: ThresholdChoice | None = None,
    unmitigated: FairnessSnapshot | None = None,
    experiment: Experiment | None = None,
    rollout: str | None = None,
) -> Assessment:
    """Score the candidate on its holdout, apply the spec's gates against the champion's scores on the
    same holdout (see `score_champion`; None: absolute gates only), and build its card and evaluation
    document. `parameters` come from `card_parameters`. A retraining's split has a recent holdout: the
    candidate (and the champion, `champion_recent`) are scored on it too, and the metric gates judge on
    it when it has the spec's `retraining.min_labelled_rows` rows and a score (fairness stays on the
    usual holdout: labelled traffic carries no sensitive attribute). The card also shows what training
    decided (`threshold`, the `unmitigated` model's fairness beside this one's, the search's
    `experiment`), a trivial baseline, and what happens next if the gates pass (`rollout`: the mode;
    None for `sluice train`, where nothing is promoted)."""
    evaluation = evaluate(onnx_model, spec, split.holdout)
    evaluation.mean_abs_contributions = mean_abs_contributions(onnx_model, spec, split.train, split.holdout)
    recent = _recent_holdout(spec, split, onnx_model, champion_recent)
    if recent is not None and recent.counted:
        judged = recent.evaluation.model_copy(update={"fairness": evaluation.fairness})
        gates = apply_gates(spec, judged, recent.champion if champion is not None else None)
    else:
        gates = apply_gates(spec, evaluation, champion)
    lineage = Lineage(
        dataset_sha256=origin.dataset_sha256,
        dataset_source=origin.dataset_source,
        spec_sha256=origin.spec_sha256,
        rows_train=split.train.n_rows,
        rows_holdout=split.holdout.n_rows,
        model_sha256=evaluation.model_sha256,
        run_id=origin.run_id,
        trigger=origin.trigger,
        dataset_lineage=origin.dataset_lineage,
        backend=origin.backend,
    )
    card = build_card(
        spec=spec,
        version=version,
        lineage=lineage,
        parameters=parameters,
        parity=parity,
        evaluation=evaluation,
        gates=gates,
        champion=champion,
        recent_holdout=recent,
        champion_version=champion_version,
        baseline=baseline_metrics(spec, split.train, split.holdout),
        threshold=threshold,
        mitigation=mitigation_report(spec, unmitigated, evaluation) if unmitigated else None,
        experiment=experiment,
        rollout=rollout,
    )
    document = {
        "evaluation": evaluation.model_dump(mode="json"),
        "champion": champion.model_dump(mode="json") if champion else None,
        "champion_version": champion_version,
        "gates": gates.model_dump(mode="json"),
        "parity": parity.model_dump(mode="json"),
        "baseline": card.baseline,
        "threshold": threshold.model_dump(mode="json") if threshold else None,
        "mitigation": card.mitigation.model_dump(mode="json") if card.mitigation else None,
    }
    if recent is not None:
        document["recent_holdout"] = recent.model_dump(mode="json")
    return Assessment(evaluation=evaluation, champion=champion, gates=gates, card=card, document=document)


def _recent_holdout(
    spec: ModelSpec, split: HoldoutSplit, onnx_model: bytes, champion_recent: Evaluation | None
) -> RecentHoldout | None:
    """The candidate's scores on the split's recent holdout, None without one. It counts for the gates
    when it has `min_labelled_rows` rows and the primary metric is defined on it (for the champion too,
    when there is one)."""
    if split.recent is None or split.recent.n_rows == 0:
        return None
    min_rows = spec.retraining.min_labelled_rows if spec.retraining else 0
    evaluation = evaluate(onnx_model, spec, split.recent, detailed=False)
    scored = evaluation.primary is not None and (
        champion_recent is None or champion_recent.primary is not None
    )
    return RecentHoldout(
        rows=split.recent.n_rows,
        min_rows=min_rows,
        counted=split.recent.n_rows >= min_rows and scored,
        evaluation=evaluation,
        champion=champion_recent,
    )


def search_candidates(
    spec: ModelSpec, train: RawTable, *, workers: int | None, version: str, progress: Progress = _quiet
) -> tuple[ModelSpec, Experiment]:
    """The search stage: cross-validate each of the spec's candidates on the training rows, weighted as
    the fit will weigh them, in `workers` processes (None: one per CPU), and choose. Returns the spec
    `trained_as` the chosen candidate, and the experiment. Raises SearchFailed when no candidate could
    be scored."""
    from sluice.domain.training.decisions import training_weights
    from sluice.domain.training.search import search

    candidates = spec.candidate_algorithms()
    progress(
        f"searching {len(candidates)} candidates: {spec.folds}-fold cross-validation on "
        f"{train.n_rows} training rows"
    )
    try:
        experiment = search(
            spec,
            train,
            sample_weight=training_weights(spec, train, None),
            workers=workers,
            progress=progress,
            version=version,
        )
    except SpecError as exc:
        raise SearchFailed(str(exc)) from exc
    assert experiment.chosen is not None  # search raises when nothing could be chosen
    progress(f"chose [{experiment.chosen}]: {experiment.reason}")
    return spec.trained_as(candidates[experiment.chosen]), experiment


def train_candidate(
    spec: ModelSpec,
    table: RawTable,
    *,
    dataset_sha256: str,
    version: str,
    champion_model: bytes | None = None,
    search_workers: int | None = None,
    progress: Progress = _quiet,
) -> Candidate:
    """The training sequence in one process, every stage in order: validate, search (when the spec lists
    `candidates`, in `search_workers` processes), fit (with the spec's threshold and mitigation, see
    `decisions.fit_model`), export and check parity, assess.
    Raises ValidationFailed (carrying the report) for bad data, SearchFailed when no candidate could be
    scored, SpecError for unusable algorithm params and ExportFailed when skl2onnx cannot convert; a
    parity failure is not raised but leaves `onnx_model` unset."""
    progress(f"validating {table.n_rows} rows against spec '{spec.name}'")
    validation = validate_table(spec, table)
    if not validation.passed:
        raise ValidationFailed(f"{table.source}: data does not match the spec", validation)
    split = split_holdout(spec, table)
    experiment = None
    if spec.candidates is not None:
        spec, experiment = search_candidates(
            spec, split.train, workers=search_workers, version=version, progress=progress
        )
    progress(
        f"training {spec.estimator.name.value} on {split.train.n_rows} rows ({split.holdout.n_rows} held out)"
    )
    fitted = fit_model(spec, split, None)
    pipeline = fitted.pipeline
    threshold = None
    if fitted.threshold is not None:
        threshold = fitted.threshold.value
        progress(f"deciding at threshold {threshold:.3f} ({fitted.threshold.objective})")
    progress("exporting to ONNX and checking parity with scikit-learn")
    exported = export_candidate(pipeline, spec, split, version=version, threshold=threshold)
    progress(f"evaluating on the holdout{' against the champion' if champion_model else ''}")
    champion = score_champion(champion_model, spec, split.holdout) if champion_model else None
    assessment = assess_candidate(
        spec,
        split,
        exported.onnx_model,
        version=version,
        origin=Origin(dataset_sha256=dataset_sha256, dataset_source=table.source, spec_sha256=spec.sha256),
        parameters=card_parameters(pipeline),
        parity=exported.parity,
        champion=champion,
        threshold=fitted.threshold,
        unmitigated=fitted.unmitigated,
        experiment=experiment,
    )
    return Candidate(
        spec=spec,
        version=version,
        validation=validation,
        parity=exported.parity,
        evaluation=assessment.evaluation,
        champion=assessment.champion,
        gates=assessment.gates,
        card=assessment.card,
        evaluation_document=assessment.document,
        onnx_model=exported.onnx_model if exported.parity.passed else None,
        reference=exported.reference,
        threshold=fitted.threshold,
        unmitigated=fitted.unmitigated,
        mitigation=assessment.card.mitigation,
        experiment=experiment,
    )
