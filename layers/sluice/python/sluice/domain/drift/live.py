"""Drift of live traffic: the requests a production version served, as the traffic store captured them
(`{request_id, instance, inputs, outputs: {prediction}}`), against the reference sample stored with
that version; and how right its predictions were where feedback labels arrived. Pure: captured
records, labels and tables in; reports, numbers and sentences out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.domain.drift.engine import check_drift
from sluice.domain.drift.report import ColumnDrift, DriftReport
from sluice.domain.reference import PREDICTION_COLUMN
from sluice.domain.spec import ModelSpec, NumericFeature, Task
from sluice.domain.table import RawTable, table_from_records

CapturedRecord = Mapping[str, Any]
Labels = Mapping[tuple[str, int], Any]  # (request_id, instance) -> the true label
LiveMetric = dict[str, float | int]  # {"accuracy" or "rmse": value, "labelled_rows": n}


def captured_inputs(records: Sequence[CapturedRecord], columns: Sequence[str], source: str) -> RawTable:
    """The captured instances' inputs as a table holding every one of `columns`: a column no instance
    sent is all-missing, not absent (absent would make the drift check refuse the table)."""
    table = table_from_records([r.get("inputs") or {} for r in records], source)
    for name in columns:
        if name not in table.columns:
            table.columns[name] = [""] * len(records)
            table.header.append(name)
    return table


def check_input_drift(
    spec: ModelSpec, reference: RawTable, records: Sequence[CapturedRecord], *, min_rows: int, source: str
) -> DriftReport:
    """Drift of the captured inputs against the reference over the spec's features, typed by the spec
    and judged by its drift settings (per-column overrides, share threshold); "insufficient_data" when
    either side has fewer than `min_rows` rows."""
    kinds = {f.name: "numerical" if isinstance(f, NumericFeature) else "categorical" for f in spec.features}
    return check_drift(
        reference,
        captured_inputs(records, spec.feature_names, source),
        column_types=kinds,
        overrides=spec.drift.columns,
        share_threshold=spec.drift.share_threshold,
        min_rows=min_rows,
        columns=spec.feature_names,
    )


def prediction_text(value: Any) -> str:
    """A prediction as the reference sample writes it: floats to 6 significant digits, None empty."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def check_prediction_drift(
    task: Task, reference: RawTable, records: Sequence[CapturedRecord]
) -> DriftReport | None:
    """Drift of the captured predictions against the model's own predictions on its reference sample
    (categorical for classification, numerical for regression); None when the reference has none."""
    if PREDICTION_COLUMN not in reference.columns:
        return None
    predicted = table_from_records(
        [{PREDICTION_COLUMN: prediction_text(r["outputs"]["prediction"])} for r in records], "predictions"
    )
    kind = "categorical" if task.is_classification else "numerical"
    return check_drift(
        reference, predicted, column_types={PREDICTION_COLUMN: kind}, columns=[PREDICTION_COLUMN]
    )


def live_metric(task: Task, records: Sequence[CapturedRecord], labels: Labels) -> LiveMetric | None:
    """Accuracy (classification) or RMSE (regression) of the captured predictions that have a label,
    matched by request id and instance, with how many there were; None when none has a label."""
    pairs = [
        (labels[key], r["outputs"]["prediction"])
        for r in records
        if (key := (str(r["request_id"]), int(r.get("instance", 0)))) in labels
    ]
    if not pairs:
        return None
    if task is Task.REGRESSION:
        errors = [(float(truth) - float(predicted)) ** 2 for truth, predicted in pairs]
        return {"rmse": math.sqrt(sum(errors) / len(errors)), "labelled_rows": len(pairs)}
    correct = sum(str(truth) == str(predicted) for truth, predicted in pairs)
    return {"accuracy": correct / len(pairs), "labelled_rows": len(pairs)}


def report_notes(prediction_drift: ColumnDrift | None, metric: LiveMetric | None) -> list[str]:
    """Lines a person reads under the verdict: prediction drift and live accuracy (or RMSE)."""
    notes = []
    if prediction_drift is not None and prediction_drift.score is not None:
        verdict = "drifted" if prediction_drift.drifted else "not drifted"
        notes.append(
            f"Predictions: {verdict} ({prediction_drift.method} {prediction_drift.score:.3g}, threshold "
            f"{prediction_drift.threshold:g}) against the model's own predictions on its reference sample."
        )
    if metric:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metric.items() if k != "labelled_rows")
        notes.append(f"Live {shown} on {metric['labelled_rows']} captured rows with feedback labels.")
    return notes
