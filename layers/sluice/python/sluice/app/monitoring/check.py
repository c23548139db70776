"""The scheduled drift check, for each model in production: assess (captured inputs of the last window
against the reference sample of that version, the drift of its predictions, live accuracy where
feedback exists), then act (`sluice.app.monitoring.act`: metrics, an alert and, if the spec allows, one
retraining, then a report in S3 that says in words what was found and done)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sluice.app.data.stored import load_spec, spec_key
from sluice.app.monitoring.act import ModelCheck, act_on_drift
from sluice.app.monitoring.assess import DriftAssessment
from sluice.app.monitoring.estimation import read_estimator
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.app.monitoring.quality import judge_data_quality
from sluice.app.ports import CoreDeps, TrainingDeps
from sluice.app.registry.dashboard import refresh_dashboard
from sluice.domain.data.table import RawTable
from sluice.domain.monitoring.capture_window import CapturedWindow
from sluice.domain.monitoring.drift.live import (
    check_input_drift,
    check_prediction_drift,
    live_metric,
)
from sluice.domain.monitoring.estimation.window import Estimator, estimate_window, not_estimable
from sluice.domain.monitoring.reference import read_reference
from sluice.domain.registry.records import ModelVersion, TrafficWindow
from sluice.domain.spec.model_spec import ModelSpec
from sluice.errors import SluiceError, StackError

logger = logging.getLogger(__name__)


def check_production_models(
    deps: TrainingDeps,
    limits: DriftCheckLimits,
    now: datetime | None = None,
    report: Callable[[ModelCheck], None] | None = None,
) -> list[ModelCheck]:
    """The scheduled check over every model that has a production version. A model whose check raises
    a SluiceError is reported with status "error" (and counted in DriftCheckErrors); the others are
    still checked. When a model's check failed on an AWS service (StackError: a throttle or an outage
    the SDK's retries did not outlast), the StackError is raised once every model was checked: the
    invocation fails so that it is retried (EventBridge, then Lambda's asynchronous retries), rather than
    the model going unchecked — its retraining unstarted — until the next schedule. Each model's check
    is passed to `report` as soon as it is done (the entry point emits its metrics and logs it), so
    that the checks done are reported even when the invocation then fails."""
    moment = now or datetime.now(UTC)
    checks: list[ModelCheck] = []
    transient: list[StackError] = []
    for model, version in production_models(deps):
        try:
            check = check_model(deps, limits, model, version, moment)
        except SluiceError as exc:  # one model's broken artifacts must not stop the others' checks
            logger.exception("drift check failed", extra={"model": model, "version": version})
            check = ModelCheck.failed(model, version, str(exc))
            if isinstance(exc, StackError):
                transient.append(exc)
        checks.append(check)
        if report is not None:
            report(check)
        refresh_dashboard(deps, model)  # never raises
    if transient:
        failed = [c.model for c in checks if c.status == "error"]
        raise StackError(
            f"the drift check of {', '.join(failed)} failed on AWS ({transient[0]}); the others were "
            "checked: the check runs again",
            code=transient[0].code,
        )
    return checks


def production_models(deps: CoreDeps) -> list[tuple[str, int]]:
    """Every model that has a production version, with that version (what the scheduled check checks)."""
    found = []
    for meta in deps.registry.list_models():
        alias = deps.registry.get_alias(meta.model)
        if alias is not None:
            found.append((meta.model, alias.version))
    return found


def check_model(
    deps: TrainingDeps, limits: DriftCheckLimits, model: str, version: int, now: datetime
) -> ModelCheck:
    """Run the drift check for one model's production version and act on its verdict."""
    return act_on_drift(deps, limits, assess_model(deps, limits, model, version, now), now)


def assess_model(
    deps: CoreDeps, limits: DriftCheckLimits, model: str, version: int, now: datetime
) -> DriftAssessment:
    """Read the version's spec and reference sample and the traffic it served in the window ending at
    `now`, then check input drift (at least `drift_min_rows` rows on each side, else
    "insufficient_data"), prediction drift (when the inputs were checked and the reference holds the
    model's predictions), the live metric from feedback labels (with the spec's primary metric) and
    the performance estimated without labels (CBPE or DLE, from what its training stored; none for
    a version trained before estimation existed). Writes nothing."""
    inputs = version_inputs(deps, model, version)
    window = TrafficWindow(start=now - timedelta(hours=limits.drift_window_hours), end=now)
    captured = deps.traffic.window(
        model, window.start, window.end, max_rows=limits.drift_max_rows, version=version
    )
    return assess_captured(deps, limits, inputs, window, captured)


@dataclass(frozen=True)
class VersionInputs:
    """What a check reads of a version before its traffic: its record, spec, reference sample and
    estimator (None for a version trained before estimation existed)."""

    record: ModelVersion
    spec: ModelSpec
    reference: RawTable
    estimator: Estimator | None


def version_inputs(deps: CoreDeps, model: str, version: int) -> VersionInputs:
    """The version's record, spec, reference sample (sha256-checked) and estimator."""
    record = deps.registry.get_version(model, version)
    spec = load_spec(deps.artifacts.uri(spec_key(model, str(record.spec_sha256))), deps.artifacts)
    reference = read_reference(deps.artifacts.get_verified(record.artifacts["reference"]))
    return VersionInputs(record, spec, reference, read_estimator(deps.artifacts, record.artifacts))


def assess_captured(
    deps: CoreDeps,
    limits: DriftCheckLimits,
    inputs: VersionInputs,
    window: TrafficWindow,
    captured: CapturedWindow,
) -> DriftAssessment:
    """The checks of `assess_model` on a window already read (in one pass, or merged from summaries),
    data quality included."""
    version = inputs.record.version
    assessment = assess_window(
        inputs.spec,
        version,
        inputs.reference,
        window,
        captured,
        min_rows=limits.drift_min_rows,
        estimator=inputs.estimator,
    )
    quality = judge_data_quality(deps, inputs.record, inputs.spec, captured)
    return replace(assessment, data_quality=quality)


def assess_window(
    spec: ModelSpec,
    version: int,
    reference: RawTable,
    window: TrafficWindow,
    captured: CapturedWindow,
    *,
    min_rows: int,
    estimator: Estimator | None = None,
) -> DriftAssessment:
    """The checks of `assess_model` on a window already read: input drift, prediction drift and the
    performance `estimator` expects on its sample of `version`'s rows (every row when the window held
    no more than the sample's size; the report then names the window's row count), the live metric on
    every labelled row of `version`."""
    records = captured.sample
    report = check_input_drift(spec, reference, records, min_rows=min_rows, source=f"capture/{spec.name}")
    report = report.model_copy(update={"n_current_window": captured.sampled_from})
    predictions = check_prediction_drift(spec.task, reference, records) if report.status == "ok" else None
    return DriftAssessment(
        model=spec.name,
        version=version,
        spec=spec,
        window=window,
        rows=report.n_current,
        report=report,
        prediction_report=predictions,
        live_metric=live_metric(spec.task, captured.labelled_of(version), captured.labels, spec.metric),
        captured=captured,
        estimation=estimate_window(spec, estimator, records) if estimator else not_estimable(version),
    )
