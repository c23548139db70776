"""The data-quality baseline of a version, stored beside its model at training: statistics.json and
constraints.json (`sluice.domain.monitoring.quality.baseline`), recorded as the version's
`statistics` and `constraints` artifacts."""

from __future__ import annotations

from sluice.app.ports import Artifacts
from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.quality.baseline import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    baseline_statistics,
    suggest_constraints,
)
from sluice.domain.registry.records import Artifact
from sluice.domain.spec.model_spec import ModelSpec

STATISTICS_ARTIFACT = "statistics"
CONSTRAINTS_ARTIFACT = "constraints"


def store_quality_baseline(
    spec: ModelSpec, table: RawTable, prefix: str, artifacts: Artifacts
) -> dict[str, Artifact]:
    """Compute the baseline of the training `table`'s input columns and store it under `prefix`; the
    artifacts to record with the version."""
    statistics = baseline_statistics(spec, table)
    constraints = suggest_constraints(statistics)
    return {
        STATISTICS_ARTIFACT: artifacts.put_json(prefix + STATISTICS_FILE, statistics.model_dump(mode="json")),
        CONSTRAINTS_ARTIFACT: artifacts.put_json(
            prefix + CONSTRAINTS_FILE, constraints.model_dump(mode="json")
        ),
    }
