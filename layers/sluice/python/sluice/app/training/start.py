"""Starting a TrainAndPromote run: one way for an upload, the drift check and `sluice models train`, so
every start gets the same execution name rules and the same audit event."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sluice.app.data.stored import load_spec
from sluice.app.ports import CoreDeps, Registry, TrainingDeps
from sluice.domain.registry.records import (
    AuditEvent,
    DatasetKind,
    DatasetRecord,
    EventType,
    ModelVersion,
    Principal,
    RunState,
    Trigger,
    VersionStatus,
    new_event_id,
    utc_now,
)
from sluice.domain.spec.model_spec import RetrainingSpec
from sluice.errors import (
    ModelNotFound,
)

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    pass

EXECUTION_NAME_MAX = 80
# A version in one of these vouches for its dataset: it passed its gates.
VOUCHING = frozenset({VersionStatus.PRODUCTION, VersionStatus.ARCHIVED, VersionStatus.CANDIDATE})
# A version in one of these, and none vouching, condemns its dataset: rejected (its gates, or the data
# itself: validation, parity). A failed run (an unexpected error: a throttled service, a timeout) says
# nothing about its data, which `sluice models train` must be able to train again.
CONDEMNING = frozenset({VersionStatus.REJECTED})


def execution_name(
    model: str, dataset_sha256: str, spec_sha256: str, trigger: Trigger, nonce: str | None = None
) -> str:
    """Upload runs are named by model, dataset hash and spec hash, so a duplicate S3 event cannot train
    twice, while the same data under a fixed spec trains again. Manual and drift runs add the trigger,
    the time and a nonce, so a retry is always a new run (the caller decides how often one may start).
    Step Functions allows 80 characters."""
    if trigger is Trigger.UPLOAD:
        return f"{model[:48]}-{dataset_sha256[:16]}-{spec_sha256[:12]}"
    stamp = utc_now().replace("-", "").replace(":", "")[:15]  # 20261201T211500
    suffix = f"-{trigger.value}-{stamp}-{nonce or new_event_id()[:6]}"
    return f"{model[:36]}-{dataset_sha256[:8]}{suffix}"[:EXECUTION_NAME_MAX]


def start_training(
    run: RunState,
    deps: TrainingDeps,
    nonce: str | None = None,
    *,
    by: Principal | None = None,
    note: str | None = None,
) -> Any:
    """Start TrainAndPromote for a run; a second start of the same upload run is a no-op (`started`
    False). Its `training_started` audit event is written once per execution name, whether or not this
    call started the execution: a start whose invocation stopped before recording it is recorded by the
    invocation run again (whose start finds the execution there), and the registry's record of the
    start tells a repeat apart even from an `Executions` that answered it as started. A person's start
    records `by` (their principal) and `note` in the event."""
    name = execution_name(run.model, run.dataset_sha256, run.spec_sha256, run.trigger, nonce)
    started = deps.executions.start(
        name, run.model_dump(mode="json", exclude_defaults=True) | {"trigger": run.trigger.value}
    )
    event = AuditEvent(
        model=run.model,
        type=EventType.TRAINING_STARTED,
        id=new_event_id(),
        execution_arn=started.arn,
        trigger=run.trigger,
        by=by.arn if by else None,
        by_email=by.email if by else None,
        note=note,
        details={"dataset_sha256": run.dataset_sha256, "spec_sha256": run.spec_sha256},
    )
    recorded = deps.registry.record_run_started(name, event)
    if not (started.started and recorded):
        logger.info("training already started for this dataset", extra={"execution": started.arn})
        return started.model_copy(update={"started": False})
    return started


def is_accepted(dataset: DatasetRecord, versions: Iterable[ModelVersion]) -> bool:
    """Whether a validated dataset may be retrained on: a version trained on it passed its gates
    (production, archived or candidate), or none trained on it was rejected. A dataset whose every
    decided version was rejected is not accepted; one not trained on yet, or whose runs failed, is."""
    statuses = {v.status for v in versions if v.dataset_sha256 == dataset.sha256}
    return bool(statuses & VOUCHING) or not statuses & CONDEMNING


def accepted_uploads(model: str, registry: Registry) -> list[DatasetRecord]:
    """The model's uploaded datasets that are accepted (see `is_accepted`), oldest first."""
    versions = registry.list_versions(model)
    uploads = [d for d in registry.list_datasets(model) if d.kind is DatasetKind.UPLOAD]
    return sorted((d for d in uploads if is_accepted(d, versions)), key=lambda d: d.created_at)


def retraining_run(
    model: str, trigger: Trigger, registry: Registry, dataset_sha256: str | None = None
) -> RunState:
    """A run outside an upload (`manual` from `sluice models train`, `drift` from the drift check): the
    current spec and the given dataset (any validated one), by default the latest accepted upload —
    never one whose training was rejected. Raises ModelNotFound naming what is missing."""
    spec = registry.current_spec(model)
    if spec is None:
        raise ModelNotFound(f"model {model!r} has no spec; upload {model}/spec.yaml first")
    if dataset_sha256 is None:
        accepted = accepted_uploads(model, registry)
        if not accepted:
            held = (
                " (the training of every uploaded dataset was rejected)"
                if registry.list_datasets(model)
                else ""
            )
            raise ModelNotFound(
                f"model {model!r} has no accepted dataset{held}; upload {model}/data/*.csv first"
            )
        dataset = accepted[-1]
    else:
        found = registry.get_dataset(model, dataset_sha256)
        if found is None:
            raise ModelNotFound(f"model {model!r} has no accepted dataset {dataset_sha256}")
        dataset = found
    return RunState(
        model=model,
        dataset_sha256=dataset.sha256,
        dataset_uri=dataset.uri,
        spec_sha256=spec.sha256,
        spec_uri=spec.uri,
        trigger=trigger,
    )


def prepare_retraining(
    model: str,
    trigger: Trigger,
    deps: CoreDeps,
    dataset_sha256: str | None = None,
    now: datetime | None = None,
) -> RunState:
    """The run a retraining starts. A named dataset is trained as it is; otherwise, when the function
    reads traffic, the latest accepted upload plus the labelled traffic of the last `window_days` before
    `now`, stored as a dataset of its own whose recent rows weigh `recent_weight`, the newest
    `recent_holdout_fraction` of them held out as the recent holdout — with the spec's `retraining:`
    section, or its defaults (`RetrainingSpec()`) when the spec has none: feedback is learnt from
    whenever there is some, and the spec (and its hash) stays as written. Without labelled traffic:
    the accepted upload, as `retraining_run` gives it. Raises ModelNotFound naming what is missing."""
    run = retraining_run(model, trigger, deps.registry, dataset_sha256)
    if dataset_sha256 is not None or deps.traffic is None:
        return run
    spec_record = deps.registry.current_spec(model)
    base = deps.registry.get_dataset(model, run.dataset_sha256)
    if spec_record is None or base is None:
        return run
    spec = load_spec(spec_record.uri, deps.artifacts)
    settings = spec.retraining or RetrainingSpec()
    # Imported here: ingestion, which starts upload runs, reads no traffic and needs no table code.
    from sluice.app.data.labelled_traffic import retraining_dataset
    from sluice.domain.registry.records import TrafficWindow

    end = now or datetime.now(UTC)
    window = TrafficWindow(start=end - timedelta(days=settings.window_days), end=end)
    dataset = retraining_dataset(spec_record, spec, base, window, deps)
    if dataset.recent_rows == 0:
        return run
    return run.model_copy(
        update={
            "dataset_sha256": dataset.sha256,
            "dataset_uri": dataset.uri,
            "recent_rows": dataset.recent_rows,
            "recent_weight": settings.recent_weight,
            "recent_holdout_rows": int(settings.recent_holdout_fraction * dataset.recent_rows),
        }
    )


def start_manual_run(
    model: str,
    deps: TrainingDeps,
    dataset_sha256: str | None = None,
    *,
    by: Principal,
    note: str | None = None,
) -> Any:
    """`sluice models train`: a new run (trigger `manual`) with the current spec and the given dataset,
    by default the latest accepted upload plus the labelled traffic, as the spec's `retraining:` (or its
    defaults) asks (see `prepare_retraining`): retraining by hand learns from what a drift retraining
    would. Always a new execution, even for data that trained before; its
    `training_started` event records `by` (the principal STS answered for the caller) and `note`."""
    run = prepare_retraining(model, Trigger.MANUAL, deps, dataset_sha256)
    return start_training(run, deps, by=by, note=note)
