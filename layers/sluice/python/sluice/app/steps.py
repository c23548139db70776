"""The TrainAndPromote state machine's steps, one function per task state: allocate a version, train,
export and check parity, evaluate against production, then promote, reject or fail. Handlers parse
their event and call `run_step`."""

from __future__ import annotations

import contextlib
import json
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sluice.app.live_rollout import (
    begin_live_rollout,
    check_live_rollout,
    comparison_of,
    end_live_rollout,
    finished_rollout,
)
from sluice.app.ports import Artifacts, Services
from sluice.app.rollout import approval_refusal, plan_rollout, request_approval
from sluice.app.stored import load_spec, load_table, model_prefix
from sluice.domain.records import (
    AuditEvent,
    EventType,
    GateFailureRecord,
    GatesRecord,
    ModelVersion,
    ParityRecord,
    RunState,
    TaskEvent,
    VersionStatus,
)
from sluice.errors import (
    ArtifactCorrupt,
    ArtifactNotFound,
    ChampionUnverifiable,
    ParityFailed,
    SluiceError,
)
from sluice.observability import logger, metrics

if TYPE_CHECKING:
    from sluice.domain.evaluation import Evaluation
    from sluice.domain.spec import ModelSpec
    from sluice.domain.table import RawTable
    from sluice.domain.training import HoldoutSplit


def _require_version(run: RunState) -> int:
    if run.version is None:
        raise SluiceError("the run has no version number (AllocateVersion did not run)")
    return run.version


def run_step(event: TaskEvent, services: Services) -> RunState:
    """Dispatch a TrainAndPromote task by its action."""
    steps = {
        "allocate": allocate_version,
        "train": train,
        "export": export_and_check_parity,
        "evaluate": evaluate_challenger,
        "promote": promote,
        "reject": reject,
        "fail": fail,
        "plan_rollout": plan_rollout,
        "await_approval": lambda run, arn, svc: await_approval(run, arn, svc, event.task_token),
        "start_rollout": start_rollout,
        "check_rollout": check_live_rollout,
    }
    try:
        step = steps[event.action]
    except KeyError:
        raise SluiceError(f"unknown action {event.action!r}; expected one of {sorted(steps)}") from None
    return step(event.run, event.execution_arn, services)


def allocate_version(run: RunState, execution_arn: str, services: Services) -> RunState:
    """The run's version number, allocated once per execution: a retried task gets the same one."""
    version = services.registry.allocate_version(
        run.model,
        execution_arn.rsplit(":", 1)[-1],
        trigger=run.trigger,
        execution_arn=execution_arn,
        dataset_sha256=run.dataset_sha256,
        dataset_uri=run.dataset_uri,
        spec_sha256=run.spec_sha256,
    )
    return run.model_copy(update={"version": version, "status": VersionStatus.TRAINING})


@dataclass(frozen=True)
class _Inputs:
    spec: ModelSpec
    table: RawTable
    split: HoldoutSplit


def _inputs(run: RunState, artifacts: Artifacts) -> _Inputs:
    from sluice.domain.training import split_holdout

    spec = load_spec(run.spec_uri, artifacts)
    table = load_table(run.dataset_uri, artifacts)
    split = split_holdout(spec, table, recent_holdout_rows=run.recent_holdout_rows)
    return _Inputs(spec=spec, table=table, split=split)


def train(run: RunState, execution_arn: str, services: Services) -> RunState:
    """Fit the spec's pipeline on the training rows and store it (pipeline.pkl); a retraining's recent
    labelled rows (the run's `recent_rows`, less the recent holdout) weigh `recent_weight` each. The run carries the estimator's
    parameters for the card Evaluate writes."""
    from sluice.domain.candidate import card_parameters
    from sluice.domain.training import fit_pipeline, recent_weights

    version = _require_version(run)
    inputs = _inputs(run, services.artifacts)
    weights = recent_weights(
        inputs.spec,
        inputs.table,
        run.recent_rows,
        run.recent_weight,
        recent_holdout_rows=run.recent_holdout_rows,
    )
    pipeline = fit_pipeline(inputs.spec, inputs.split.train, weights)
    stored = services.artifacts.put_bytes(
        model_prefix(run.model, version) + "pipeline.pkl", pickle.dumps(pipeline)
    )
    return run.model_copy(
        update={
            "artifacts": run.artifacts | {"pipeline": stored},
            "card_parameters": card_parameters(pipeline),
            "n_train": inputs.split.train.n_rows,
            "n_holdout": inputs.split.holdout.n_rows,
        }
    )


def export_and_check_parity(run: RunState, execution_arn: str, services: Services) -> RunState:
    """Export the stored pipeline to ONNX and record its parity (parity.json); raises ParityFailed when
    the export does not reproduce scikit-learn, else stores model.onnx and the reference sample."""
    from sluice.domain.candidate import export_candidate

    version = _require_version(run)
    inputs = _inputs(run, services.artifacts)
    pipeline = pickle.loads(services.artifacts.get_verified(run.artifacts["pipeline"]))
    exported = export_candidate(pipeline, inputs.spec, inputs.split, version=str(version))
    parity = exported.parity
    prefix = model_prefix(run.model, version)
    services.artifacts.put_json(prefix + "parity.json", parity.model_dump(mode="json"))
    if not parity.passed:
        raise ParityFailed(
            "ONNX export does not match scikit-learn on the holdout: "
            f"max_abs_diff={parity.max_abs_diff:.3g}, label_agreement={parity.label_agreement:.4f}"
        )
    model = services.artifacts.put_bytes(prefix + "model.onnx", exported.onnx_model)
    reference = services.artifacts.put_bytes(
        prefix + "reference.csv.gz", exported.reference, "application/gzip"
    )
    record = ParityRecord(
        passed=parity.passed, max_abs_diff=parity.max_abs_diff, label_agreement=parity.label_agreement
    )
    return run.model_copy(
        update={"artifacts": run.artifacts | {"model": model, "reference": reference}, "parity": record}
    )


def evaluate_challenger(run: RunState, execution_arn: str, services: Services) -> RunState:
    """Challenger and current production on the challenger's holdout (and on a retraining's recent
    holdout), then the gates, the card and evaluation.json. The production version read here is the one promotion will expect (a conditional
    write)."""
    from sluice.domain.candidate import Origin, assess_candidate
    from sluice.domain.card import render_card_html
    from sluice.domain.export import ParityResult

    version = _require_version(run)
    inputs = _inputs(run, services.artifacts)
    prefix = model_prefix(run.model, version)
    challenger = services.artifacts.get_verified(run.artifacts["model"])
    alias = services.registry.get_alias(run.model)
    champion = champion_recent = None
    if alias is not None and alias.version != version:
        champion, champion_recent = _comparable_champion(run.model, alias.version, inputs, services)
    dataset = services.registry.get_dataset(run.model, run.dataset_sha256)
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
        ),
        parameters=run.card_parameters,
        parity=ParityResult.model_validate_json(
            services.artifacts.get_bytes(services.artifacts.uri(prefix + "parity.json"))
        ),
        champion=champion,
        champion_version=alias.version if alias else None,
        champion_recent=champion_recent,
    )
    evaluation = services.artifacts.put_json(prefix + "evaluation.json", assessment.document)
    card_json = services.artifacts.put_bytes(
        prefix + "card.json", assessment.card.model_dump_json(indent=2).encode(), "application/json"
    )
    card_html = services.artifacts.put_bytes(
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
    model: str, version: int, inputs: _Inputs, services: Services
) -> tuple[Evaluation | None, Evaluation | None]:
    """The production version's scores on the challenger's holdout and on its recent holdout (None
    without one), or None when it cannot score them (its spec changed): the challenger then faces the
    absolute gates only, and the card says so."""
    from sluice.domain.candidate import score_champion

    champion_model = _verified_champion(model, version, services)
    try:
        usual = score_champion(champion_model, inputs.spec, inputs.split.holdout)
        recent = inputs.split.recent
        return usual, score_champion(champion_model, inputs.spec, recent) if recent is not None else None
    except (SluiceError, KeyError, ValueError) as exc:
        logger.warning("champion not comparable", extra={"champion": version, "error": str(exc)})
        return None, None


def _verified_champion(model: str, version: int, services: Services) -> bytes:
    """The production model's bytes, checked against the registry's sha256. A champion that cannot be
    verified stops the run (ChampionUnverifiable → rejected, alarm, notification): comparing with
    nothing would switch the regression gate off."""
    record = services.registry.get_version(model, version)
    try:
        return services.artifacts.get_verified(record.artifacts["model"])
    except (ArtifactCorrupt, ArtifactNotFound, KeyError) as exc:
        metrics.add_metric(name="ModelIntegrityFailures", unit="Count", value=1)
        detail = "no model artifact recorded" if isinstance(exc, KeyError) else str(exc)
        logger.error("champion cannot be verified", extra={"model": model, "champion": version})
        raise ChampionUnverifiable(f"champion version {version} cannot be verified ({detail})") from exc


def _decided_record(
    run: RunState, services: Services, status: VersionStatus, reason: str | None
) -> ModelVersion:
    version = _require_version(run)
    current = services.registry.get_version(run.model, version)
    return current.model_copy(
        update={
            "status": status,
            "metrics": run.metrics,
            "champion_version": run.champion_version,
            "champion_metrics": run.champion_metrics,
            "gates": run.gates,
            "parity": run.parity,
            "artifacts": {k: v for k, v in run.artifacts.items() if k != "pipeline"},
            "reason": reason,
        }
    )


def promote(run: RunState, execution_arn: str, services: Services) -> RunState:
    """Conditional write of the production alias, expecting the version Evaluate compared against.
    Raises PromotionConflict when it moved (the state machine then evaluates again)."""
    record = _decided_record(run, services, VersionStatus.PRODUCTION, None)
    details: dict[str, object] = {"metrics": run.metrics, "champion_metrics": run.champion_metrics}
    comparison = comparison_of(run, services)
    if comparison is not None:
        details["rollout"] = {"mode": comparison.mode, **comparison.summary()}
    event = AuditEvent.of_run(
        run,
        EventType.PROMOTED,
        execution_arn,
        from_version=run.champion_version,
        to_version=record.version,
        version=record.version,
        reason=_promotion_reason(run),
        details=details,
    )
    services.registry.promote(
        record, expected=run.champion_version, event=event, rollout=finished_rollout(run, services)
    )
    logger.info(
        "promoted", extra={"model": run.model, "version": record.version, "from": run.champion_version}
    )
    return run.model_copy(update={"status": VersionStatus.PRODUCTION, "reason": event.reason})


def _promotion_reason(run: RunState) -> str:
    if run.rollout is not None and run.rollout.decision == "promote" and run.rollout.reason:
        return run.rollout.reason
    if run.champion_version is None:
        return "first version to pass its gates"
    if not run.champion_metrics:
        return f"passed its gates; version {run.champion_version} could not be compared on this holdout"
    return f"passed its gates against version {run.champion_version} on the same holdout"


def await_approval(
    run: RunState, execution_arn: str, services: Services, task_token: str | None = None
) -> RunState:
    """Manual rollout: the version waits for a person as pending_approval, with the task token its
    execution waits on (app/rollout.py `request_approval`)."""
    decided = _decided_record(run, services, VersionStatus.PENDING_APPROVAL, None)
    return request_approval(run, decided, execution_arn, task_token, services)


def start_rollout(run: RunState, execution_arn: str, services: Services) -> RunState:
    """Shadow or canary: the version, with its evaluation, goes beside production (app/live_rollout.py)."""
    decided = _decided_record(run, services, VersionStatus.CANDIDATE, None)
    return begin_live_rollout(run, decided, execution_arn, services)


def rejection_reason(run: RunState) -> str:
    """Why a run was rejected: a live rollout's roll-back, a person's refusal, the failed gates, or the
    domain error the state machine caught."""
    if run.rollout is not None and run.rollout.decision == "roll_back" and run.rollout.reason:
        return run.rollout.reason
    refusal = approval_refusal(run.error)
    if refusal:
        return refusal
    if run.error:
        cause = run.error.get("Cause") or ""
        message = cause
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(cause).get("errorMessage", cause)
        return f"{run.error.get('Error', 'Error')}: {message}"
    if run.gates and run.gates.failed:
        return "gates failed: " + "; ".join(
            f"{f.gate} (value {f.value}, limit {f.limit})" for f in run.gates.failed
        )
    return "did not pass its gates"


def _rejection_details(run: RunState, services: Services) -> dict[str, object]:
    details: dict[str, object] = {"failed_gates": [f.gate for f in run.gates.failed] if run.gates else []}
    comparison = comparison_of(run, services)
    if comparison is not None:
        details["rollout"] = {"mode": comparison.mode, **comparison.summary()}
    return details


def reject(run: RunState, execution_arn: str, services: Services) -> RunState:
    """The version is marked rejected, its failed gates or the caught error as the reason (production is
    not touched)."""
    reason = rejection_reason(run)
    end_live_rollout(run, reason, services)
    record = _decided_record(run, services, VersionStatus.REJECTED, reason)
    services.registry.decide(
        record,
        AuditEvent.of_run(
            run,
            EventType.REJECTED,
            execution_arn,
            version=record.version,
            reason=reason,
            details=_rejection_details(run, services),
        ),
    )
    logger.info("rejected", extra={"model": run.model, "version": record.version, "reason": reason})
    return run.model_copy(update={"status": VersionStatus.REJECTED, "reason": reason})


def fail(run: RunState, execution_arn: str, services: Services) -> RunState:
    """An unexpected error: the version is marked failed (production is not touched)."""
    reason = rejection_reason(run) if run.error else "unexpected failure"
    event = AuditEvent.of_run(
        run,
        EventType.FAILED,
        execution_arn,
        version=run.version,
        reason=reason,
    )
    if run.version is None:
        services.registry.append_event(event)
    else:
        end_live_rollout(run, reason, services)
        services.registry.decide(_decided_record(run, services, VersionStatus.FAILED, reason), event)
    return run.model_copy(update={"status": VersionStatus.FAILED, "reason": reason})
