"""The in-memory registry of `fakes.py`: the Registry port's promises (conditional promotion and rollout,
idempotent version allocation, counts that add up) kept in dictionaries."""

from __future__ import annotations

from dataclasses import replace

from sluice.domain.registry.incidents import Incident
from sluice.domain.registry.records import (
    Alias,
    Artifact,
    AuditEvent,
    CandidateRecord,
    DatasetRecord,
    EventType,
    ModelMeta,
    ModelVersion,
    SpecRecord,
    Trigger,
    VersionStatus,
    new_event_id,
    utc_now,
)
from sluice.domain.rollout.live import RolloutState, RolloutStatus, VersionTally
from sluice.domain.training.search import Experiment
from sluice.errors import ModelNotFound, PromotionConflict, RolloutBusy


class InMemoryRegistry:
    def __init__(self) -> None:
        self.meta: dict[str, ModelMeta] = {}
        self.candidates: dict[tuple[str, int, int], CandidateRecord] = {}
        self.specs: dict[tuple[str, str], SpecRecord] = {}
        self.datasets: dict[tuple[str, str], DatasetRecord] = {}
        self.versions: dict[tuple[str, int], ModelVersion] = {}
        self.runs: dict[tuple[str, str], int] = {}
        self.aliases: dict[str, Alias] = {}
        self.events: list[AuditEvent] = []
        self.started: set[tuple[str, str]] = set()  # (model, marker): a marker is its model's own
        self.alias_reads = 0  # how often a use case asked for the production alias
        self.counts: dict[tuple[str, int, str], VersionTally] = {}
        self.incidents: dict[tuple[str, str], Incident] = {}

    def list_models(self) -> list[ModelMeta]:
        return [self.meta[m] for m in sorted(self.meta)]

    def model_meta(self, model: str) -> ModelMeta | None:
        return self.meta.get(model)

    def register_spec(self, record: SpecRecord, event: AuditEvent) -> None:
        self.specs[(record.model, record.sha256)] = record
        meta = self.meta.get(record.model, ModelMeta(model=record.model))
        self.meta[record.model] = replace(
            meta, current_spec_sha256=record.sha256, current_spec_uri=record.uri
        )
        self.events.append(event)

    def current_spec(self, model: str) -> SpecRecord | None:
        meta = self.meta.get(model)
        sha = meta.current_spec_sha256 if meta else None
        return self.specs.get((model, sha)) if sha else None

    def put_dataset(self, record: DatasetRecord, event: AuditEvent | None = None) -> bool:
        if (record.model, record.sha256) in self.datasets:
            return False
        self.datasets[(record.model, record.sha256)] = record
        if event is not None:
            self.events.append(event)
        return True

    def get_dataset(self, model: str, sha256: str) -> DatasetRecord | None:
        return self.datasets.get((model, sha256))

    def list_datasets(self, model: str) -> list[DatasetRecord]:
        return [d for (m, _), d in sorted(self.datasets.items()) if m == model]  # by sha256, as DynamoDB

    def run_version(self, model: str, run_id: str) -> int | None:
        return self.runs.get((model, run_id))

    def allocate_version(
        self,
        model: str,
        run_id: str,
        *,
        trigger: Trigger,
        execution_arn: str | None,
        dataset_sha256: str,
        dataset_uri: str,
        spec_sha256: str,
    ) -> int:
        if (model, run_id) in self.runs:
            return self.runs[(model, run_id)]
        meta = self.meta.get(model, ModelMeta(model=model))
        version = meta.version_counter + 1
        self.meta[model] = replace(meta, version_counter=version)
        now = utc_now()
        self.versions[(model, version)] = ModelVersion(
            model=model,
            version=version,
            status=VersionStatus.TRAINING,
            trigger=trigger,
            created_at=now,
            updated_at=now,
            execution_arn=execution_arn,
            dataset_sha256=dataset_sha256,
            dataset_uri=dataset_uri,
            spec_sha256=spec_sha256,
        )
        self.runs[(model, run_id)] = version
        self.events.append(
            AuditEvent(
                model=model,
                type=EventType.VERSION_ALLOCATED,
                id=new_event_id(),
                version=version,
                execution_arn=execution_arn,
                trigger=trigger,
                details={"dataset_sha256": dataset_sha256},
            )
        )
        return version

    def get_version(self, model: str, version: int) -> ModelVersion:
        try:
            return self.versions[(model, version)]
        except KeyError:
            raise ModelNotFound(f"model {model!r} has no version {version}") from None

    def list_versions(self, model: str) -> list[ModelVersion]:
        return [v for (m, _), v in sorted(self.versions.items()) if m == model]

    def set_version_artifacts(self, model: str, version: int, artifacts: dict[str, Artifact]) -> None:
        record = self.get_version(model, version)  # ModelNotFound for a version there is not
        self.versions[(model, version)] = record.model_copy(
            update={"artifacts": record.artifacts | artifacts}
        )

    def decide(self, record: ModelVersion, event: AuditEvent) -> None:
        current = self.versions.get((record.model, record.version))
        if current is not None and current.status is VersionStatus.PRODUCTION:
            raise PromotionConflict(f"{record.model} version {record.version} is in production already")
        marker = (record.model, f"DECIDED#{record.version:08d}#{record.status.value}")
        if record.status in (VersionStatus.REJECTED, VersionStatus.FAILED):
            if marker in self.started:
                return  # decided so before (a final decision is recorded once)
            self.started.add(marker)
        self.versions[(record.model, record.version)] = record.model_copy(update={"updated_at": utc_now()})
        self.events.append(event)

    def get_alias(self, model: str) -> Alias | None:
        self.alias_reads += 1
        return self.aliases.get(model)

    def promote(
        self,
        record: ModelVersion,
        *,
        expected: int | None,
        event: AuditEvent,
        rollout: RolloutState | None = None,
    ) -> None:
        alias = self.aliases.get(record.model)
        if (alias.version if alias else None) != expected:
            raise PromotionConflict(
                f"{record.model}: expected production version {expected}, "
                f"found {alias.version if alias else None}; version {record.version} was not promoted"
            )
        now = utc_now()
        if expected is not None and expected != record.version:
            old = self.versions.get((record.model, expected))
            if old is None:
                raise ModelNotFound(
                    f"{record.model}: production version {expected} has no version item to archive; "
                    f"version {record.version} was not promoted"
                )
            self.versions[(record.model, expected)] = old.model_copy(
                update={"status": VersionStatus.ARCHIVED}
            )
        self.versions[(record.model, record.version)] = record.model_copy(
            update={"status": VersionStatus.PRODUCTION, "updated_at": now}
        )
        self.aliases[record.model] = Alias(
            model=record.model, version=record.version, updated_at=now, rollout=rollout
        )
        self.events.append(event)

    def start_rollout(self, record: ModelVersion, rollout: RolloutState, event: AuditEvent) -> None:
        alias = self.aliases.get(record.model)
        other = alias.rollout if alias else None
        running_other = (
            other is not None and other.status is RolloutStatus.RUNNING and other.version != rollout.version
        )
        if alias is None or alias.version != rollout.production_version:
            raise PromotionConflict(f"{record.model}: production moved")
        if running_other:
            raise RolloutBusy(f"{record.model}: another rollout runs")
        # the alias's updated_at is when production last changed: a rollout beside it leaves it
        self.aliases[record.model] = alias.model_copy(update={"rollout": rollout})
        self.versions[(record.model, record.version)] = record.model_copy(update={"updated_at": utc_now()})
        self.events.append(event)

    def stop_rollout(self, model: str, version: int, status: RolloutStatus, reason: str) -> bool:
        alias = self.aliases.get(model)
        rollout = alias.rollout if alias else None
        if (
            alias is None
            or rollout is None
            or rollout.version != version
            or rollout.status is not RolloutStatus.RUNNING
        ):
            return False
        self.aliases[model] = alias.model_copy(
            update={"rollout": rollout.model_copy(update={"status": status, "reason": reason})}
        )
        return True

    def record_experiment(self, model: str, version: int, experiment: Experiment) -> None:
        for score in experiment.candidates:
            self.candidates[(model, version, score.index)] = CandidateRecord(
                model=model,
                version=version,
                chosen=score.index == experiment.chosen,
                score=score.model_copy(deep=True),
            )

    def list_candidates(self, model: str, version: int) -> list[CandidateRecord]:
        return [item for (m, v, _), item in sorted(self.candidates.items()) if (m, v) == (model, version)]

    def add_rollout_counts(self, model: str, version: int, role: str, tally: VersionTally) -> None:
        known = self.counts.get((model, version, role), VersionTally())
        self.counts[(model, version, role)] = known.merged(tally)

    def rollout_counts(self, model: str, version: int) -> dict[str, VersionTally]:
        return {role: t for (m, v, role), t in self.counts.items() if (m, v) == (model, version)}

    def append_event(self, event: AuditEvent) -> None:
        self.events.append(event)

    def record_run_started(self, execution_name: str, event: AuditEvent) -> bool:
        return self.record_once(f"STARTED#{execution_name}", event)

    def record_once(self, marker: str, event: AuditEvent) -> bool:
        if (event.model, marker) in self.started:
            return False
        self.started.add((event.model, marker))
        self.events.append(event)
        return True

    def list_events(self, model: str) -> list[AuditEvent]:
        return sorted((e for e in self.events if e.model == model), key=lambda e: (e.time, e.id))

    def event_types(self, model: str) -> list[EventType]:
        return [e.type for e in self.list_events(model)]

    def list_incidents(self, model: str) -> list[Incident]:
        return [i for (m, _), i in sorted(self.incidents.items()) if m == model]

    def record_incident(
        self, incident: Incident, expected: int | None, event: AuditEvent | None = None
    ) -> bool:
        stored = self.incidents.get((incident.model, incident.kind.value))
        if (stored.revision if stored else None) != expected:
            return False
        self.incidents[(incident.model, incident.kind.value)] = incident
        if event is not None:
            self.events.append(event)
        return True
