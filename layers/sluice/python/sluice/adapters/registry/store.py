"""The model registry on DynamoDB: the `Registry` port as one object over the one table, composed of
small repositories (one concern each, all writing through `items.py`'s codecs), to which it delegates:

    Models            the model items: which models exist, their current spec and version counter
    SpecsAndDatasets  specs and datasets, stored once by hash
    Versions          versions, allocated per run from the model's counter, and their decisions
    ProductionAlias   the production alias: promotions and the live rollout beside production
    RolloutCounts     a live rollout's counts, added by every serving container
    Experiments       a version's candidate search
    AuditTrail        the append-only events, and events recorded once per marker
    Incidents         each model's incidents (drift, live metric, data quality), one item per kind

Every decision writes its `EVENT#` item in the same transaction as the change it records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice.adapters.registry.audit import AuditTrail
from sluice.adapters.registry.experiments import Experiments
from sluice.adapters.registry.incidents import Incidents
from sluice.adapters.registry.models import Models
from sluice.adapters.registry.production import ProductionAlias
from sluice.adapters.registry.rollout_counts import RolloutCounts
from sluice.adapters.registry.specs_and_datasets import SpecsAndDatasets
from sluice.adapters.registry.table import RegistryTable
from sluice.adapters.registry.versions import Versions
from sluice.domain.registry.incidents import Incident
from sluice.domain.registry.records import (
    Alias,
    Artifact,
    AuditEvent,
    CandidateRecord,
    DatasetRecord,
    ModelMeta,
    ModelVersion,
    SpecRecord,
    Trigger,
)
from sluice.domain.rollout.live import RolloutState, RolloutStatus, VersionTally

if TYPE_CHECKING:
    from sluice.domain.training.search import Experiment


class Registry:
    """The model registry (the `Registry` port) on the DynamoDB table `table`. Each method is its
    repository's; see them for what each promises."""

    def __init__(self, table: str, dynamodb: Any | None = None) -> None:
        self.table = RegistryTable(table, dynamodb)
        self.models = Models(self.table)
        self.specs_and_datasets = SpecsAndDatasets(self.table, self.models)
        self.versions = Versions(self.table, self.models)
        self.production = ProductionAlias(self.table)
        self.rollout_counters = RolloutCounts(self.table)
        self.experiments = Experiments(self.table)
        self.audit = AuditTrail(self.table)
        self.incidents = Incidents(self.table)

    # ------------------------------------------------------------------ models
    def list_models(self) -> list[ModelMeta]:
        return self.models.list_models()

    def model_meta(self, model: str) -> ModelMeta | None:
        return self.models.model_meta(model)

    # ------------------------------------------------------------------ specs and datasets
    def register_spec(self, record: SpecRecord, event: AuditEvent) -> None:
        self.specs_and_datasets.register_spec(record, event)

    def current_spec(self, model: str) -> SpecRecord | None:
        return self.specs_and_datasets.current_spec(model)

    def put_dataset(self, record: DatasetRecord, event: AuditEvent | None = None) -> bool:
        return self.specs_and_datasets.put_dataset(record, event)

    def get_dataset(self, model: str, sha256: str) -> DatasetRecord | None:
        return self.specs_and_datasets.get_dataset(model, sha256)

    def list_datasets(self, model: str) -> list[DatasetRecord]:
        return self.specs_and_datasets.list_datasets(model)

    # ------------------------------------------------------------------ versions and decisions
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
        return self.versions.allocate_version(
            model,
            run_id,
            trigger=trigger,
            execution_arn=execution_arn,
            dataset_sha256=dataset_sha256,
            dataset_uri=dataset_uri,
            spec_sha256=spec_sha256,
        )

    def run_version(self, model: str, run_id: str) -> int | None:
        return self.versions.run_version(model, run_id)

    def get_version(self, model: str, version: int) -> ModelVersion:
        return self.versions.get_version(model, version)

    def list_versions(self, model: str) -> list[ModelVersion]:
        return self.versions.list_versions(model)

    def set_version_artifacts(self, model: str, version: int, artifacts: dict[str, Artifact]) -> None:
        self.versions.set_version_artifacts(model, version, artifacts)

    def decide(self, record: ModelVersion, event: AuditEvent) -> None:
        self.versions.decide(record, event)

    # ------------------------------------------------------------------ production and live rollouts
    def get_alias(self, model: str) -> Alias | None:
        return self.production.get_alias(model)

    def promote(
        self,
        record: ModelVersion,
        *,
        expected: int | None,
        event: AuditEvent,
        rollout: RolloutState | None = None,
    ) -> None:
        self.production.promote(record, expected=expected, event=event, rollout=rollout)

    def start_rollout(self, record: ModelVersion, rollout: RolloutState, event: AuditEvent) -> None:
        self.production.start_rollout(record, rollout, event)

    def stop_rollout(self, model: str, version: int, status: RolloutStatus, reason: str) -> bool:
        return self.production.stop_rollout(model, version, status, reason)

    def add_rollout_counts(self, model: str, version: int, role: str, tally: VersionTally) -> None:
        self.rollout_counters.add_rollout_counts(model, version, role, tally)

    def rollout_counts(self, model: str, version: int) -> dict[str, VersionTally]:
        return self.rollout_counters.rollout_counts(model, version)

    # ------------------------------------------------------------------ experiments
    def record_experiment(self, model: str, version: int, experiment: Experiment) -> None:
        self.experiments.record_experiment(model, version, experiment)

    def list_candidates(self, model: str, version: int) -> list[CandidateRecord]:
        return self.experiments.list_candidates(model, version)

    # ------------------------------------------------------------------ audit trail
    def append_event(self, event: AuditEvent) -> None:
        self.audit.append_event(event)

    def record_run_started(self, execution_name: str, event: AuditEvent) -> bool:
        return self.audit.record_run_started(execution_name, event)

    def record_once(self, marker: str, event: AuditEvent) -> bool:
        return self.audit.record_once(marker, event)

    def list_events(self, model: str) -> list[AuditEvent]:
        return self.audit.list_events(model)

    # ------------------------------------------------------------------ incidents
    def list_incidents(self, model: str) -> list[Incident]:
        return self.incidents.list_incidents(model)

    def record_incident(
        self, incident: Incident, expected: int | None, event: AuditEvent | None = None
    ) -> bool:
        return self.incidents.record_incident(incident, expected, event)
