"""Batch jobs with `explain: true` on the in-memory fakes: the pin step pins the version's background
beside its model (or fails the job for a version trained before backgrounds), and each part gets
base_value and a contribution per input beside the scores, adding up to the predicted class's
probability. (Through the BatchScore state machine and `sluice batch --explain`:
tests/integration/test_explain.py.)"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from sluice.app.batch.job import BatchLimits, pin_job
from sluice.app.batch.score import score_batch
from sluice.app.serving import production as serving
from sluice.domain.candidate import train_candidate
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.explain.background import BACKGROUND_ARTIFACT, BACKGROUND_FILE, background_sample
from sluice.errors import ExplanationUnavailable
from sluice.tools.example_data import credit_risk
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_serving import MODEL, SPEC

LIMITS = BatchLimits(max_items_per_batch=100, max_concurrency=1, tolerated_failure_percentage=0)
ROWS = credit_risk(12, seed=4)


@pytest.fixture(scope="module")
def files() -> dict[str, tuple[str, bytes]]:
    table = credit_risk(600, seed=1)
    candidate = train_candidate(SPEC, table, dataset_sha256="0" * 64, version="1")
    assert candidate.onnx_model is not None
    return {
        serving.MODEL_ARTIFACT: ("model.onnx", candidate.onnx_model),
        BACKGROUND_ARTIFACT: (BACKGROUND_FILE, background_sample(SPEC, table)),
    }


def in_production(files: dict[str, tuple[str, bytes]]) -> tuple[FakePorts, str]:
    """The fakes with version 1 in production and the rows to score stored; the rows' URI."""
    fakes = FakePorts()
    fakes.train_version(MODEL, files, spec_sha256=SPEC.sha256)
    fakes.put_in_production(MODEL, 1)
    return fakes, fakes.artifacts.put_bytes("uploads/rows.csv", to_csv_bytes(ROWS)).uri


def scored_rows(fakes: FakePorts, source: str, explain: bool) -> list[dict[str, str]]:
    """Pin a job (its input's `explain`), score every row as one batch, read the part back."""
    job = pin_job(
        {"model": MODEL, "source": source, "job_id": "j", "explain": explain}, LIMITS, fakes.core_deps()
    )
    items: list[dict[str, Any]] = [
        {"index": i, "row": {c: ROWS.columns[c][i] for c in ROWS.header}} for i in range(ROWS.n_rows)
    ]
    summary = score_batch(
        {"BatchInput": {"job": job.model_dump(mode="json")}, "Items": items}, fakes.core_deps()
    )
    assert summary.part is not None and summary.scored == ROWS.n_rows
    part = fakes.artifacts.get_bytes(fakes.artifacts.uri(summary.part)).decode()
    return list(csv.DictReader(io.StringIO(part)))


def test_an_explained_job_writes_contributions_that_add_up_beside_the_scores(
    files: dict[str, tuple[str, bytes]],
) -> None:
    fakes, source = in_production(files)
    rows = scored_rows(fakes, source, explain=True)
    names = [f.name for f in SPEC.features]
    assert list(rows[0]) == [
        "row", "prediction", "probability_0", "probability_1", "base_value",
        *(f"contribution_{n}" for n in names),
    ]  # fmt: skip
    for row in rows:
        total = float(row["base_value"]) + sum(float(row[f"contribution_{n}"]) for n in names)
        assert abs(total - float(row[f"probability_{row['prediction']}"])) < 1e-5


def test_a_job_without_explain_writes_the_scores_only(files: dict[str, tuple[str, bytes]]) -> None:
    fakes, source = in_production(files)
    assert list(scored_rows(fakes, source, explain=False)[0]) == [
        "row",
        "prediction",
        "probability_0",
        "probability_1",
    ]


def test_explaining_with_a_version_trained_before_backgrounds_fails_the_job_at_its_pin(
    files: dict[str, tuple[str, bytes]],
) -> None:
    fakes, source = in_production({serving.MODEL_ARTIFACT: files[serving.MODEL_ARTIFACT]})
    with pytest.raises(ExplanationUnavailable, match="version 1 has no background sample"):
        pin_job({"model": MODEL, "source": source, "job_id": "j", "explain": True}, LIMITS, fakes.core_deps())
