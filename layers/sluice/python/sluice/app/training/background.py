"""Export's one addition for explanations: the version's background sample, stored beside its
reference sample (domain/explain/background.py says how its rows are chosen)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice.domain.explain.background import BACKGROUND_ARTIFACT, BACKGROUND_FILE, background_sample

if TYPE_CHECKING:
    from sluice.app.ports import Artifacts
    from sluice.domain.data.table import RawTable
    from sluice.domain.registry.records import Artifact
    from sluice.domain.spec.model_spec import ModelSpec

__all__ = ["BACKGROUND_ARTIFACT", "store_background"]


def store_background(artifacts: Artifacts, prefix: str, spec: ModelSpec, train: RawTable) -> Artifact:
    """Store the background of a model trained on `train` under `prefix` (the version's folder) and
    return it (its sha256 is recorded in the version's artifacts, and checked when it is read)."""
    return artifacts.put_bytes(prefix + BACKGROUND_FILE, background_sample(spec, train), "application/gzip")
