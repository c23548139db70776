"""The estimate against the spec's gate, and in words beside the realized metric."""

from __future__ import annotations

from collections.abc import Mapping

from sluice.domain.monitoring.estimation.basis import MIN_ESTIMATE_ROWS, Estimation, PerformanceEstimate
from sluice.domain.spec.model_spec import ModelSpec

NAMES = {
    "roc_auc": "ROC AUC",
    "accuracy": "accuracy",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "mae": "MAE",
    "rmse": "RMSE",
}


def judged(spec: ModelSpec, estimate: PerformanceEstimate) -> PerformanceEstimate:
    """The estimate with the spec's primary metric judged against its gate (min_metric when higher
    is better, else max_metric): below the gate when the estimate is worse than it on at least
    MIN_ESTIMATE_ROWS rows. No gate when the primary metric is not one estimated (log_loss, r2)."""
    metric = spec.metric
    value = estimate.values.get(metric.value)
    gate, limit = (
        ("min_metric", spec.gates.min_metric)
        if metric.higher_is_better
        else ("max_metric", spec.gates.max_metric)
    )
    if value is None or limit is None:
        return estimate.model_copy(update={"primary": metric.value if value is not None else None})
    worse = value < limit if metric.higher_is_better else value > limit
    return estimate.model_copy(
        update={
            "primary": metric.value,
            "gate": gate,
            "limit": limit,
            "below_gate": worse and estimate.rows >= MIN_ESTIMATE_ROWS,
        }
    )


def estimate_notes(estimation: Estimation | None, realized: Mapping[str, float | int] | None) -> list[str]:
    """Sentences for the report: each estimate with its band beside the realized value where feedback
    measured it ("estimated ROC AUC 0.71 (0.66–0.76) without labels; realized 0.69 on 420 labelled
    rows"), the gate's verdict, or why there is no estimate."""
    if estimation is None:
        return []
    estimate = estimation.estimate
    if estimate is None:
        return [f"No performance estimate: {estimation.unavailable}."] if estimation.unavailable else []
    realized = realized or {}
    rows = int(realized.get("labelled_rows", 0))
    order = [estimate.primary] if estimate.primary else []
    order += [m for m in estimate.values if m != estimate.primary]
    notes: list[str] = []
    for metric in order:
        value = estimate.values[metric]
        low, high = estimate.band.get(metric, (value, value))
        line = f"Estimated {NAMES.get(metric, metric)} {value:.3g} ({low:.3g}–{high:.3g}) without labels"
        if not notes:
            line += f" on {estimate.rows} captured rows ({estimate.method.upper()})"
        if metric in realized:
            line += f"; realized {float(realized[metric]):.3g} on {rows} labelled rows"
        notes.append(line + ".")
    if estimate.gate is not None and estimate.primary is not None:
        verdict = "is worse than" if estimate.below_gate else "meets"
        if estimate.rows < MIN_ESTIMATE_ROWS:
            verdict = f"is not judged ({estimate.rows} rows, fewer than {MIN_ESTIMATE_ROWS}) against"
        notes.append(
            f"The estimated {NAMES.get(estimate.primary, estimate.primary)} {verdict} the spec's "
            f"{estimate.gate} {estimate.limit:g}, before any label arrives."
        )
    return notes
