"""Serving the production model: load it once per container, verify its bytes, follow the production
alias within ALIAS_TTL seconds, validate requests against the model's own schema, predict, capture."""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from sluice.errors import (
    ArtifactCorrupt,
    InvalidRequest,
    ModelNotFound,
    ModelUnavailable,
    NoProductionVersion,
)
from sluice.observability import logger, metrics
from sluice.records import Alias, Artifact, ModelVersion
from sluice.serving import OnnxModel, feed_from_instances

MODEL_ARTIFACT = "model"


class RegistryReader(Protocol):
    def get_alias(self, model: str) -> Alias | None: ...
    def get_version(self, model: str, version: int) -> ModelVersion: ...
    def model_meta(self, model: str) -> dict[str, Any] | None: ...


class ArtifactReader(Protocol):
    def get_verified(self, artifact: Artifact) -> bytes: ...


class CaptureSink(Protocol):
    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: int
    onnx: OnnxModel


@dataclass
class _Entry:
    served: ServedModel
    checked_at: float


class ProductionModels:
    """The production version of each model, loaded once and re-checked at most every `ttl` seconds."""

    def __init__(
        self,
        registry: RegistryReader,
        artifacts: ArtifactReader,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._artifacts = artifacts
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, _Entry] = {}

    def get(self, model: str) -> ServedModel:
        """The model to serve now. Raises ModelNotFound / NoProductionVersion (404s) or ModelUnavailable
        when the production file fails its sha256 check and no verified version is loaded."""
        now = self._clock()
        entry = self._cache.get(model)
        if entry is not None and now - entry.checked_at < self._ttl:
            return entry.served
        alias = self._registry.get_alias(model)
        if alias is None:
            self._cache.pop(model, None)
            if self._registry.model_meta(model) is None:
                raise ModelNotFound(f"no model named {model!r}")
            raise NoProductionVersion(f"model {model!r} has no version in production")
        if entry is not None and entry.served.version == alias.version:
            entry.checked_at = now
            return entry.served
        try:
            served = self._load(model, alias.version)
        except ArtifactCorrupt as exc:
            metrics.add_metric(name="ModelIntegrityFailures", unit="Count", value=1)
            logger.error(
                "refusing a model file that fails its sha256 check", extra={"model": model, "error": str(exc)}
            )
            if entry is None:
                raise ModelUnavailable(
                    f"model {model!r} version {alias.version} failed its integrity check"
                ) from exc
            entry.checked_at = now  # keep serving the verified version already loaded
            return entry.served
        self._cache[model] = _Entry(served=served, checked_at=now)
        logger.info("loaded production model", extra={"model": model, "version": served.version})
        return served

    def _load(self, model: str, version: int) -> ServedModel:
        record = self._registry.get_version(model, version)
        artifact = record.artifacts.get(MODEL_ARTIFACT)
        if artifact is None:
            raise ModelUnavailable(f"model {model!r} version {version} has no model file recorded")
        return ServedModel(
            name=model, version=version, onnx=OnnxModel(self._artifacts.get_verified(artifact))
        )


def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def predict(
    served: ServedModel,
    instances: list[Any],
    *,
    max_instances: int,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Validate the instances against the model's schema and predict. Raises InvalidRequest naming
    every problem (400) or the batch size (413)."""
    if not instances:
        raise InvalidRequest(
            "no instances", [{"instance": None, "field": "instances", "message": "must not be empty"}]
        )
    if len(instances) > max_instances:
        raise InvalidRequest(
            f"too many instances: {len(instances)} > {max_instances}",
            [{"instance": None, "field": "instances", "message": f"at most {max_instances} per request"}],
            status=413,
        )
    feed, problems = feed_from_instances(served.onnx.features, instances)
    if problems:
        raise InvalidRequest(
            f"{len(problems)} problem(s) in the instances", [p.model_dump() for p in problems]
        )
    outputs = served.onnx.run(feed)
    body: dict[str, Any] = {
        "model": served.name,
        "version": served.version,
        "request_id": request_id or uuid.uuid4().hex,
    }
    if outputs.probabilities is not None and outputs.labels is not None:
        body["predictions"] = outputs.labels.tolist()
        body["classes"] = served.onnx.classes
        body["probabilities"] = np.round(outputs.probabilities.astype(np.float64), 6).tolist()
    else:
        assert outputs.values is not None
        body["predictions"] = [_json_number(v) for v in outputs.values.astype(np.float64)]
    return body


def capture_records(instances: list[Any], response: dict[str, Any]) -> list[dict[str, Any]]:
    """One capture line per instance: `{request_id, time, model, version, inputs, outputs}`."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    records = []
    for i, instance in enumerate(instances):
        outputs: dict[str, Any] = {"prediction": response["predictions"][i]}
        if "probabilities" in response:
            outputs["probabilities"] = response["probabilities"][i]
        records.append(
            {
                "request_id": response["request_id"],
                "instance": i,
                "time": now,
                "model": response["model"],
                "version": response["version"],
                "inputs": instance,
                "outputs": outputs,
            }
        )
    return records


def capture(sink: CaptureSink, fraction: float, instances: list[Any], response: dict[str, Any]) -> bool:
    """Write a sampled request to the capture sink. Never raises: a failure is logged and counted, and
    the prediction it belongs to is still returned. True when the request was captured."""
    if fraction <= 0 or (fraction < 1 and random.random() >= fraction):
        return False
    try:
        sink.write(response["model"], response["request_id"], capture_records(instances, response))
    except Exception:
        metrics.add_metric(name="CaptureFailures", unit="Count", value=1)
        logger.exception("capture failed; the prediction was still returned")
        return False
    return True
