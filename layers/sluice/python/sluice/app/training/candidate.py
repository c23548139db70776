"""The TrainAndPromote steps that make a candidate: the training sequence
(`sluice.domain.training.sequence`) run one step at a time, with the artifacts in S3 between them — plan
the candidate search, cross-validate one candidate (a Map iteration), train the chosen one with its
decision threshold and mitigation, export and check parity, and evaluate it against production.
`sluice.app.training.steps` dispatches to them; `sluice train` runs the same stages in one process
(`sluice.domain.candidate.train_candidate`)."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice.app.data.stored import load_spec, load_table, model_prefix
from sluice.app.ports import Artifacts, CoreDeps
from sluice.domain.registry.records import (
    GateFailureRecord,
    GatesRecord,
    ParityRecord,
    RunState,
    TrainingTask,
)
from sluice.domain.spec.model_spec import AlgorithmSpec
from sluice.domain.training.backend import LambdaLimits
from sluice.domain.training.sequence import Stage
from sluice.errors import ArtifactCorrupt, ArtifactNotFound, ChampionUnverifiable, ParityFailed, SluiceError

logger = logging.getLogger(__name__)

# The state machine's runner of the training sequence: each stage's steps (their `action`), in order.
STEPS_OF_STAGE: dict[Stage, tuple[str, ...]] = {
    Stage.VALIDATE: (),  # IngestFunction validates an upload before it starts a run (a bad one is quarantined)
    Stage.SEARCH: ("plan_search", "cross_validate"),  # a spec without `candidates` plans nothing
    Stage.FIT: ("train",),  # on Fargate: stage_training_task, the same `train` in the container, collect
    Stage.EXPORT: ("export",),
    Stage.ASSESS: ("evaluate",),
}

# StepSettings' defaults (tests and `sluice train` call the steps without settings).
DEFAULT_LAMBDA_LIMITS = LambdaLimits(max_cells=10_000_000, max_bytes=250_000_000)

if TYPE_CHECKING:
    from sluice.domain.data.table import RawTable
    from sluice.domain.spec.model_spec import ModelSpec
    from sluice.domain.training.evaluation import Evaluation
    from sluice.domain.training.pipeline import HoldoutSplit
    from sluice.domain.training.search import CandidateScore, Experiment


def require_version(run: RunState) -> int:
    """The run's version number; raises SluiceError when AllocateVersion has not run."""
    if run.version is None:
        raise SluiceError("the run has no version number (AllocateVersion did not run)")
    return run.version


@dataclass(frozen=True)
class _Inputs:
    spec: ModelSpec
    table: RawTable
    split: HoldoutSplit


def _inputs(run: RunState, artifacts: Artifacts) -> _Inputs:
    """The run's spec (decided as the run's search chose, when it searched), dataset and split."""
    from sluice.domain.training.pipeline import split_holdout

    spec = load_spec(run.spec_uri, artifacts)
    if run.algorithm is not None:
        spec = spec.trained_as(AlgorithmSpec.model_validate(run.algorithm))
    table = load_table(run.dataset_uri, artifacts)
    split = split_holdout(spec, table, recent_holdout_rows=run.recent_holdout_rows)
    return _Inputs(spec=spec, table=table, split=split)


def _recent_weights(run: RunState, inputs: _Inputs) -> Any:
    from sluice.domain.training.pipeline import recent_weights

    return recent_weights(
        inputs.spec,
        inputs.table,
        run.recent_rows,
        run.recent_weight,
        recent_holdout_rows=run.recent_holdout_rows,
    )


def plan_search(
    run: RunState, execution_arn: str, deps: CoreDeps, limits: LambdaLimits | None = None
) -> RunState:
    """A spec with `candidates`: the indices the SearchCandidates Map cross-validates, one task each.
    A spec naming one algorithm plans nothing (the state machine goes straight to Train). Also where
    Train will run (`backend`: lambda, or fargate past `limits` or when the spec asks)."""
    spec = load_spec(run.spec_uri, deps.artifacts)
    update: dict[str, Any] = {"search": None} | _backend_of(run, spec, deps, limits)
    if spec.candidates is not None:
        update["search"] = list(range(len(spec.candidate_algorithms())))
    return run.model_copy(update=update)


def _backend_of(
    run: RunState, spec: ModelSpec, deps: CoreDeps, limits: LambdaLimits | None
) -> dict[str, Any]:
    from sluice.domain.training.backend import DatasetSize, choose_backend

    dataset = deps.registry.get_dataset(run.model, run.dataset_sha256)
    size = DatasetSize(
        rows=dataset.n_rows if dataset else 0,
        columns=len(spec.features),
        size_bytes=dataset.size_bytes if dataset else 0,
    )
    choice = choose_backend(spec.resources, size, limits or DEFAULT_LAMBDA_LIMITS)
    logger.info("training backend", extra={"backend": choice.backend, "why": choice.reason})
    update: dict[str, Any] = {"backend": choice.backend, "backend_reason": choice.reason}
    if choice.cpu is not None and choice.memory is not None:
        prefix = model_prefix(run.model, require_version(run)) + "training-task/"
        update["training_task"] = TrainingTask(
            run_uri=deps.artifacts.uri(prefix + "run.json"),
            result_uri=deps.artifacts.uri(prefix + "result.json"),
            cpu=str(choice.cpu),
            memory=str(choice.memory),
        )
    return update


def cross_validate(run: RunState, candidate: int, deps: CoreDeps) -> CandidateScore:
    """One Map iteration: candidate `candidate` of the spec, cross-validated on the training part with
    the weights training would use."""
    from sluice.domain.training.search import cross_validate as cross_validate_candidate

    inputs = _inputs(run, deps.artifacts)
    return cross_validate_candidate(
        inputs.spec, inputs.split.train, candidate, sample_weight=_training_weights(run, inputs)
    )


def _training_weights(run: RunState, inputs: _Inputs) -> Any:
    from sluice.domain.training.decisions import training_weights

    return training_weights(inputs.spec, inputs.split.train, _recent_weights(run, inputs))


def _record_search(run: RunState, version: int, inputs: _Inputs, deps: CoreDeps) -> Experiment:
    """Choose among the Map's scores, keep every candidate (experiments.json and registry items)."""
    from sluice.domain.training.search import CandidateScore, choose

    scores = [CandidateScore.model_validate(result) for result in run.search_results or []]
    experiment = choose(inputs.spec, scores, rows=inputs.split.train.n_rows, version=str(version))
    deps.registry.record_experiment(run.model, version, experiment)
    logger.info("candidate chosen", extra={"model": run.model, "version": version, "why": experiment.reason})
    return experiment


def train(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """Fit the run's estimator (after a search: the best candidate, recorded with every other) on the
    training rows and store it (pipeline.pkl); a retraining's recent labelled rows weigh
    `recent_weight` each, and reweighing mitigation multiplies its weights in. The decision threshold
    and the unmitigated model's fairness travel in the run for Export and Evaluate."""
    from sluice.domain.candidate import card_parameters
    from sluice.domain.training.decisions import fit_model

    version = require_version(run)
    update: dict[str, Any] = {"search": None, "search_results": None}
    inputs = _inputs(run, deps.artifacts)
    prefix = model_prefix(run.model, version)
    artifacts = dict(run.artifacts)
    if run.search_results is not None:
        experiment = _record_search(run, version, inputs, deps)
        artifacts["experiments"] = deps.artifacts.put_json(
            prefix + "experiments.json", experiment.model_dump(mode="json")
        )
        chosen = inputs.spec.candidate_algorithms()[experiment.chosen or 0]
        update["algorithm"] = chosen.model_dump(mode="json")
        inputs = _Inputs(spec=inputs.spec.trained_as(chosen), table=inputs.table, split=inputs.split)
    fitted = fit_model(inputs.spec, inputs.split, _recent_weights(run, inputs))
    artifacts["pipeline"] = deps.artifacts.put_bytes(prefix + "pipeline.pkl", pickle.dumps(fitted.pipeline))
    return run.model_copy(
        update=update
        | {
            "artifacts": artifacts,
            "card_parameters": card_parameters(fitted.pipeline),
            "n_train": inputs.split.train.n_rows,
            "n_holdout": inputs.split.holdout.n_rows,
            "threshold": fitted.threshold.model_dump(mode="json") if fitted.threshold else None,
            "fairness_before": fitted.unmitigated.model_dump(mode="json") if fitted.unmitigated else None,
        }
    )


def _threshold_value(run: RunState) -> float | None:
    return float(run.threshold["value"]) if run.threshold else None


def export_and_check_parity(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """Export the stored pipeline to ONNX (its `label` deciding at the run's threshold) and record its
    parity (parity.json); raises ParityFailed when the export does not reproduce scikit-learn, else
    stores model.onnx and what serving and the drift check read beside it: the reference sample, the
    background explanations are computed against (`store_background`), the data-quality baseline
    (statistics.json, constraints.json: `store_quality_baseline`) and what performance is estimated from
    without labels (estimation.json, learnt on the holdout: `store_estimation`)."""
    # Imported here: they need numpy, which RegisterFunction (which imports this module) does not have.
    from sluice.app.training.background import BACKGROUND_ARTIFACT, store_background
    from sluice.app.training.estimation import store_estimation
    from sluice.app.training.quality_baseline import store_quality_baseline
    from sluice.domain.candidate import export_candidate

    version = require_version(run)
    inputs = _inputs(run, deps.artifacts)
    pipeline = pickle.loads(deps.artifacts.get_verified(run.artifacts["pipeline"]))
    exported = export_candidate(
        pipeline, inputs.spec, inputs.split, version=str(version), threshold=_threshold_value(run)
    )
    parity = exported.parity
    prefix = model_prefix(run.model, version)
    deps.artifacts.put_json(prefix + "parity.json", parity.model_dump(mode="json"))
    if not parity.passed:
        raise ParityFailed(
            "ONNX export does not match scikit-learn on the holdout: "
            f"max_abs_diff={parity.max_abs_diff:.3g}, label_agreement={parity.label_agreement:.4f}"
        )
    model = deps.artifacts.put_bytes(prefix + "model.onnx", exported.onnx_model)
    reference = deps.artifacts.put_bytes(prefix + "reference.csv.gz", exported.reference, "application/gzip")
    estimation = store_estimation(
        deps.artifacts, prefix, inputs.spec, exported.onnx_model, inputs.split.holdout, version
    )
    background = store_background(deps.artifacts, prefix, inputs.spec, inputs.split.train)
    record = ParityRecord(
        passed=parity.passed, max_abs_diff=parity.max_abs_diff, label_agreement=parity.label_agreement
    )
    baseline = store_quality_baseline(inputs.spec, inputs.table, prefix, deps.artifacts)
    return run.model_copy(
        update={
            "artifacts": run.artifacts
            | {"model": model, "reference": reference, BACKGROUND_ARTIFACT: background}
            | estimation
            | baseline,
            "parity": record,
        }
    )


def _decisions(run: RunState, deps: CoreDeps) -> dict[str, Any]:
    """What Train decided, as the card shows it: the search, the threshold, the fairness before."""
    from sluice.domain.training.decisions import FairnessSnapshot, ThresholdChoice
    from sluice.domain.training.search import Experiment

    experiment = None
    if "experiments" in run.artifacts:
        experiment = Experiment.model_validate_json(deps.artifacts.get_verified(run.artifacts["experiments"]))
    return {
        "experiment": experiment,
        "threshold": ThresholdChoice.model_validate(run.threshold) if run.threshold else None,
        "unmitigated": FairnessSnapshot.model_validate(run.fairness_before) if run.fairness_before else None,
    }


def evaluate_challenger(run: RunState, execution_arn: str, deps: CoreDeps) -> RunState:
    """Challenger and current production on the challenger's holdout (and on a retraining's recent
    holdout), then the gates, the card and evaluation.json. The production version read here is the
    one promotion will expect (a conditional write)."""
    from sluice.domain.candidate import Origin, assess_candidate
    from sluice.domain.reports.card import render_card_html
    from sluice.domain.training.export import ParityResult

    version = require_version(run)
    inputs = _inputs(run, deps.artifacts)
    prefix = model_prefix(run.model, version)
    challenger = deps.artifacts.get_verified(run.artifacts["model"])
    alias = deps.registry.get_alias(run.model)
    champion = champion_recent = None
    if alias is not None and alias.version != version:
        champion, champion_recent = _comparable_champion(run.model, alias.version, inputs, deps)
    dataset = deps.registry.get_dataset(run.model, run.dataset_sha256)
    assessment = assess_candidate(
        inputs.spec,
        inputs.split,
        challenger,
        version=str(version),
        origin=Origin(
            dataset_sha256=run.dataset_sha256,
            dataset_source=run.dataset_uri,
            spec_sha256=run.spec_sha256,
            run_id=execution_arn,
            trigger=run.trigger.value,
            dataset_lineage=dataset.lineage if dataset else None,
            backend=run.backend,
        ),
        parameters=run.card_parameters,
        parity=ParityResult.model_validate_json(
            deps.artifacts.get_bytes(deps.artifacts.uri(prefix + "parity.json"))
        ),
        champion=champion,
        champion_version=alias.version if alias else None,
        champion_recent=champion_recent,
        rollout=inputs.spec.rollout.mode.value if inputs.spec.rollout else "auto",
        **_decisions(run, deps),
    )
    evaluation = deps.artifacts.put_json(prefix + "evaluation.json", assessment.document)
    card_json = deps.artifacts.put_bytes(
        prefix + "card.json", assessment.card.model_dump_json(indent=2).encode(), "application/json"
    )
    card_html = deps.artifacts.put_bytes(
        prefix + "card.html", render_card_html(assessment.card).encode(), "text/html"
    )
    gates = assessment.gates
    return run.model_copy(
        update={
            "metrics": dict(assessment.evaluation.metrics),
            "champion_version": alias.version if alias else None,
            "champion_metrics": dict(champion.metrics) if champion else {},
            "gates": GatesRecord(
                passed=gates.passed,
                failed=[GateFailureRecord(gate=f.gate, value=f.value, limit=f.limit) for f in gates.failed],
            ),
            "artifacts": run.artifacts
            | {"evaluation": evaluation, "card": card_json, "card_html": card_html},
            "conflict": None,
        }
    )


def _comparable_champion(
    model: str, version: int, inputs: _Inputs, deps: CoreDeps
) -> tuple[Evaluation | None, Evaluation | None]:
    """The production version's scores on the challenger's holdout and on its recent holdout (None
    without one), or None when it cannot score them (its spec changed): the challenger then faces the
    absolute gates only, and the card says so."""
    from sluice.domain.candidate import score_champion

    champion_model = _verified_champion(model, version, deps)
    try:
        usual = score_champion(champion_model, inputs.spec, inputs.split.holdout)
        recent = inputs.split.recent
        return usual, score_champion(champion_model, inputs.spec, recent) if recent is not None else None
    except (SluiceError, KeyError, ValueError) as exc:
        logger.warning("champion not comparable", extra={"champion": version, "error": str(exc)})
        return None, None


def _verified_champion(model: str, version: int, deps: CoreDeps) -> bytes:
    """The production model's bytes, checked against the registry's sha256. A champion that cannot be
    verified stops the run (ChampionUnverifiable → rejected, alarm, notification; the entry point counts
    it in ModelIntegrityFailures): comparing with
    nothing would switch the regression gate off."""
    record = deps.registry.get_version(model, version)
    try:
        return deps.artifacts.get_verified(record.artifacts["model"])
    except (ArtifactCorrupt, ArtifactNotFound, KeyError) as exc:
        detail = "no model artifact recorded" if isinstance(exc, KeyError) else str(exc)
        logger.error("champion cannot be verified", extra={"model": model, "champion": version})
        raise ChampionUnverifiable(f"champion version {version} cannot be verified ({detail})") from exc
