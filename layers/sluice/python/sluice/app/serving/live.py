"""Serving during a live rollout. A canary answers the requests a stable hash of their id gives it (a
retried request lands on the same version); a shadow scores the requests production answered, after
production's answer is final, and its outputs go to capture only. What each version did is tallied in
the container and added to the registry's counts at most every `flush_seconds`.

Lambda runs no code after it answers, so a shadow's inference is on the request's clock though never
in its answer: its errors are counted, never raised, and the overhead is measured in `make bench`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice.app.ports import Outcomes, RolloutCounter, Uncounted
from sluice.app.serving.production import Deployment, ServedModel, predict
from sluice.domain.rollout.live import CANDIDATE, PRODUCTION, VersionTally, scores_on_candidate
from sluice.errors import InvalidRequest, ModelUnavailable

logger = logging.getLogger(__name__)


class RolloutTally:
    """A container's counts per (model, candidate version, role), added to the registry when
    `flush_seconds` have passed since the last time (0: on every request). Counts of a container
    that stops between two flushes are lost; never more than `flush_seconds` of its requests."""

    def __init__(
        self,
        counter: RolloutCounter,
        flush_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        outcomes: Outcomes | None = None,
    ) -> None:
        self._counter = counter
        self.outcomes: Outcomes = outcomes or Uncounted()  # failures counted by the entry point
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._last_flush = clock()
        self._pending: dict[tuple[str, int, str], VersionTally] = {}

    def record(self, model: str, version: int, role: str, **outcome: Any) -> None:
        self._pending.setdefault((model, version, role), VersionTally()).add(**outcome)

    def flush_if_due(self) -> None:
        """Add the pending counts to the registry when they are due. Never raises: a failed write is
        logged and counted (RolloutCountFailures) and its counts are kept for the next flush."""
        if not self._pending or self._clock() - self._last_flush < self._flush_seconds:
            return
        pending, self._pending = self._pending, {}
        self._last_flush = self._clock()
        for (model, version, role), tally in pending.items():
            try:
                self._counter.add_rollout_counts(model, version, role, tally)
            except Exception:
                self.outcomes.rollout_count_failure()
                logger.exception("rollout counts not written; kept for the next flush")
                self._pending[(model, version, role)] = tally.merged(
                    self._pending.get((model, version, role), VersionTally())
                )


@dataclass(frozen=True)
class Answer:
    """The response body, and (shadow) the candidate's outputs per instance, for capture only."""

    body: dict[str, Any]
    shadow: dict[str, Any] | None = None


def _timed(
    served: ServedModel, instances: list[Any], request_id: str, max_instances: int
) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    body = predict(served, instances, max_instances=max_instances, request_id=request_id)
    return body, (time.perf_counter() - started) * 1000


def serve(
    deployment: Deployment,
    instances: list[Any],
    *,
    request_id: str,
    max_instances: int,
    tally: RolloutTally,
) -> Answer:
    """Answer a request with the version the deployment gives it, tallying both versions during a live
    rollout. A client error is production's to name (InvalidRequest, never counted); a canary that fails
    a request production can answer counts an error and production answers it."""
    rollout = deployment.rollout
    if rollout is None:
        return Answer(
            predict(deployment.production, instances, max_instances=max_instances, request_id=request_id)
        )
    model = deployment.production.name
    chosen = scores_on_candidate(request_id, rollout.version, rollout.weight)
    if rollout.mode == "canary" and chosen:
        try:
            if deployment.candidate is None:
                raise ModelUnavailable(f"{model} version {rollout.version} could not be loaded")
            body, ms = _timed(deployment.candidate, instances, request_id, max_instances)
        except Exception as exc:
            # production decides whether the client sent something wrong; if it answers, the canary failed
            try:
                body = predict(
                    deployment.production, instances, max_instances=max_instances, request_id=request_id
                )
            except InvalidRequest:
                raise
            except Exception:
                tally.record(model, rollout.version, CANDIDATE, milliseconds=None, error=True)
                tally.record(model, rollout.version, PRODUCTION, milliseconds=None, error=True)
                tally.flush_if_due()
                raise
            tally.record(model, rollout.version, CANDIDATE, milliseconds=None, error=True)
            _log_candidate_failure(tally, model, rollout.version, exc)
        else:
            tally.record(model, rollout.version, CANDIDATE, milliseconds=ms, instances=len(instances))
        tally.flush_if_due()
        return Answer(body)
    body = _production(deployment, instances, request_id, max_instances, tally, rollout.version)
    shadow = None
    if rollout.mode == "shadow" and chosen:
        shadow = _shadow(deployment, instances, body, request_id, max_instances, tally, rollout.version)
    tally.flush_if_due()
    return Answer(body, shadow)


def _production(
    deployment: Deployment,
    instances: list[Any],
    request_id: str,
    max_instances: int,
    tally: RolloutTally,
    candidate: int,
) -> dict[str, Any]:
    model = deployment.production.name
    try:
        body, ms = _timed(deployment.production, instances, request_id, max_instances)
    except InvalidRequest:
        raise
    except Exception:
        tally.record(model, candidate, PRODUCTION, milliseconds=None, error=True)
        tally.flush_if_due()
        raise
    tally.record(model, candidate, PRODUCTION, milliseconds=ms, instances=len(instances))
    return body


def _shadow(
    deployment: Deployment,
    instances: list[Any],
    answered: dict[str, Any],
    request_id: str,
    max_instances: int,
    tally: RolloutTally,
    version: int,
) -> dict[str, Any]:
    """The shadow's outputs for capture (`{version, predictions[, probabilities] | error}`), its latency
    and agreement with production's answer tallied. Never raises."""
    model = deployment.production.name
    try:
        if deployment.candidate is None:
            raise ModelUnavailable(f"{model} version {version} could not be loaded")
        body, ms = _timed(deployment.candidate, instances, request_id, max_instances)
    except Exception as exc:
        tally.record(model, version, CANDIDATE, milliseconds=None, error=True)
        _log_candidate_failure(tally, model, version, exc)
        return {"version": version, "error": f"{type(exc).__name__}: {exc}"[:300]}
    mine, theirs = body["predictions"], answered["predictions"]
    if "probabilities" in body:
        agreed, diff = sum(a == b for a, b in zip(mine, theirs, strict=True)), 0.0
    else:
        agreed = 0
        diff = sum(abs(a - b) for a, b in zip(mine, theirs, strict=True) if a is not None and b is not None)
    tally.record(
        model, version, CANDIDATE, milliseconds=ms, instances=len(instances), agreed=agreed, abs_diff=diff
    )
    outputs = {"version": version, "predictions": mine}
    if "probabilities" in body:
        outputs["probabilities"] = body["probabilities"]
    return outputs


def _log_candidate_failure(tally: RolloutTally, model: str, version: int, exc: Exception) -> None:
    tally.outcomes.rollout_candidate_error()
    logger.warning(
        "the rollout's candidate failed a request; production answered it",
        extra={"model": model, "candidate": version, "error": f"{type(exc).__name__}: {exc}"[:300]},
    )
