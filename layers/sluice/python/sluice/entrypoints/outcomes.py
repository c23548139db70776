"""What the use cases return, told to CloudWatch: the entry points emit the metrics (EMF, with
Powertools) and log the outcomes here, so that the use cases stay plain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from sluice.observability import (
    NAMESPACE,
    emit_dashboard_failure,
    emit_drift_check_error,
    emit_drift_metrics,
    emit_estimate_metrics,
    emit_live_quality_metrics,
    emit_multivariate_drift_metric,
    emit_rollout_metrics,
    logger,
    metrics,
)

if TYPE_CHECKING:
    from sluice.app.monitoring.act import ModelCheck  # imports the drift reports: typing only


class CountedOutcomes:
    """The `Outcomes` port of a Lambda function: each outcome a metric of the invocation (EMF)."""

    def model_integrity_failure(self) -> None:
        count_model_integrity_failure()

    def rollout_count_failure(self) -> None:
        metrics.add_metric(name="RolloutCountFailures", unit="Count", value=1)

    def rollout_candidate_error(self) -> None:
        metrics.add_metric(name="RolloutCandidateErrors", unit="Count", value=1)

    def dashboard_failure(self) -> None:
        emit_dashboard_failure()

    def rollout_checked(
        self, model: str, breached: bool, roles: Mapping[str, Mapping[str, float | None]]
    ) -> None:
        emit_rollout_metrics(model, breached, roles)


COUNTED = CountedOutcomes()


def count_model_integrity_failure() -> None:
    """A model file that failed its sha256 check, or a champion that could not be verified."""
    metrics.add_metric(name="ModelIntegrityFailures", unit="Count", value=1)


def count_capture(outcome: Literal["captured", "skipped", "failed"]) -> None:
    """A request's capture: `CaptureFailures` when it failed (the prediction was still returned)."""
    if outcome == "failed":
        metrics.add_metric(name="CaptureFailures", unit="Count", value=1)


def report_drift_check(check: ModelCheck) -> None:
    """One model's scheduled drift check: `DriftCheckErrors` when it failed; else its drift metrics,
    its live quality (LiveMetricBelowMinimum is 1 when the spec's metric is worse than its gate), its
    performance estimated without labels (EstimatedMetricBelowGate is 1 when the estimate of the
    spec's metric is worse than its gate) and the log line "drift checked"."""
    if check.status == "error":
        emit_drift_check_error()
        return
    emit_drift_metrics(check.model, check.dataset_drift, check.drift_share, check.rows, check.drift_scores)
    if check.multivariate is not None:
        emit_multivariate_drift_metric(check.model, check.multivariate.roc_auc)
    live = check.live_metric or {}
    emit_live_quality_metrics(
        check.model,
        check.version,
        {name: float(value) for name, value in live.items() if name != "labelled_rows"},
        int(live.get("labelled_rows", 0)),
        check.live_gate is not None and check.live_gate.below_minimum,
    )
    if check.estimated is not None:
        estimate = check.estimated
        emit_estimate_metrics(check.model, check.version, estimate.values, estimate.rows, estimate.below_gate)
    emit_data_quality_metrics(check.model, check.reject_rate, check.data_quality_violations)
    logger.info("drift checked", extra=check.model_dump(mode="json", exclude={"prediction_drift"}))


def emit_data_quality_metrics(model: str, reject_rate: float | None, violations: int | None) -> None:
    """A check's data quality, in EMF: `RejectedRequestRate` (rejected over all requests of the window,
    when it saw any) and `DataQualityViolations` (constraints violated), each per model and by service
    alone with the invocation's metrics (what the template's DataQualityAlarm watches)."""
    for name, value, unit in (
        ("RejectedRequestRate", reject_rate, MetricUnit.NoUnit),
        ("DataQualityViolations", None if violations is None else float(violations), MetricUnit.Count),
    ):
        if value is None:
            continue
        metrics.add_metric(name=name, unit=unit, value=value)
        with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="model", value=model)
