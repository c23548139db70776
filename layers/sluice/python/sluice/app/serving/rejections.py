"""Counting the requests validation rejects: each becomes one capture line (its problems by field and
kind; the offending instance sampled like capture), sent through the capture sink beside the
predictions, so the drift check can say how much traffic was turned away and why."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from typing import Any

from sluice.app.ports import CaptureSink
from sluice.app.serving.production import Capture, ProductionModels
from sluice.domain.monitoring.quality.traffic import rejection_record
from sluice.errors import InvalidRequest

logger = logging.getLogger(__name__)


def problem_kinds(rejection: InvalidRequest) -> dict[tuple[str | None, str], int]:
    """The rejection's problems by (field, kind): the instances' own when validation counted them,
    else one problem of the request as a whole (its size, or its shape)."""
    if rejection.kinds:
        return dict(rejection.kinds)
    kind = "too_many_instances" if rejection.status == 413 else "malformed_body"
    fields = [d.get("field") for d in rejection.details] or [None]
    first = fields[0]
    return {(first if isinstance(first, str) else None, kind): 1}


def _offending_instance(rejection: InvalidRequest, instances: list[Any] | None) -> Any:
    if not instances:
        return None
    for detail in rejection.details:
        index = detail.get("instance")
        if isinstance(index, int) and 0 <= index < len(instances):
            return instances[index]
    return None


def capture_rejection(
    sink: CaptureSink,
    models: ProductionModels,
    fraction: float,
    model: str,
    rejection: InvalidRequest,
    *,
    request_id: str,
    instances: list[Any] | None = None,
) -> Capture:
    """Write one capture line for a request of `model` that validation rejected: always (every
    rejection is counted), with its first offending instance only when sampled at `fraction`. Only for
    a model with a version in production ("skipped" otherwise: a client cannot make capture write
    under any name it likes). Never raises: a failure is logged and returned ("failed")."""
    try:
        served = models.get(model)
    except Exception:  # unknown, nothing in production, unloadable: nothing to count it against
        return "skipped"
    sampled = fraction > 0 and (fraction >= 1 or random.random() < fraction)
    try:
        record = rejection_record(
            model=served.name,
            version=served.version,
            request_id=request_id,
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            status=rejection.status,
            kinds=problem_kinds(rejection),
            instance=_offending_instance(rejection, instances) if sampled else None,
        )
        sink.write(served.name, request_id, [record])
    except Exception:
        logger.exception("a rejected request was not captured; its 4xx was still returned")
        return "failed"
    return "captured"
