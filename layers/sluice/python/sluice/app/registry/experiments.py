"""A version's candidate search, as `sluice experiments` shows it: the experiment the Train step stored
beside the card (models/<model>/<version>/experiments.json, the version's `experiments` artifact)."""

from __future__ import annotations

from sluice.app.ports import CoreDeps
from sluice.domain.registry.records import ModelVersion
from sluice.domain.training.search import Experiment
from sluice.errors import ModelNotFound

EXPERIMENTS_ARTIFACT = "experiments"


def experiment_of(model: str, version: int | None, deps: CoreDeps) -> Experiment:
    """The experiment of `version` (None: the latest version that searched), read only when its bytes
    match the sha256 recorded for it. Raises ModelNotFound for a model or version the registry does
    not know, a version that trained one algorithm, and a model no version of which searched;
    ArtifactCorrupt/ArtifactNotFound for a stored experiment that fails the check."""
    if deps.registry.model_meta(model) is None:
        raise ModelNotFound(f"no model named {model!r} in the registry")
    if version is not None:
        record = deps.registry.get_version(model, version)
        if EXPERIMENTS_ARTIFACT not in record.artifacts:
            raise ModelNotFound(
                f"{model} version {version} trained one algorithm: it has no candidate search "
                "(a spec with `candidates` makes one)"
            )
    else:
        record = _latest_search(deps, model)
    data = deps.artifacts.get_verified(record.artifacts[EXPERIMENTS_ARTIFACT])
    return Experiment.model_validate_json(data)


def _latest_search(deps: CoreDeps, model: str) -> ModelVersion:
    searched = [v for v in deps.registry.list_versions(model) if EXPERIMENTS_ARTIFACT in v.artifacts]
    if not searched:
        raise ModelNotFound(f"no version of {model} searched candidates (a spec with `candidates` makes one)")
    return max(searched, key=lambda v: v.version)
