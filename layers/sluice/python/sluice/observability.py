"""The one place Powertools Logger, Tracer and Metrics are created; every handler imports them here.

The tracer is Powertools' Tracer, created on the first invocation that X-Ray samples: constructing it
imports the X-Ray SDK and patches botocore (~100-400 ms of a cold start), which an invocation that is
not traced never needs. Lambda decides sampling per invocation (`_X_AMZN_TRACE_ID`: `Sampled=1`); by
default one request a second and 5% of the rest. Outside Lambda, or with POWERTOOLS_TRACE_DISABLED, it
is never created (as Powertools itself would disable it there).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


SERVICE = "sluice"
NAMESPACE = "Sluice"
TRACE_HEADER = "_X_AMZN_TRACE_ID"
TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})  # Powertools' strtobool

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """Powertools' own rule: in Lambda (LAMBDA_TASK_ROOT), not under `sam local` or chalice, and not
    turned off with POWERTOOLS_TRACE_DISABLED."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in TRUTHY
    local = os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE")
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and not local and not disabled


def sampled() -> bool:
    """Whether X-Ray samples the current invocation (Lambda sets the trace header before each one)."""
    return "Sampled=1" in os.environ.get(TRACE_HEADER, "") and tracing_enabled()


class SampledTracer:
    """Powertools' Tracer for the invocations X-Ray samples; nothing at all for the others."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._tracer: Tracer | None = None

    @property
    def created(self) -> bool:
        return self._tracer is not None

    @property
    def tracer(self) -> Tracer:
        """The Powertools Tracer (created now if needed: imports the X-Ray SDK, patches botocore)."""
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(service=self.service)
        return self._tracer

    def warm(self) -> None:
        """Create the tracer now if this environment traces at all (SnapStart's before-snapshot hook:
        its import cost then lands in the snapshot, not in a restored invocation)."""
        if tracing_enabled():
            self.tracer  # noqa: B018 - created for its side effect

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        """Like Tracer.capture_lambda_handler, applied per invocation and only when it is sampled."""
        traced: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            if not sampled():
                return handler(event, context)
            if not traced:
                traced.append(self.tracer.capture_lambda_handler(handler))
            return traced[0](event, context)

        return wrapper  # type: ignore[return-value]


logger = Logger(service=SERVICE)
tracer = SampledTracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def emit_drift_metrics(
    model: str, dataset_drift: bool, drift_share: float, rows: int, scores: Mapping[str, float]
) -> None:
    """The drift check's CloudWatch metrics for one model, in EMF: `DriftScore` per model and feature
    (`scores`, by feature), `DriftShare`, `DatasetDrift` and `RowsChecked` per model, and `DatasetDrift`
    by service alone with the invocation's metrics (what the template's DriftAlarm watches, whichever
    model drifted)."""
    drift = 1.0 if dataset_drift else 0.0
    metrics.add_metric(name="DatasetDrift", unit=MetricUnit.Count, value=drift)
    for feature, score in scores.items():
        with single_metric(name="DriftScore", unit=MetricUnit.NoUnit, value=score, namespace=NAMESPACE) as m:
            m.add_dimension(name="model", value=model)
            m.add_dimension(name="feature", value=feature)
    for metric, value, unit in (
        ("DriftShare", drift_share, MetricUnit.NoUnit),
        ("DatasetDrift", drift, MetricUnit.Count),
        ("RowsChecked", float(rows), MetricUnit.Count),
    ):
        with single_metric(name=metric, unit=unit, value=value, namespace=NAMESPACE) as m:
            m.add_dimension(name="model", value=model)


def emit_multivariate_drift_metric(model: str, roc_auc: float) -> None:
    """`MultivariateDriftAUC` per model: the ROC AUC of the classifier telling the window's inputs from
    the reference (0.5: alike). Its drift is in `DatasetDrift` already (a changed relationship is
    dataset drift), so no alarm of its own."""
    with single_metric(
        name="MultivariateDriftAUC", unit=MetricUnit.NoUnit, value=roc_auc, namespace=NAMESPACE
    ) as m:
        m.add_dimension(name="model", value=model)


def emit_live_quality_metrics(
    model: str,
    version: int,
    live: Mapping[str, float],
    labelled_rows: int,
    below_minimum: bool,
) -> None:
    """The live quality of one production version, in EMF: `LiveMetric` per model, version and metric
    (`live`: each metric measured on labelled traffic, by name, e.g. accuracy, roc_auc, rmse),
    `LabelledRows` per model and version, and `LiveMetricBelowMinimum` (1 when the spec's metric was worse than
    its gate, else 0) per model and version and by service alone with the invocation's metrics (what the
    template's LiveQualityAlarm watches, whichever model it was)."""
    below = 1.0 if below_minimum else 0.0
    metrics.add_metric(name="LiveMetricBelowMinimum", unit=MetricUnit.Count, value=below)
    dimensions = {"model": model, "version": str(version)}
    for name, value in live.items():
        with single_metric(name="LiveMetric", unit=MetricUnit.NoUnit, value=value, namespace=NAMESPACE) as m:
            for key, text in (dimensions | {"metric": name}).items():
                m.add_dimension(name=key, value=text)
    per_version = [
        ("LabelledRows", float(labelled_rows), MetricUnit.Count),
        ("LiveMetricBelowMinimum", below, MetricUnit.Count),
    ]
    for metric, value, unit in per_version:
        with single_metric(name=metric, unit=unit, value=value, namespace=NAMESPACE) as m:
            for key, text in dimensions.items():
                m.add_dimension(name=key, value=text)


def emit_estimate_metrics(
    model: str, version: int, estimated: Mapping[str, float], rows: int, below_gate: bool
) -> None:
    """The performance of one production version estimated without labels, in EMF: `EstimatedMetric`
    per model, version and metric (each estimate, e.g. roc_auc, f1, mae), `EstimatedRows` per model
    and version, and `EstimatedMetricBelowGate` (1 when the estimate of the spec's metric is worse than
    its gate, else 0) per model and version and by service alone with the invocation's metrics (what
    the template's EstimatedQualityAlarm watches, whichever model it was)."""
    below = 1.0 if below_gate else 0.0
    metrics.add_metric(name="EstimatedMetricBelowGate", unit=MetricUnit.Count, value=below)
    dimensions = {"model": model, "version": str(version)}
    for name, value in estimated.items():
        with single_metric(
            name="EstimatedMetric", unit=MetricUnit.NoUnit, value=value, namespace=NAMESPACE
        ) as m:
            for key, text in (dimensions | {"metric": name}).items():
                m.add_dimension(name=key, value=text)
    for metric, value in (("EstimatedRows", float(rows)), ("EstimatedMetricBelowGate", below)):
        with single_metric(name=metric, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as m:
            for key, text in dimensions.items():
                m.add_dimension(name=key, value=text)


def emit_rollout_metrics(model: str, breached: bool, roles: Mapping[str, Mapping[str, float | None]]) -> None:
    """A live rollout's check, in EMF: `RolloutGuardrailBreached` (1 when a limit was breached, else 0)
    per model and by service alone with the invocation's metrics (what the template's
    RolloutRollbackAlarm watches, like SageMaker's deployment guardrails), and for each role (candidate,
    production) its `RolloutRequests`, `RolloutErrorRate` and `RolloutLatencyP99` per model and role."""
    value = 1.0 if breached else 0.0
    metrics.add_metric(name="RolloutGuardrailBreached", unit=MetricUnit.Count, value=value)
    with single_metric(
        name="RolloutGuardrailBreached", unit=MetricUnit.Count, value=value, namespace=NAMESPACE
    ) as m:
        m.add_dimension(name="model", value=model)
    units = {
        "RolloutRequests": MetricUnit.Count,
        "RolloutErrorRate": MetricUnit.NoUnit,
        "RolloutLatencyP99": MetricUnit.Milliseconds,
    }
    for role, numbers in roles.items():
        for name, number in numbers.items():
            if number is None:
                continue
            with single_metric(name=name, unit=units[name], value=number, namespace=NAMESPACE) as m:
                m.add_dimension(name="model", value=model)
                m.add_dimension(name="role", value=role)


def emit_capture_failures(records: int) -> None:
    """Captured records that were not delivered (`CaptureFailures`, by service, what the template's
    CaptureFailuresAlarm watches), from outside a handler's metrics: the capture extension."""
    with single_metric(
        name="CaptureFailures",
        unit=MetricUnit.Count,
        value=float(records),
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ):
        pass


def emit_drift_check_error() -> None:
    """Count one model whose drift check failed (`DriftCheckErrors`, with the invocation's metrics)."""
    metrics.add_metric(name="DriftCheckErrors", unit=MetricUnit.Count, value=1)


def emit_dashboard_failure() -> None:
    """Count one dashboard regeneration that failed (`DashboardFailures`); the decision it followed stands."""
    metrics.add_metric(name="DashboardFailures", unit=MetricUnit.Count, value=1)
