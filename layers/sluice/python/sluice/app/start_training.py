"""Starting a TrainAndPromote run: one way for an upload, the drift check and `sluice models train`, so
every start gets the same execution name rules and the same audit event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice.app.ports import Registry, Services
from sluice.domain.records import (
    AuditEvent,
    EventType,
    RunState,
    Trigger,
    new_event_id,
    utc_now,
)
from sluice.errors import (
    ModelNotFound,
)
from sluice.observability import logger

if TYPE_CHECKING:
    pass

EXECUTION_NAME_MAX = 80


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


def start_training(run: RunState, services: Services, nonce: str | None = None) -> Any:
    """Start TrainAndPromote for a run; a second start of the same upload run is a no-op, and its
    `training_started` audit event is written once per execution name (StartExecution answers a repeat
    with the same name and input as a success while the first is running, so `started` alone cannot
    tell a duplicate apart)."""
    name = execution_name(run.model, run.dataset_sha256, run.spec_sha256, run.trigger, nonce)
    started = services.executions.start(
        name, run.model_dump(mode="json", exclude_defaults=True) | {"trigger": run.trigger.value}
    )
    event = AuditEvent(
        model=run.model,
        type=EventType.TRAINING_STARTED,
        id=new_event_id(),
        execution_arn=started.arn,
        trigger=run.trigger,
        details={"dataset_sha256": run.dataset_sha256, "spec_sha256": run.spec_sha256},
    )
    if not (started.started and services.registry.record_run_started(name, event)):
        logger.info("training already started for this dataset", extra={"execution": started.arn})
        return started.model_copy(update={"started": False})
    return started


def retraining_run(
    model: str, trigger: Trigger, registry: Registry, dataset_sha256: str | None = None
) -> RunState:
    """A run outside an upload (`manual` from `sluice models train`, `drift` from the drift check): the
    current spec and the given dataset, by default the latest accepted one. Raises ModelNotFound naming
    what is missing."""
    spec = registry.current_spec(model)
    if spec is None:
        raise ModelNotFound(f"model {model!r} has no spec; upload {model}/spec.yaml first")
    if dataset_sha256 is None:
        datasets = registry.list_datasets(model)
        if not datasets:
            raise ModelNotFound(f"model {model!r} has no accepted dataset; upload {model}/data/*.csv first")
        dataset = max(datasets, key=lambda d: d.created_at)
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


def start_manual_run(model: str, services: Services, dataset_sha256: str | None = None) -> Any:
    """`sluice models train`: a new run (trigger `manual`) with the current spec and the given dataset,
    by default the latest accepted one. Always a new execution, even for data that trained before."""
    return start_training(retraining_run(model, Trigger.MANUAL, services.registry, dataset_sha256), services)
