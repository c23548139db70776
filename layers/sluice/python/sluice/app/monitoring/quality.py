"""The data-quality half of the scheduled check: read the version's baseline (statistics.json and
constraints.json, when it was trained with one) and what earlier checks stored about their volume,
then judge the window (`sluice.domain.monitoring.quality.verdict`). Reads only."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sluice.app.data.stored import REPORT_TIME
from sluice.app.ports import CoreDeps
from sluice.app.training.quality_baseline import CONSTRAINTS_ARTIFACT, STATISTICS_ARTIFACT
from sluice.domain.monitoring.capture_window import CapturedWindow
from sluice.domain.monitoring.quality.baseline import Constraints, Statistics
from sluice.domain.monitoring.quality.verdict import (
    VOLUME_DAYS,
    VOLUME_MATCH,
    DataQuality,
    PreviousVolume,
    judge_window,
    quality_of_report,
)
from sluice.domain.registry.records import ModelVersion
from sluice.domain.spec.model_spec import ModelSpec

logger = logging.getLogger(__name__)


def _baseline(deps: CoreDeps, record: ModelVersion) -> tuple[Statistics, Constraints] | None:
    statistics = record.artifacts.get(STATISTICS_ARTIFACT)
    constraints = record.artifacts.get(CONSTRAINTS_ARTIFACT)
    if statistics is None or constraints is None:
        return None
    return (
        Statistics.model_validate_json(deps.artifacts.get_verified(statistics)),
        Constraints.model_validate_json(deps.artifacts.get_verified(constraints)),
    )


def previous_volumes(deps: CoreDeps, model: str, end: datetime) -> list[PreviousVolume]:
    """The volumes earlier checks stored in reports ending near the same time of day as `end`, on each
    of the previous VOLUME_DAYS days: one listing per day, one read per report that can match."""
    found: list[PreviousVolume] = []
    for days in range(1, VOLUME_DAYS + 1):
        target = end - timedelta(days=days)
        prefixes = {
            f"drift/{model}/{moment:%Y%m%d}T" for moment in (target - VOLUME_MATCH, target + VOLUME_MATCH)
        }
        near: list[tuple[timedelta, str]] = []
        for prefix in sorted(prefixes):
            for key in deps.artifacts.list_keys(prefix):
                if not key.endswith(".json"):
                    continue
                try:
                    at = datetime.strptime(key.rsplit("/", 1)[-1].removesuffix(".json"), REPORT_TIME)
                except ValueError:
                    continue
                distance = abs(at.replace(tzinfo=end.tzinfo) - target)
                if distance <= VOLUME_MATCH:
                    near.append((distance, key))
        for _, key in sorted(near)[:1]:
            try:
                previous = quality_of_report(json.loads(deps.artifacts.get_bytes(deps.artifacts.uri(key))))
            except ValueError:
                previous = None
            if previous is not None:
                found.append(previous)
    return found


def judge_data_quality(
    deps: CoreDeps, record: ModelVersion, spec: ModelSpec, captured: CapturedWindow
) -> DataQuality:
    """The window's data quality for the version of `record`: every check when the version has a
    baseline, the requests and volume alone when it was trained before baselines were stored."""
    baseline = _baseline(deps, record)
    if baseline is None:
        logger.info("no data-quality baseline", extra={"model": record.model, "version": record.version})
    previous = previous_volumes(deps, record.model, captured.end)
    return judge_window(captured, record.version, spec.feature_names, baseline, previous)
