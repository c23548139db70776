"""Serving logic without AWS: the alias TTL (with a clock the test controls), integrity refusals and
capture that never fails a prediction. The registry and artifact store here are in-memory stand-ins
for Sluice's own ports (the adapters are exercised on the local stack in tests/integration)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from sluice import predictions
from sluice.errors import ArtifactCorrupt, ModelNotFound, ModelUnavailable, NoProductionVersion
from sluice.examples import credit_risk
from sluice.observability import metrics
from sluice.records import Alias, Artifact, ModelVersion, Trigger, VersionStatus
from sluice.runs import train_and_evaluate
from sluice.spec import load_spec
from tests.conftest import spec_path

SPEC = load_spec(spec_path("credit-risk")).model_copy(
    update={
        "algorithm": load_spec(spec_path("credit-risk")).algorithm.model_copy(
            update={"params": {"n_estimators": 10}}
        )
    }
)
INSTANCE = {"income": 52000.0, "age": 41, "debt_ratio": 0.35, "credit_lines": 4, "segment": "retail"}


@pytest.fixture(autouse=True)
def no_metrics_left_over() -> Iterator[None]:
    """Metrics these tests record (outside a handler, nothing flushes them) are cleared after each."""
    yield
    metrics.clear_metrics()


@pytest.fixture(scope="module")
def model_files() -> dict[int, bytes]:
    files = {}
    for version, seed in ((1, 1), (2, 2)):
        run = train_and_evaluate(
            SPEC, credit_risk(800, seed=seed), dataset_sha256="0" * 64, version=str(version)
        )
        assert run.onnx_model is not None
        files[version] = run.onnx_model
    return files


@dataclass
class MemoryRegistry:
    production: int | None
    files: dict[int, bytes]
    reads: int = 0

    def get_alias(self, model: str) -> Alias | None:
        self.reads += 1
        return (
            None if self.production is None else Alias(model=model, version=self.production, updated_at="t")
        )

    def get_version(self, model: str, version: int) -> ModelVersion:
        sha = hashlib.sha256(self.files[version]).hexdigest()
        return ModelVersion(
            model=model,
            version=version,
            status=VersionStatus.PRODUCTION,
            trigger=Trigger.UPLOAD,
            created_at="t",
            updated_at="t",
            artifacts={"model": Artifact(uri=f"mem://{version}", sha256=sha)},
        )

    def model_meta(self, model: str) -> dict[str, Any] | None:
        return {"model": model} if model == "credit-risk" else None


@dataclass
class MemoryArtifacts:
    stored: dict[str, bytes]

    def get_verified(self, artifact: Artifact) -> bytes:
        data = self.stored[artifact.uri]
        if hashlib.sha256(data).hexdigest() != artifact.sha256:
            raise ArtifactCorrupt(artifact.uri)
        return data


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def _models(
    files: dict[int, bytes], production: int | None, ttl: float = 60
) -> tuple[predictions.ProductionModels, MemoryRegistry, MemoryArtifacts, Clock]:
    registry = MemoryRegistry(production, files)
    artifacts = MemoryArtifacts({f"mem://{v}": data for v, data in files.items()})
    clock = Clock()
    return predictions.ProductionModels(registry, artifacts, ttl, clock), registry, artifacts, clock


def test_the_alias_is_reread_only_after_the_ttl(model_files: dict[int, bytes]) -> None:
    models, registry, _, clock = _models(model_files, production=1, ttl=60)
    assert models.get("credit-risk").version == 1
    # When production moves to 2 within the TTL / Then the warm container still serves 1, without a read
    registry.production = 2
    clock.now = 59.9
    assert models.get("credit-risk").version == 1
    assert registry.reads == 1
    # When the TTL has passed / Then it re-reads the alias and serves 2
    clock.now = 60.0
    assert models.get("credit-risk").version == 2
    assert registry.reads == 2


def test_a_file_that_fails_its_hash_is_refused(model_files: dict[int, bytes]) -> None:
    models, registry, artifacts, _ = _models(model_files, production=1, ttl=0)
    assert models.get("credit-risk").version == 1
    artifacts.stored["mem://2"] = b"tampered"
    registry.files = {**model_files}  # the registry still records the real hash of version 2
    registry.production = 2
    # A warm container keeps serving what it verified, and counts the refusal
    assert models.get("credit-risk").version == 1
    assert metrics.metric_set["ModelIntegrityFailures"]["Value"] == [1.0]
    # A cold one has nothing verified and refuses
    cold, _, cold_artifacts, _ = _models(model_files, production=2, ttl=0)
    cold_artifacts.stored["mem://2"] = b"tampered"
    with pytest.raises(ModelUnavailable, match="integrity"):
        cold.get("credit-risk")


def test_unknown_model_and_no_production_version_are_distinguished(model_files: dict[int, bytes]) -> None:
    models, *_ = _models(model_files, production=None)
    with pytest.raises(NoProductionVersion):
        models.get("credit-risk")
    with pytest.raises(ModelNotFound, match="no model named"):
        models.get("other")


@dataclass
class BrokenSink:
    calls: list[str] = field(default_factory=list)

    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None:
        self.calls.append(request_id)
        raise OSError("S3 is down")


def test_capture_failure_never_fails_the_prediction(model_files: dict[int, bytes]) -> None:
    metrics.clear_metrics()
    models, *_ = _models(model_files, production=1)
    served = models.get("credit-risk")
    body = predictions.predict(served, [INSTANCE], max_instances=10, request_id="r1")
    sink = BrokenSink()
    # When the sink fails / Then capture reports False and the response is intact
    assert predictions.capture(sink, 1.0, [INSTANCE], body) is False
    assert sink.calls == ["r1"]
    assert body["predictions"] and body["version"] == 1
    # And a zero fraction never touches the sink
    assert predictions.capture(sink, 0.0, [INSTANCE], body) is False
    assert sink.calls == ["r1"]
    assert metrics.metric_set["CaptureFailures"]["Value"] == [1.0]  # counted (the alarm's metric)
