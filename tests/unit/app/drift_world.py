"""Builders for the drift check tests: a model in production in the fakes, its reference sample,
and captured traffic around it."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from sluice.app.data.stored import spec_key
from sluice.app.monitoring.assess import DriftAssessment
from sluice.app.monitoring.limits import DriftCheckLimits
from sluice.domain.data.table import RawTable, to_csv_bytes
from sluice.domain.monitoring.drift.live import (
    LiveMetric,
    check_input_drift,
    check_prediction_drift,
)
from sluice.domain.monitoring.estimation.basis import Estimation, PerformanceEstimate
from sluice.domain.monitoring.reference import PREDICTION_COLUMN, read_reference, reference_sample
from sluice.domain.registry.records import (
    AuditEvent,
    DatasetRecord,
    EventType,
    ModelVersion,
    SpecRecord,
    TrafficWindow,
    new_event_id,
    utc_now,
)
from sluice.domain.spec.model_spec import ModelSpec, parse_spec
from tests.unit.app.fakes import FakePorts

MODEL = "loans"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LOANS_SPEC = """
name: loans
task: binary
target: default
features:
  - {name: income, type: numeric}
  - {name: debt_ratio, type: numeric}
  - {name: segment, type: categorical, categories: [retail, sme, corporate]}
algorithm: {name: logistic_regression}
metric: accuracy
retrain_on_drift: true
"""
PRICES_SPEC = """
name: prices
task: regression
target: price
features:
  - {name: area, type: numeric}
algorithm: {name: ridge}
metric: rmse
"""
SETTINGS = DriftCheckLimits(
    drift_window_hours=24,
    drift_min_rows=50,
    retrain_cooldown_hours=24,
)


def loan_rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    """Loan applications; `shift` moves income and debt ratio up (the segment mix stays). The model
    predicts a default when the debt ratio is above one half."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50 + 30 * shift, 10, n)
    debt = rng.uniform(0 + shift / 2, 1 + shift / 2, n)
    segment = rng.choice(["retail", "sme", "corporate"], n, p=[0.6, 0.3, 0.1])
    return [
        {
            "income": round(float(income[i]), 2),
            "debt_ratio": round(float(debt[i]), 3),
            "segment": str(segment[i]),
            "default": int(debt[i] > 0.6),
            "prediction": int(debt[i] > 0.5),
        }
        for i in range(n)
    ]


def reference_bytes(spec: ModelSpec, rows: list[dict[str, Any]], *, predictions: bool = True) -> bytes:
    """A reference sample as training writes it, with the model's own predictions when asked."""
    columns = [*spec.feature_names, spec.target]
    table = RawTable(
        source="train.csv", header=columns, columns={c: [str(r[c]) for r in rows] for c in columns}
    )
    if not predictions:
        return reference_sample(spec, table)
    table.columns[PREDICTION_COLUMN] = [str(r["prediction"]) for r in rows]
    table.header.append(PREDICTION_COLUMN)
    return gzip.compress(to_csv_bytes(table))


def register_model(fakes: FakePorts, spec_text: str, *, dataset: bool = True) -> ModelSpec:
    """The model's spec stored and current, and (unless told) an accepted dataset to retrain on."""
    spec = parse_spec(spec_text)
    stored = fakes.artifacts.put_bytes(spec_key(spec.name, spec.sha256), spec_text.encode())
    fakes.registry.register_spec(
        SpecRecord(
            model=spec.name, sha256=spec.sha256, uri=stored.uri, source_key="spec.yaml", created_at=utc_now()
        ),
        AuditEvent(model=spec.name, type=EventType.SPEC_REGISTERED, id=new_event_id()),
    )
    if dataset:
        fakes.registry.put_dataset(
            DatasetRecord(
                model=spec.name,
                sha256="d" * 64,
                uri=f"s3://artifacts/datasets/{spec.name}/data.csv",
                source_key="data.csv",
                n_rows=400,
                size_bytes=1,
                spec_sha256=spec.sha256,
                validation_uri="s3://artifacts/validation.json",
                created_at=utc_now(),
            )
        )
    return spec


def newer_upload(fakes: FakePorts, spec: ModelSpec) -> None:
    """An accepted upload newer than the one `register_model` stores: something a retraining learns
    from that the version in production (`put_in_production`) was not trained on."""
    fakes.registry.put_dataset(
        DatasetRecord(
            model=spec.name,
            sha256="e" * 64,
            uri=f"s3://artifacts/datasets/{spec.name}/newer.csv",
            source_key="newer.csv",
            n_rows=400,
            size_bytes=1,
            spec_sha256=spec.sha256,
            validation_uri="s3://artifacts/validation.json",
            created_at="9999-01-01T00:00:00Z",
        )
    )


def put_in_production(
    fakes: FakePorts, spec: ModelSpec, reference: bytes, estimation: bytes | None = None
) -> ModelVersion:
    """A version of the model, trained on its dataset, with its reference sample (and, when given, its
    estimation.json), in production."""
    artifacts = {"model": ("model.onnx", b"onnx"), "reference": ("reference.csv.gz", reference)}
    if estimation is not None:
        artifacts["estimation"] = ("estimation.json", estimation)
    record = fakes.train_version(spec.name, artifacts, spec_sha256=spec.sha256)
    return fakes.put_in_production(spec.name, record.version)


def captured(
    rows: list[dict[str, Any]], *, version: int = 1, hours_ago: float = 1.0, probabilities: bool = False
) -> list[dict[str, Any]]:
    """The capture lines of serving `rows` (ten instances a request) to `version`, `hours_ago` before NOW;
    with `probabilities`, a classifier's too (see `default_probabilities`)."""
    time = (NOW - timedelta(hours=hours_ago)).isoformat()
    return [
        {
            "request_id": f"{version}-{hours_ago}-{i // 10}",
            "instance": i % 10,
            "time": time,
            "model": MODEL,
            "version": version,
            "inputs": {"income": r["income"], "debt_ratio": r["debt_ratio"], "segment": r["segment"]},
            "outputs": {"prediction": r["prediction"]}
            | ({"probabilities": default_probabilities(r["debt_ratio"])} if probabilities else {}),
        }
        for i, r in enumerate(rows)
    ]


def default_probabilities(debt_ratio: float) -> list[float]:
    """The loans model's probabilities of [no default, default]: the debt ratio, kept within [0, 1],
    is the chance of default (so the prediction, debt ratio above one half, is their argmax)."""
    default = min(max(debt_ratio, 0.0), 1.0)
    return [round(1 - default, 6), round(default, 6)]


def label_all(fakes: FakePorts, model: str, records: list[dict[str, Any]], right: int) -> None:
    """Feedback for every record: the first `right` labels agree with the prediction, the rest do not."""
    for i, record in enumerate(records):
        predicted = int(record["outputs"]["prediction"])
        fakes.traffic.put_feedback(
            model, record["request_id"], record["instance"], predicted if i < right else 1 - predicted
        )


def serve(fakes: FakePorts, model: str, records: list[dict[str, Any]]) -> None:
    requests: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        requests.setdefault(record["request_id"], []).append(record)
    for request_id, instances in requests.items():
        fakes.traffic.write(model, request_id, instances)


def assessment(
    spec: ModelSpec,
    *,
    shift: float,
    live: LiveMetric | None = None,
    estimate: PerformanceEstimate | None = None,
) -> DriftAssessment:
    """What assessing `shift`ed traffic against the loans reference finds (built with the domain's checks,
    so acting is tested apart from reading)."""
    reference = read_reference(reference_bytes(spec, loan_rows(400, seed=1)))
    records = captured(loan_rows(200, seed=2, shift=shift))
    report = check_input_drift(spec, reference, records, min_rows=50, source="capture/loans")
    return DriftAssessment(
        model=spec.name,
        version=1,
        spec=spec,
        window=TrafficWindow(start=NOW - timedelta(hours=24), end=NOW),
        rows=report.n_current,
        report=report,
        prediction_report=check_prediction_drift(spec.task, reference, records),
        live_metric=live or {"accuracy": 0.9, "labelled_rows": 10},
        estimation=Estimation(estimate=estimate) if estimate else None,
    )
