"""The registry's items: their keys, and each record written as an item and read back. The one module
that knows the table's layout; every repository of the registry writes and reads through it.

One partition per model (`MODEL#<name>`); the sort keys:

    META                              the model item: current spec, version counter
    SPEC#<sha256>, DATASET#<sha256>   a spec, a dataset
    VERSION#<n>                       a version (zero-padded, so versions sort by number)
    RUN#<run id>                      the version a run was allocated
    DECIDED#<n>#<status>              a final decision (rejected, failed) was recorded
    ALIAS#production                  the production version and its live rollout
    ROLLOUT#<n>#<role>                a live rollout's counts, by role (candidate, production)
    CANDIDATE#<n>#<index>             a candidate of version n's search
    INCIDENT#<kind>                   the model's incident of a kind (drift, live_metric, data_quality)
    EVENT#<time>#<id>                 the audit trail
    <marker>                          an event recorded once (`record_once`: STARTED#<execution>, …)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from sluice.domain.registry.incidents import Incident
from sluice.domain.registry.records import (
    AuditEvent,
    CandidateRecord,
    ModelMeta,
    ModelVersion,
    VersionStatus,
)
from sluice.domain.rollout.live import RolloutState, VersionTally

if TYPE_CHECKING:
    from sluice.domain.training.search import CandidateScore

META = "META"
ALIAS = "ALIAS#production"
SPEC = "SPEC#"
DATASET = "DATASET#"
VERSION = "VERSION#"
EVENT = "EVENT#"
INCIDENT = "INCIDENT#"

# A rollout's counts: the tally's counters, and its latency histogram as one attribute per bucket.
TALLY_COUNTERS = ("requests", "errors", "instances", "agreed", "abs_diff")
LATENCY_PREFIX = "lat_"


def pk(model: str) -> str:
    return f"MODEL#{model}"


def key(model: str, sk: str) -> dict[str, str]:
    """An item's primary key."""
    return {"PK": pk(model), "SK": sk}


def version_sk(version: int) -> str:
    return f"{VERSION}{version:08d}"


def run_sk(run_id: str) -> str:
    return f"RUN#{run_id}"


def decided_sk(version: int, status: VersionStatus) -> str:
    return f"DECIDED#{version:08d}#{status.value}"


def started_marker(execution_name: str) -> str:
    """The marker of a run's `training_started` event (recorded once per execution name)."""
    return f"STARTED#{execution_name}"


def counts_prefix(version: int) -> str:
    return f"ROLLOUT#{version:08d}#"


def counts_sk(version: int, role: str) -> str:
    return f"{counts_prefix(version)}{role}"


def candidates_prefix(version: int) -> str:
    return f"CANDIDATE#{version:08d}#"


def candidate_sk(version: int, index: int) -> str:
    return f"{candidates_prefix(version)}{index:03d}"


def incident_sk(kind: str) -> str:
    return f"{INCIDENT}{kind}"


# ---------------------------------------------------------------------------------------- records → items
def record_item(sk: str, record: BaseModel, model: str) -> dict[str, Any]:
    """A record as the item `sk` of `model`'s partition (its fields as attributes)."""
    return {**key(model, sk), **record.model_dump(mode="json")}


def event_item(event: AuditEvent) -> dict[str, Any]:
    return record_item(f"{EVENT}{event.time}#{event.id}", event, event.model)


def version_item(record: ModelVersion) -> dict[str, Any]:
    return record_item(version_sk(record.version), record, record.model)


def incident_item(incident: Incident) -> dict[str, Any]:
    return record_item(incident_sk(incident.kind.value), incident, incident.model)


def marker_item(model: str, sk: str, **fields: Any) -> dict[str, Any]:
    """An item that only says something happened once (a run's version, a decision, a started run)."""
    return {**key(model, sk), **fields}


def alias_item(
    record: ModelVersion, previous: int | None, updated_at: str, rollout: RolloutState | None
) -> dict[str, Any]:
    """The production alias at `record`'s version, which replaced `previous`."""
    return {
        **key(record.model, ALIAS),
        "model": record.model,
        "name": "production",
        "version": record.version,
        "previous_version": previous,
        "updated_at": updated_at,
        "rollout": rollout.model_dump(mode="json") if rollout else None,
    }


def candidate_item(model: str, version: int, score: CandidateScore, chosen: bool) -> dict[str, Any]:
    """A search's candidate beside the version that searched."""
    return {
        **key(model, candidate_sk(version, score.index)),
        "model": model,
        "version": version,
        "chosen": chosen,
        **score.model_dump(mode="json"),
    }


def tally_values(tally: VersionTally) -> dict[str, int | float]:
    """A tally's counters and latency buckets, as the attributes its counts item adds them to."""
    values: dict[str, int | float] = {name: getattr(tally, name) for name in TALLY_COUNTERS}
    values |= {f"{LATENCY_PREFIX}{bucket:02d}": count for bucket, count in tally.latency.items()}
    return values


# ---------------------------------------------------------------------------------------- items → records
def model_meta(item: dict[str, Any]) -> ModelMeta:
    return ModelMeta(
        model=str(item["model"]),
        current_spec_sha256=item.get("current_spec_sha256"),
        current_spec_uri=item.get("current_spec_uri"),
        version_counter=int(item.get("version_counter", 0)),
    )


def incident(item: dict[str, Any]) -> Incident:
    return Incident.model_validate(item)


def candidate(item: dict[str, Any]) -> CandidateRecord:
    from sluice.domain.training.search import CandidateScore  # imports multiprocessing: when read only

    return CandidateRecord(
        model=str(item["model"]),
        version=int(item["version"]),
        chosen=bool(item["chosen"]),
        score=CandidateScore.model_validate(_with_nulls(CandidateScore, item)),
    )


def _with_nulls(record: type[BaseModel], item: dict[str, Any]) -> dict[str, Any]:
    """The item with None for each required field it lacks: DynamoDB keeps no null attribute, so a
    field written as None (`latency_ms_single_row`) comes back absent."""
    absent = {
        name: None for name, field in record.model_fields.items() if field.is_required() and name not in item
    }
    return item | absent


def tally(item: dict[str, Any]) -> tuple[str, VersionTally]:
    """A counts item's role and its tally."""
    role = str(item["SK"]).rsplit("#", 1)[-1]
    latency = {
        int(name[len(LATENCY_PREFIX) :]): int(value)
        for name, value in item.items()
        if name.startswith(LATENCY_PREFIX)
    }
    return role, VersionTally(**{name: item.get(name, 0) for name in TALLY_COUNTERS}, latency=latency)
