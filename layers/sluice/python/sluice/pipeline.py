"""The stack's use cases, one function per Lambda step: ingest an upload, then allocate, train, export
and check parity, evaluate, and record the decision for the TrainAndPromote state machine.

Handlers parse their event and call exactly one function here. The ML work is the pure core
(sluice.spec, validation, training, export, evaluation, card, reference), imported inside the steps
that need it so the register step runs without scikit-learn; AWS is reached only through adapters.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from pydantic import BaseModel

from sluice.adapters.artifacts import ArtifactStore, HashingReader, s3_uri
from sluice.adapters.executions import Executions
from sluice.adapters.notifications import Notifier
from sluice.adapters.registry import Registry, new_event_id
from sluice.errors import (
    ArtifactCorrupt,
    ArtifactNotFound,
    ChampionUnverifiable,
    DataUnreadable,
    ModelNotFound,
    ParityFailed,
    SluiceError,
    SpecError,
)
from sluice.observability import logger, metrics
from sluice.records import (
    AuditEvent,
    DatasetRecord,
    EventType,
    GateFailureRecord,
    GatesRecord,
    ModelVersion,
    ParityRecord,
    RunState,
    SpecRecord,
    TaskEvent,
    Trigger,
    VersionStatus,
    utc_now,
)
from sluice.settings import IngestSettings, StackSettings

if TYPE_CHECKING:
    from sluice.spec import ModelSpec
    from sluice.table import RawTable

SPEC_KEY = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]{0,62})/spec\.ya?ml$")
DATA_KEY = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]{0,62})/data/(?P<file>[^/].*\.csv)$", re.IGNORECASE)
MAX_SPEC_BYTES = 1024 * 1024
EXECUTION_NAME_MAX = 80


# ---------------------------------------------------------------------------- wiring
@dataclass(frozen=True)
class Services:
    """The adapters a step uses, built from the function's settings."""

    artifacts: ArtifactStore
    registry: Registry
    notifier: Notifier
    executions: Executions | None = None

    @classmethod
    def from_settings(cls, settings: StackSettings) -> Services:
        executions = Executions(settings.state_machine_arn) if isinstance(settings, IngestSettings) else None
        return cls(
            artifacts=ArtifactStore(settings.artifact_bucket),
            registry=Registry(settings.registry_table),
            notifier=Notifier(settings.notification_topic_arn),
            executions=executions,
        )


def model_prefix(model: str, version: int) -> str:
    return f"models/{model}/{version}/"


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


# ---------------------------------------------------------------------------- ingestion
class Upload(BaseModel):
    """An object created in the raw bucket, from an EventBridge "Object Created" event (or the classic
    S3 notification shape). `keys` are the candidates to read: URL-decoded first, then as delivered."""

    bucket: str
    key: str
    keys: list[str]
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Upload:
        if "detail" in event:
            detail = event["detail"]
            bucket, obj = detail["bucket"]["name"], detail["object"]
        elif event.get("Records"):
            record = event["Records"][0]["s3"]
            bucket, obj = record["bucket"]["name"], record["object"]
        else:
            raise ValueError("not an S3 Object Created event (no 'detail' or 'Records')")
        delivered = str(obj["key"])
        decoded = unquote_plus(delivered)
        keys = [decoded] if decoded == delivered else [decoded, delivered]
        return cls(
            bucket=bucket,
            key=decoded,
            keys=keys,
            size=obj.get("size"),
            etag=obj.get("eTag") or obj.get("etag"),
            # "null" is the version id of objects written while versioning was off.
            version_id=version
            if (version := obj.get("version-id") or obj.get("versionId")) != "null"
            else None,
        )


class IngestResult(BaseModel):
    status: str  # spec_registered | spec_unchanged | spec_rejected | dataset | quarantined | ignored
    model: str | None = None
    key: str
    reason: str | None = None
    spec_sha256: str | None = None
    dataset_sha256: str | None = None
    dataset_created: bool | None = None
    execution_arn: str | None = None
    execution_started: bool | None = None
    report_uri: str | None = None
    rows: int | None = None


def ingest(upload: Upload, settings: IngestSettings, services: Services | None = None) -> IngestResult:
    """Route an upload: `<model>/spec.yaml` registers a spec, `<model>/data/*.csv` becomes a dataset
    version and starts training (or is quarantined). Anything else is ignored."""
    services = services or Services.from_settings(settings)
    key = _existing_key(upload, services.artifacts)
    if match := SPEC_KEY.match(key):
        return _ingest_spec(upload, key, match["model"], services)
    if match := DATA_KEY.match(key):
        return _ingest_data(upload, key, match["model"], settings, services)
    logger.info("ignoring upload outside <model>/spec.yaml and <model>/data/*.csv", extra={"key": key})
    return IngestResult(status="ignored", key=key, reason="not <model>/spec.yaml or <model>/data/*.csv")


def _existing_key(upload: Upload, artifacts: ArtifactStore) -> str:
    for candidate in upload.keys[:-1]:
        if artifacts.exists(s3_uri(upload.bucket, candidate)):
            return candidate
    return upload.keys[-1]


def _ingest_spec(upload: Upload, key: str, model: str, services: Services) -> IngestResult:
    from sluice.spec import parse_spec

    source = s3_uri(upload.bucket, key)
    size = services.artifacts.size(source, version_id=upload.version_id)
    try:
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{key}: a spec larger than {MAX_SPEC_BYTES} bytes is not a spec")
        raw = services.artifacts.get_bytes(source, version_id=upload.version_id)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"{key}: not UTF-8 text") from exc
        spec = parse_spec(text, source=key)
        if spec.name != model:
            raise SpecError(f"name: the spec is named {spec.name!r} but was uploaded under {model}/")
    except SpecError as exc:
        report = {"source": source, "reason": "invalid_spec", "message": str(exc)}
        report_uri = _quarantine(upload, key, model, report, services, EventType.SPEC_REJECTED)
        return IngestResult(
            status="spec_rejected", model=model, key=key, reason=str(exc), report_uri=report_uri
        )

    current = services.registry.current_spec(model)
    if current is not None and current.sha256 == spec.sha256:
        return IngestResult(status="spec_unchanged", model=model, key=key, spec_sha256=spec.sha256)
    stored = services.artifacts.put_bytes(f"specs/{model}/{spec.sha256}.yaml", raw, "application/yaml")
    record = SpecRecord(model=model, sha256=spec.sha256, uri=stored.uri, source_key=key, created_at=utc_now())
    event = AuditEvent(
        model=model,
        type=EventType.SPEC_REGISTERED,
        id=new_event_id(),
        details={"spec_sha256": spec.sha256, "previous_spec_sha256": current.sha256 if current else None},
    )
    services.registry.register_spec(record, event)
    logger.info("spec registered", extra={"model": model, "spec_sha256": spec.sha256})
    return IngestResult(status="spec_registered", model=model, key=key, spec_sha256=spec.sha256)


def _ingest_data(
    upload: Upload, key: str, model: str, settings: IngestSettings, services: Services
) -> IngestResult:
    from sluice.table import read_csv
    from sluice.validation import validate_table

    source = s3_uri(upload.bucket, key)
    size = services.artifacts.size(source, version_id=upload.version_id)

    def quarantine(reason: str, message: str, report: dict[str, Any] | None = None) -> IngestResult:
        body = {"source": source, "reason": reason, "message": message, "size_bytes": size, "report": report}
        report_uri = _quarantine(upload, key, model, body, services, EventType.DATA_QUARANTINED)
        return IngestResult(status="quarantined", model=model, key=key, reason=message, report_uri=report_uri)

    if size > settings.max_upload_bytes:
        return quarantine("too_large", f"{size} bytes is over the limit of {settings.max_upload_bytes} bytes")
    spec_record = services.registry.current_spec(model)
    if spec_record is None:
        return quarantine("no_spec", f"model {model!r} has no spec; upload {model}/spec.yaml first")
    spec = _load_spec(spec_record.uri, services.artifacts)

    reader = HashingReader(services.artifacts.open(source, version_id=upload.version_id))
    try:
        table = read_csv(reader, name=key)  # type: ignore[arg-type]
    except DataUnreadable as exc:
        return quarantine("unreadable", str(exc))
    reader.drain()
    sha = reader.hexdigest
    report = validate_table(spec, table)
    if not report.passed:
        return quarantine(
            "invalid",
            f"{len(report.problems)} problem(s): {report.to_text()[:500]}",
            report.model_dump(mode="json"),
        )

    prefix = f"datasets/{model}/{sha}/"
    dataset_uri = services.artifacts.copy_in(source, prefix + "data.csv", version_id=upload.version_id)
    validation = services.artifacts.put_json(prefix + "validation.json", report.model_dump(mode="json"))
    record = DatasetRecord(
        model=model,
        sha256=sha,
        uri=dataset_uri,
        source_key=key,
        source_version_id=upload.version_id,
        n_rows=table.n_rows,
        size_bytes=size,
        spec_sha256=spec_record.sha256,
        validation_uri=validation.uri,
        created_at=utc_now(),
    )
    created = services.registry.put_dataset(record)
    if created:
        services.registry.append_event(
            AuditEvent(
                model=model,
                type=EventType.DATASET_REGISTERED,
                id=new_event_id(),
                details={"dataset_sha256": sha, "rows": table.n_rows, "source_key": key},
            )
        )
    run = RunState(
        model=model,
        dataset_sha256=sha,
        dataset_uri=dataset_uri,
        spec_sha256=spec_record.sha256,
        spec_uri=spec_record.uri,
        trigger=Trigger.UPLOAD,
    )
    started = start_training(run, services)
    return IngestResult(
        status="dataset",
        model=model,
        key=key,
        spec_sha256=spec_record.sha256,
        dataset_sha256=sha,
        dataset_created=created,
        execution_arn=started.arn,
        execution_started=started.started,
        rows=table.n_rows,
    )


def start_training(run: RunState, services: Services, nonce: str | None = None) -> Any:
    """Start TrainAndPromote for a run; a second start of the same upload run is a no-op, and its
    `training_started` audit event is written once per execution name (StartExecution answers a repeat
    with the same name and input as a success while the first is running, so `started` alone cannot
    tell a duplicate apart)."""
    if services.executions is None:
        raise SluiceError("this function cannot start executions (no STATE_MACHINE_ARN)")
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


def _quarantine(
    upload: Upload,
    key: str,
    model: str,
    report: dict[str, Any],
    services: Services,
    event_type: EventType,
) -> str:
    """Copy the raw object to quarantine/ in the artifact bucket with its report beside it; record and
    announce it. The raw object stays where it is."""
    source = s3_uri(upload.bucket, key)
    target = f"quarantine/{key}"
    try:
        services.artifacts.copy_in(source, target, version_id=upload.version_id)
    except ArtifactNotFound:
        logger.warning("upload vanished before quarantine", extra={"key": key})
    report_artifact = services.artifacts.put_json(target + ".report.json", report | {"time": utc_now()})
    services.registry.append_event(
        AuditEvent(
            model=model,
            type=event_type,
            id=new_event_id(),
            reason=str(report.get("message")),
            details={"source": source, "report_uri": report_artifact.uri, "reason": report.get("reason")},
        )
    )
    services.notifier.publish(
        f"Sluice: {model} upload quarantined ({report.get('reason')})",
        {
            "event": event_type.value,
            "model": model,
            "source": source,
            "report_uri": report_artifact.uri,
            "reason": report.get("reason"),
            "message": report.get("message"),
        },
    )
    logger.warning("upload quarantined", extra={"key": key, "reason": report.get("reason")})
    return report_artifact.uri


# ---------------------------------------------------------------------------- state machine steps
def _load_spec(uri: str, artifacts: ArtifactStore) -> ModelSpec:
    from sluice.spec import parse_spec

    return parse_spec(artifacts.get_bytes(uri).decode("utf-8"), source=uri)


def _load_table(uri: str, artifacts: ArtifactStore) -> RawTable:
    from sluice.table import read_csv

    return read_csv(artifacts.open(uri), name=uri)


def _require_version(run: RunState) -> int:
    if run.version is None:
        raise SluiceError("the run has no version number (AllocateVersion did not run)")
    return run.version


def run_step(event: TaskEvent, settings: StackSettings, services: Services | None = None) -> RunState:
    """Dispatch a TrainAndPromote task by its action."""
    services = services or Services.from_settings(settings)
    steps = {
        "allocate": allocate_version,
        "train": train,
        "export": export_and_check_parity,
        "evaluate": evaluate_challenger,
        "promote": promote,
        "reject": reject,
        "fail": fail,
    }
    try:
        step = steps[event.action]
    except KeyError:
        raise SluiceError(f"unknown action {event.action!r}; expected one of {sorted(steps)}") from None
    return step(event.run, event.execution_arn, services)


def allocate_version(run: RunState, execution_arn: str, services: Services) -> RunState:
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
    train: RawTable
    holdout: RawTable


def _inputs(run: RunState, artifacts: ArtifactStore) -> _Inputs:
    from sluice.training import split_holdout

    spec = _load_spec(run.spec_uri, artifacts)
    split = split_holdout(spec, _load_table(run.dataset_uri, artifacts))
    return _Inputs(spec=spec, train=split.train, holdout=split.holdout)


def train(run: RunState, execution_arn: str, services: Services) -> RunState:
    from sluice.training import fit_pipeline

    version = _require_version(run)
    inputs = _inputs(run, services.artifacts)
    pipeline = fit_pipeline(inputs.spec, inputs.train)
    stored = services.artifacts.put_bytes(
        model_prefix(run.model, version) + "pipeline.pkl", pickle.dumps(pipeline)
    )
    return run.model_copy(
        update={
            "artifacts": run.artifacts | {"pipeline": stored},
            "n_train": inputs.train.n_rows,
            "n_holdout": inputs.holdout.n_rows,
        }
    )


def export_and_check_parity(run: RunState, execution_arn: str, services: Services) -> RunState:
    from sluice.export import check_parity, export_onnx
    from sluice.reference import reference_sample

    version = _require_version(run)
    inputs = _inputs(run, services.artifacts)
    pipeline = pickle.loads(services.artifacts.get_verified(run.artifacts["pipeline"]))
    onnx_model = export_onnx(pipeline, inputs.spec, version=str(version))
    parity = check_parity(pipeline, onnx_model, inputs.spec, inputs.holdout)
    prefix = model_prefix(run.model, version)
    services.artifacts.put_json(prefix + "parity.json", parity.model_dump(mode="json"))
    record = ParityRecord(
        passed=parity.passed, max_abs_diff=parity.max_abs_diff, label_agreement=parity.label_agreement
    )
    if not parity.passed:
        raise ParityFailed(
            "ONNX export does not match scikit-learn on the holdout: "
            f"max_abs_diff={parity.max_abs_diff:.3g}, label_agreement={parity.label_agreement:.4f}"
        )
    model = services.artifacts.put_bytes(prefix + "model.onnx", onnx_model)
    reference = services.artifacts.put_bytes(
        prefix + "reference.csv.gz",
        reference_sample(inputs.spec, inputs.train, onnx_model),
        "application/gzip",
    )
    return run.model_copy(
        update={"artifacts": run.artifacts | {"model": model, "reference": reference}, "parity": record}
    )


def evaluate_challenger(run: RunState, execution_arn: str, services: Services) -> RunState:
    """Challenger and current production on the challenger's holdout, then the gates. The production
    version read here is the one promotion will expect (a conditional write)."""
    from sluice.card import Lineage, build_card, render_card_html
    from sluice.evaluation import Evaluation, apply_gates, evaluate
    from sluice.export import ParityResult

    version = _require_version(run)
    inputs = _inputs(run, services.artifacts)
    challenger_bytes = services.artifacts.get_verified(run.artifacts["model"])
    challenger = evaluate(challenger_bytes, inputs.spec, inputs.holdout)
    alias = services.registry.get_alias(run.model)
    champion: Evaluation | None = None
    if alias is not None and alias.version != version:
        champion_bytes = _verified_champion(run.model, alias.version, services)
        try:
            champion = evaluate(champion_bytes, inputs.spec, inputs.holdout, detailed=False)
        except (SluiceError, KeyError, ValueError) as exc:
            # A champion that cannot score this holdout (its spec changed) is not comparable; the
            # challenger then faces the absolute gates only, and the card says so.
            logger.warning("champion not comparable", extra={"champion": alias.version, "error": str(exc)})
    gates = apply_gates(inputs.spec, challenger, champion)
    prefix = model_prefix(run.model, version)
    parity = ParityResult.model_validate_json(
        services.artifacts.get_bytes(services.artifacts.uri(prefix + "parity.json"))
    )
    card = build_card(
        spec=inputs.spec,
        version=str(version),
        lineage=Lineage(
            dataset_sha256=run.dataset_sha256,
            dataset_source=run.dataset_uri,
            spec_sha256=run.spec_sha256,
            rows_train=inputs.train.n_rows,
            rows_holdout=inputs.holdout.n_rows,
            model_sha256=run.artifacts["model"].sha256,
            run_id=execution_arn,
            trigger=run.trigger.value,
        ),
        parameters=inputs.spec.algorithm.params,
        parity=parity,
        evaluation=challenger,
        gates=gates,
        champion=champion,
    )
    evaluation = services.artifacts.put_json(
        prefix + "evaluation.json",
        {
            "evaluation": challenger.model_dump(mode="json"),
            "champion": champion.model_dump(mode="json") if champion else None,
            "champion_version": alias.version if alias else None,
            "gates": gates.model_dump(mode="json"),
        },
    )
    card_json = services.artifacts.put_bytes(
        prefix + "card.json", card.model_dump_json(indent=2).encode(), "application/json"
    )
    card_html = services.artifacts.put_bytes(
        prefix + "card.html", render_card_html(card).encode(), "text/html"
    )
    return run.model_copy(
        update={
            "metrics": dict(challenger.metrics),
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
    event = AuditEvent(
        model=run.model,
        type=EventType.PROMOTED,
        id=new_event_id(),
        from_version=run.champion_version,
        to_version=record.version,
        version=record.version,
        reason=_promotion_reason(run),
        execution_arn=execution_arn,
        trigger=run.trigger,
        details={"metrics": run.metrics, "champion_metrics": run.champion_metrics},
    )
    services.registry.promote(record, expected=run.champion_version, event=event)
    logger.info(
        "promoted", extra={"model": run.model, "version": record.version, "from": run.champion_version}
    )
    return run.model_copy(update={"status": VersionStatus.PRODUCTION, "reason": event.reason})


def _promotion_reason(run: RunState) -> str:
    if run.champion_version is None:
        return "first version to pass its gates"
    if not run.champion_metrics:
        return f"passed its gates; version {run.champion_version} could not be compared on this holdout"
    return f"passed its gates against version {run.champion_version} on the same holdout"


def rejection_reason(run: RunState) -> str:
    """Why a run was rejected: the failed gates, or the domain error the state machine caught."""
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


def reject(run: RunState, execution_arn: str, services: Services) -> RunState:
    reason = rejection_reason(run)
    record = _decided_record(run, services, VersionStatus.REJECTED, reason)
    services.registry.decide(
        record,
        AuditEvent(
            model=run.model,
            type=EventType.REJECTED,
            id=new_event_id(),
            version=record.version,
            reason=reason,
            execution_arn=execution_arn,
            trigger=run.trigger,
            details={"failed_gates": [f.gate for f in run.gates.failed] if run.gates else []},
        ),
    )
    logger.info("rejected", extra={"model": run.model, "version": record.version, "reason": reason})
    return run.model_copy(update={"status": VersionStatus.REJECTED, "reason": reason})


def fail(run: RunState, execution_arn: str, services: Services) -> RunState:
    """An unexpected error: the version is marked failed (production is not touched)."""
    reason = rejection_reason(run) if run.error else "unexpected failure"
    event = AuditEvent(
        model=run.model,
        type=EventType.FAILED,
        id=new_event_id(),
        version=run.version,
        reason=reason,
        execution_arn=execution_arn,
        trigger=run.trigger,
    )
    if run.version is None:
        services.registry.append_event(event)
    else:
        services.registry.decide(_decided_record(run, services, VersionStatus.FAILED, reason), event)
    return run.model_copy(update={"status": VersionStatus.FAILED, "reason": reason})
