"""Serving the production model: load it once per container, verify its bytes, follow the production
alias within ALIAS_TTL seconds, validate requests against the model's own schema, predict, capture."""

from __future__ import annotations

import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from sluice.app.ports import ArtifactReader, CaptureSink, FeedbackSink, Outcomes, RegistryReader, Uncounted
from sluice.domain.registry.records import Alias
from sluice.domain.rollout.live import RolloutState, RolloutStatus
from sluice.domain.scoring.echo import MAX_ECHO, echo
from sluice.domain.scoring.onnx_model import OnnxModel, feed_from_instances
from sluice.errors import (
    ArtifactCorrupt,
    InvalidRequest,
    ModelNotFound,
    ModelUnavailable,
    NoProductionVersion,
)

logger = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
CARD_ARTIFACT = "card"
# Lambda answers at most 6 MB; a 200 stays well under it: a probability is at most ~10 characters
# ("0.123456, ") and a label as long as the longest class.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
PROBABILITY_CHARS = 10


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: int
    onnx: OnnxModel


@dataclass(frozen=True)
class LabelSchema:
    """What a true label of a model is: a class of a binary or multiclass model (as text, the way the
    drift check compares labels with predictions) or a finite number for a regressor."""

    task: str  # binary | multiclass | regression
    classes: tuple[str, ...] = ()

    @classmethod
    def of_model(cls, onnx: OnnxModel) -> LabelSchema:
        if not onnx.is_classifier:
            return cls("regression")
        classes = tuple(str(c) for c in onnx.classes or ())
        return cls("binary" if len(classes) == 2 else "multiclass", classes)

    @classmethod
    def of_card(cls, card: dict[str, Any]) -> LabelSchema | None:
        """From a model card (card.json): its evaluation's task and confusion-matrix labels."""
        evaluation = card["evaluation"]
        task = str(evaluation["task"])
        if task == "regression":
            return cls(task)
        matrix = evaluation.get("confusion_matrix")
        return cls(task, tuple(str(c) for c in matrix["labels"])) if matrix else None

    def check(self, label: Any) -> tuple[Any, str | None]:
        """The label to store, or a message saying why it is not a label of this model. Classes may be
        sent as they are predicted or as their text (1 or "1"); booleans are not classes."""
        if self.task == "regression":
            if isinstance(label, bool) or not isinstance(label, int | float):
                return None, f"must be a number for a regression model, got {type(label).__name__}"
            try:
                number = float(label)
            except OverflowError:
                number = math.inf
            return (number, None) if math.isfinite(number) else (None, "must be a finite number")
        if isinstance(label, int | str) and not isinstance(label, bool):
            text = label if isinstance(label, str) else str(label) if abs(label) < 10**20 else None
            if text is not None and text in self.classes:
                return label, None
        return None, f"must be one of the model's classes {echo(list(self.classes), 4 * MAX_ECHO)}"


@dataclass(frozen=True)
class Deployment:
    """What serves a model's requests now: its production version and, during a live rollout, the
    candidate the rollout tries (None when its model could not be loaded: each request the rollout gives
    it then counts as the candidate's error and is answered by production)."""

    production: ServedModel
    rollout: RolloutState | None = None
    candidate: ServedModel | None = None


@dataclass
class _Entry:
    served: ServedModel
    checked_at: float
    rollout: RolloutState | None = None
    candidate: ServedModel | None = None


class ProductionModels:
    """The production version of each model, loaded once and re-checked at most every `ttl` seconds."""

    def __init__(
        self,
        registry: RegistryReader,
        artifacts: ArtifactReader,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        outcomes: Outcomes | None = None,
    ) -> None:
        self._registry = registry
        self._outcomes: Outcomes = outcomes or Uncounted()  # integrity failures, counted by the entry point
        self._artifacts = artifacts
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._labels: dict[tuple[str, int], LabelSchema] = {}

    def get(self, model: str) -> ServedModel:
        """The model to serve now. Raises ModelNotFound / NoProductionVersion (404s) or ModelUnavailable
        when the production file fails its sha256 check and no verified version is loaded."""
        return self._entry(model).served

    def deployment(self, model: str) -> Deployment:
        """The production version and the live rollout beside it, if one routes requests now. Raises
        like `get`."""
        entry = self._entry(model)
        rollout = entry.rollout
        if rollout is None or not rollout.routes_now(datetime.now(UTC)):
            return Deployment(entry.served)
        return Deployment(entry.served, rollout, entry.candidate)

    def _entry(self, model: str) -> _Entry:
        now = self._clock()
        entry = self._cache.get(model)
        if entry is not None and now - entry.checked_at < self._ttl:
            return entry
        try:
            alias = self._production_alias(model)
        except (ModelNotFound, NoProductionVersion):
            self._cache.pop(model, None)
            raise
        if entry is None or entry.served.version != alias.version:
            entry = self._production_entry(model, alias, entry, now)
        entry.checked_at = now
        self._follow_rollout(entry, alias.rollout)
        return entry

    def _follow_rollout(self, entry: _Entry, rollout: RolloutState | None) -> None:
        """Keep the alias's live rollout and load its candidate once (verified, like production)."""
        entry.rollout = rollout
        if rollout is None or rollout.status is not RolloutStatus.RUNNING:
            entry.candidate = None
            return
        if entry.candidate is not None and entry.candidate.version == rollout.version:
            return
        try:
            entry.candidate = self._load(entry.served.name, rollout.version)
        except (ArtifactCorrupt, ModelUnavailable, ModelNotFound) as exc:
            entry.candidate = None
            self._outcomes.model_integrity_failure()
            logger.error(
                "the rollout's candidate cannot be loaded; production answers its requests",
                extra={"model": entry.served.name, "candidate": rollout.version, "error": str(exc)},
            )

    def _production_entry(self, model: str, alias: Alias, entry: _Entry | None, now: float) -> _Entry:
        if entry is not None and entry.candidate is not None and entry.candidate.version == alias.version:
            # the candidate just promoted: loaded and verified already
            fresh = _Entry(served=entry.candidate, checked_at=now)
            self._cache[model] = fresh
            return fresh
        try:
            served = self._load(model, alias.version)
        except ArtifactCorrupt as exc:
            self._outcomes.model_integrity_failure()
            logger.error(
                "refusing a model file that fails its sha256 check", extra={"model": model, "error": str(exc)}
            )
            if entry is None:
                raise ModelUnavailable(
                    f"model {model!r} version {alias.version} failed its integrity check"
                ) from exc
            return entry  # keep serving the verified version already loaded
        fresh = _Entry(served=served, checked_at=now)
        self._cache[model] = fresh
        logger.info("loaded production model", extra={"model": model, "version": served.version})
        return fresh

    def _production_alias(self, model: str) -> Alias:
        """The production alias; ModelNotFound for an unknown model, NoProductionVersion for one with
        nothing in production (both 404s)."""
        alias = self._registry.get_alias(model)
        if alias is None:
            if self._registry.model_meta(model) is None:
                raise ModelNotFound(f"no model named {model!r}")
            raise NoProductionVersion(f"model {model!r} has no version in production")
        return alias

    def label_schema(self, model: str) -> LabelSchema:
        """What a feedback label of `model` must be. From the model already loaded in this container
        if there is one, else from the production version's card (a small JSON), so feedback does not
        load the ONNX model. Raises like `get` for an unknown model or one with no production version."""
        entry = self._cache.get(model)
        if entry is not None:
            return LabelSchema.of_model(entry.served.onnx)
        alias = self._production_alias(model)
        known = self._labels.get((model, alias.version))
        if known is not None:
            return known
        card = self._registry.get_version(model, alias.version).artifacts.get(CARD_ARTIFACT)
        schema = None
        if card is not None:
            try:
                schema = LabelSchema.of_card(json.loads(self._artifacts.get_verified(card)))
            except (ArtifactCorrupt, ValueError, KeyError, TypeError):
                logger.warning("model card unreadable; reading the model", extra={"model": model})
        if schema is None:
            schema = LabelSchema.of_model(self.get(model).onnx)
        self._labels[(model, alias.version)] = schema
        return schema

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


def refuse_beyond_budget(
    count: int, per_instance: int, budget: int, message: str, per: str = "request"
) -> None:
    """A 413 (InvalidRequest) with `message` when `count` instances costing `per_instance` each exceed
    `budget`, naming how many would fit (at least one) per `per`."""
    if count * per_instance > budget:
        fit = max(1, budget // per_instance)
        raise InvalidRequest(
            message,
            [{"instance": None, "field": "instances", "message": f"send at most {fit} per {per}"}],
            status=413,
        )


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
    per_instance = len(served.onnx.classes or ()) * PROBABILITY_CHARS + served.onnx.label_chars + 4
    refuse_beyond_budget(
        len(instances),
        per_instance,
        MAX_RESPONSE_BYTES,
        f"the answer for {len(instances)} instances would exceed the response limit",
    )
    feed, problems = feed_from_instances(served.onnx.features, instances)
    if problems:
        raise InvalidRequest(
            f"{problems.total} problem(s) in the instances",
            [p.model_dump() for p in problems.details],
            truncated=problems.total - len(problems.details),
            kinds=problems.kinds,
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


def _shadow_outputs(shadow: dict[str, Any], i: int) -> dict[str, Any]:
    if "error" in shadow:
        return {"version": shadow["version"], "error": shadow["error"]}
    outputs: dict[str, Any] = {"prediction": shadow["predictions"][i]}
    if "probabilities" in shadow:
        outputs["probabilities"] = shadow["probabilities"][i]
        outputs["classes"] = shadow.get("classes")
    return {"version": shadow["version"], "outputs": outputs}


def capture_records(
    instances: list[Any],
    response: dict[str, Any],
    shadow: dict[str, Any] | None = None,
    fraction: float = 1.0,
) -> list[dict[str, Any]]:
    """One capture line per instance: `{request_id, time, model, version, inputs, outputs}` (outputs:
    `prediction`, and for classifiers `probabilities` with their `classes`), and during a shadow rollout `shadow: {version, outputs | error}` (what the candidate would have answered).
    Sampled below 1, each line says its `fraction` (before `inputs`: the window reader counts requests
    from the lines' heads), so the drift check can count every request from the sampled ones."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    records = []
    for i, instance in enumerate(instances):
        outputs: dict[str, Any] = {"prediction": response["predictions"][i]}
        if "probabilities" in response:
            outputs["probabilities"] = response["probabilities"][i]
            # which column is which class: a model deciding at a threshold may predict a class that
            # is not its largest probability, so monitoring cannot infer it from the argmax
            outputs["classes"] = response["classes"]
        records.append(
            {
                "request_id": response["request_id"],
                "instance": i,
                "time": now,
                "model": response["model"],
                "version": response["version"],
                **({"fraction": fraction} if fraction < 1 else {}),
                "inputs": instance,
                "outputs": outputs,
            }
        )
        if shadow is not None:
            records[-1]["shadow"] = _shadow_outputs(shadow, i)
    return records


Capture = Literal["captured", "skipped", "failed"]  # skipped: not sampled


def capture(
    sink: CaptureSink,
    fraction: float,
    instances: list[Any],
    response: dict[str, Any],
    shadow: dict[str, Any] | None = None,
) -> Capture:
    """Write a sampled request to the capture sink. Never raises: a failure is logged and returned
    ("failed": the entry point counts it), and the prediction it belongs to is still returned."""
    if fraction <= 0 or (fraction < 1 and random.random() >= fraction):
        return "skipped"
    try:
        records = capture_records(instances, response, shadow, fraction)
        sink.write(response["model"], response["request_id"], records)
    except Exception:
        logger.exception("capture failed; the prediction was still returned")
        return "failed"
    return "captured"


def record_feedback(
    models: ProductionModels,
    sink: FeedbackSink,
    model: str,
    *,
    request_id: str,
    instance: int,
    label: Any,
    max_instances: int,
) -> None:
    """Check a true label and send it to the feedback sink. The label must be one of the model's
    classes (or a finite number for a regressor) and `instance` below `max_instances`. Whether the
    request was captured is not known here (capture is sampled and delivered minutes later): the label
    is joined with its captured record when the drift check reads the window, which counts the labels
    it cannot join. Raises InvalidRequest naming `label` or `instance` (400)."""
    stored, problem = models.label_schema(model).check(label)
    if problem is not None:
        raise InvalidRequest(
            "the label is not valid for this model",
            [{"instance": None, "field": "label", "message": problem}],
        )
    if instance >= max_instances:
        raise InvalidRequest(
            "no such instance",
            [
                {
                    "instance": None,
                    "field": "instance",
                    "message": f"must be below {max_instances}: at most {max_instances} instances per request",
                }
            ],
        )
    sink.put_feedback(model, request_id, instance, stored)
