"""Drift of live traffic: the requests a production version served, as the traffic store captured them
(`{request_id, instance, inputs, outputs: {prediction}}`), against the reference sample stored with
that version; and how right its predictions were where feedback labels arrived. Pure: captured
records, labels and tables in; reports, numbers and sentences out.

Live quality is judged on the spec's own primary metric (computed live by the evaluation's `score`,
so roc_auc on live traffic means what it means on the holdout); what it is expected to be before the
labels arrive is `sluice.domain.monitoring.estimation`'s."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from sluice.domain.data.table import RawTable, table_from_records
from sluice.domain.monitoring.drift.engine import check_drift
from sluice.domain.monitoring.drift.multivariate import multivariate_settings
from sluice.domain.monitoring.drift.report import ColumnDrift, DriftReport
from sluice.domain.monitoring.reference import PREDICTION_COLUMN
from sluice.domain.scoring.onnx_model import ModelOutputs
from sluice.domain.spec.model_spec import Metric, ModelSpec, NumericFeature, Task
from sluice.domain.training.evaluation import score

CapturedRecord = Mapping[str, Any]
Labels = Mapping[tuple[str, int], Any]  # (request_id, instance) -> the true label
LiveMetric = dict[
    str, float | int
]  # {"accuracy" or "rmse": value, [primary metric: value,] "labelled_rows": n}
MIN_LABELLED_ROWS = 30  # fewer labelled rows than this are too few to say the live metric broke a gate


class LiveGate(BaseModel):
    """The spec's primary metric measured live against the gate that bounds it: `gate` is min_metric
    (higher is better) or max_metric (lower is better), None when the spec sets neither; `value` is
    None when the metric could not be computed live (e.g. roc_auc on one class only)."""

    metric: str
    value: float | None
    gate: str | None
    limit: float | None
    labelled_rows: int
    min_rows: int
    below_minimum: bool


def captured_inputs(records: Sequence[CapturedRecord], columns: Sequence[str], source: str) -> RawTable:
    """The captured instances' inputs as a table holding every one of `columns`: a column no instance
    sent is all-missing, not absent (absent would make the drift check refuse the table)."""
    table = table_from_records([r.get("inputs") or {} for r in records], source)
    for name in columns:
        if name not in table.columns:
            table.columns[name] = [""] * len(records)
            table.header.append(name)
    return table


def feature_kinds(spec: ModelSpec) -> dict[str, str]:
    """Each feature's column kind for the drift check: "numerical" or "categorical"."""
    return {f.name: "numerical" if isinstance(f, NumericFeature) else "categorical" for f in spec.features}


def check_input_drift(
    spec: ModelSpec, reference: RawTable, records: Sequence[CapturedRecord], *, min_rows: int, source: str
) -> DriftReport:
    """Drift of the captured inputs against the reference over the spec's features, typed by the spec
    and judged by its drift settings (per-column overrides, share threshold, the multivariate check's
    threshold); "insufficient_data" when either side has fewer than `min_rows` rows."""
    kinds = feature_kinds(spec)
    return check_drift(
        reference,
        captured_inputs(records, spec.feature_names, source),
        column_types=kinds,
        overrides=spec.drift.columns,
        share_threshold=spec.drift.share_threshold,
        min_rows=min_rows,
        columns=spec.feature_names,
        multivariate=multivariate_settings(spec.drift.multivariate_threshold),
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


def live_metric(
    task: Task, records: Sequence[CapturedRecord], labels: Labels, primary: Metric | None = None
) -> LiveMetric | None:
    """Accuracy (classification) or RMSE (regression) of the captured predictions that have a label,
    matched by request id and instance, with how many there were; None when none has a label. With
    `primary` (the spec's metric), that metric too, computed as the evaluation computes it, when it
    can be: probability metrics need every labelled row's captured probabilities and each label's
    column among them (learnt from the captured predictions, the argmax of their probabilities)."""
    labelled = [
        (labels[key], r)
        for r in records
        if (key := (str(r["request_id"]), int(r.get("instance", 0)))) in labels
    ]
    if not labelled:
        return None
    pairs = [(truth, r["outputs"]["prediction"]) for truth, r in labelled]
    result: LiveMetric
    if task is Task.REGRESSION:
        errors = [(float(truth) - float(predicted)) ** 2 for truth, predicted in pairs]
        result = {"rmse": math.sqrt(sum(errors) / len(errors))}
    else:
        correct = sum(str(truth) == str(predicted) for truth, predicted in pairs)
        result = {"accuracy": correct / len(pairs)}
    if primary is not None and primary.value not in result:
        value = _primary_live(task, primary, records, labelled)
        if value is not None:
            result[primary.value] = value
    return result | {"labelled_rows": len(pairs)}


def _primary_live(
    task: Task, primary: Metric, records: Sequence[CapturedRecord], labelled: list[tuple[Any, CapturedRecord]]
) -> float | None:
    if task is Task.REGRESSION:
        y = np.asarray([float(truth) for truth, _ in labelled])
        values = np.asarray([float(r["outputs"]["prediction"]) for _, r in labelled])
        outputs = ModelOutputs(labels=None, probabilities=None, values=values.astype(np.float32))
        return score(task, y, outputs, []).get(primary.value)
    probabilities = [r["outputs"].get("probabilities") or [] for _, r in labelled]
    width = len(probabilities[0])
    columns = _class_columns(records, [str(truth) for truth, _ in labelled], width)
    if columns is None or any(len(p) != width for p in probabilities):
        return None
    predicted = [str(r["outputs"]["prediction"]) for _, r in labelled]
    if any(p not in columns for p in predicted):
        return None
    # Classes as their column numbers, so the truth, the labels and the probabilities agree on the order;
    # the predicted class is the one the model answered (a model deciding at a threshold may answer a
    # class that is not its largest probability).
    y = np.asarray([columns[str(truth)] for truth, _ in labelled])
    labels = np.asarray([columns[p] for p in predicted])
    table = np.asarray(probabilities, dtype=np.float64)
    outputs = ModelOutputs(labels=labels, probabilities=table.astype(np.float32), values=None)
    return score(task, y, outputs, list(range(width))).get(primary.value)


def _class_columns(
    records: Sequence[CapturedRecord], truths: Sequence[str], width: int
) -> dict[str, int] | None:
    """Each class's column among `width` captured probabilities: the captured `classes` (the response's
    order) when the records carry them; else learnt from predictions, each the class of its row's
    largest probability (ties teach nothing; true of models deciding at 0.5 or by argmax, which every
    record captured before `classes` was). A true label never predicted takes the one column left, if
    exactly one is; None when a label's column stays unknown or there are no probabilities."""
    if width < 2:
        return None
    named = next((r["outputs"]["classes"] for r in records if r["outputs"].get("classes")), None)
    if named is not None and len(named) == width:
        return {str(c): i for i, c in enumerate(named)}
    columns: dict[str, int] = {}
    for r in records:
        row = r["outputs"].get("probabilities")
        if row and len(row) == width and row.count(top := max(row)) == 1:
            columns.setdefault(str(r["outputs"]["prediction"]), row.index(top))
    unknown = set(truths) - set(columns)
    free = set(range(width)) - set(columns.values())
    if len(unknown) == 1 and len(free) == 1:
        columns[unknown.pop()] = free.pop()
    return None if set(truths) - set(columns) else columns


def live_gate(
    spec: ModelSpec, metric: LiveMetric | None, min_rows: int = MIN_LABELLED_ROWS
) -> LiveGate | None:
    """The spec's primary metric, measured live, against its gate (like with like: a roc_auc gate is
    compared with the live roc_auc, never the live accuracy). Below the minimum when the value is worse
    than min_metric (higher is better) or max_metric (lower is better) on at least `min_rows` labelled
    rows. None when no captured row has a label."""
    if not metric:
        return None
    value = metric.get(spec.metric.value)
    gate, limit = (
        ("min_metric", spec.gates.min_metric)
        if spec.metric.higher_is_better
        else ("max_metric", spec.gates.max_metric)
    )
    rows = int(metric["labelled_rows"])
    worse = (
        value is not None
        and limit is not None
        and (value < limit if spec.metric.higher_is_better else value > limit)
    )
    return LiveGate(
        metric=spec.metric.value,
        value=None if value is None else float(value),
        gate=gate if limit is not None else None,
        limit=limit,
        labelled_rows=rows,
        min_rows=min_rows,
        below_minimum=worse and rows >= min_rows,
    )


def report_notes(
    prediction_drift: ColumnDrift | None, metric: LiveMetric | None, gate: LiveGate | None = None
) -> list[str]:
    """Lines a person reads under the verdict: prediction drift, the live metrics, and how the spec's
    metric stands against its gate."""
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
    if gate is not None and gate.gate is not None:
        notes.append(_gate_note(gate))
    return notes


def _gate_note(gate: LiveGate) -> str:
    bound = f"the spec's {gate.gate} {gate.limit:g}"
    if gate.value is None:
        return f"Live {gate.metric} could not be computed from the labelled rows; not compared with {bound}."
    if gate.labelled_rows < gate.min_rows:
        return (
            f"Live {gate.metric} {gate.value:.4g} not compared with {bound}: {gate.labelled_rows} labelled "
            f"rows, fewer than {gate.min_rows}."
        )
    verdict = "is worse than" if gate.below_minimum else "meets"
    return f"Live {gate.metric} {gate.value:.4g} {verdict} {bound} on {gate.labelled_rows} labelled rows."
