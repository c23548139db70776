"""Batch scoring, the pure part: a job pinned to one model version, CSV rows turned into the instances
the API validates (the same checks, `feed_from_instances`), and the CSV parts and manifest it writes.

Row numbers are 1-based data rows of the source file (the header is not counted), as in ingest's
validation reports: Step Functions' CSV ItemReader numbers items from 0 (`$$.Map.Item.Index`), so
row = index + 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from sluice.domain.data.table import is_missing, parse_float
from sluice.domain.scoring.onnx_model import InstanceProblem, ModelOutputs, feed_from_instances
from sluice.domain.spec.model_spec import CategoricalFeature, NumericFeature

RESULTS_PREFIX = "batch-results"


class BatchJob(BaseModel):
    """A batch scoring job, pinned when it starts: every batch scores with this version's model, whose
    bytes must have this sha256, whatever production becomes meanwhile."""

    model: str
    job_id: str
    source: str  # s3:// URI of the CSV
    version: int
    model_uri: str
    model_sha256: str
    results_prefix: str  # batch-results/<model>/<job>/
    max_items_per_batch: int = Field(gt=0)
    max_concurrency: int = Field(ge=0)
    tolerated_failure_percentage: float = Field(ge=0, le=100)
    started_at: str
    # explain: true — the version's background, pinned like its model (app/batch/explain.py)
    background_uri: str | None = None
    background_sha256: str | None = None


def results_prefix(model: str, job_id: str) -> str:
    return f"{RESULTS_PREFIX}/{model}/{job_id}/"


def batch_name(first_row: int, last_row: int) -> str:
    """A batch's name in its part files: its row range, zero-padded so names sort in row order."""
    return f"rows-{first_row:010d}-{last_row:010d}"


def instance_of(
    features: list[NumericFeature | CategoricalFeature], row: Mapping[str, str]
) -> dict[str, Any]:
    """A CSV row (cells as text) as the API instance a client would send: a number for a numeric
    feature (the cell's text when it is not one, which validation then names), a string for a
    categorical one, null for a missing cell. Columns that are not inputs (ids, the target) are left
    out; a column the file lacks is left out too (required unless nullable)."""
    instance: dict[str, Any] = {}
    for feature in features:
        cell = row.get(feature.name)
        if cell is None:
            continue
        if is_missing(cell):
            instance[feature.name] = None
        elif isinstance(feature, NumericFeature):
            number = parse_float(cell)
            instance[feature.name] = cell if number is None else number
        else:
            instance[feature.name] = cell.strip()
    return instance


@dataclass
class CheckedRows:
    """Rows checked against the model's schema: the positions (in the batch) of the valid ones, their
    feed, and every problem of the others, named by source row."""

    valid: list[int]
    feed: dict[str, Any] | None
    problems: list[InstanceProblem] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({p.instance for p in self.problems})


def check_rows(
    features: list[NumericFeature | CategoricalFeature], instances: list[dict[str, Any]], rows: list[int]
) -> CheckedRows:
    """Validate instances exactly as /predict does. A batch with no problem is checked once, column by
    column; otherwise each instance is checked alone, so every problem of every row is named (the API
    names the first 100 of a request)."""
    feed, problems = feed_from_instances(features, instances)
    if not problems:
        return CheckedRows(valid=list(range(len(instances))), feed=feed)
    valid: list[int] = []
    named: list[InstanceProblem] = []
    for position, instance in enumerate(instances):
        _, own = feed_from_instances(features, [instance])
        if not own:
            valid.append(position)
        for problem in own.details:
            named.append(problem.model_copy(update={"instance": rows[position]}))
    good_feed = feed_from_instances(features, [instances[i] for i in valid])[0] if valid else None
    return CheckedRows(valid=valid, feed=good_feed, problems=named)


def results_csv(rows: list[int], outputs: ModelOutputs, classes: list[Any] | None) -> bytes:
    """The scored rows as CSV: `row`, `prediction` and, for a classifier, one `probability_<class>`
    column per class (rounded to 6 places, as the API answers)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if outputs.probabilities is not None and outputs.labels is not None:
        writer.writerow(["row", "prediction", *(f"probability_{c}" for c in classes or [])])
        probabilities = np.round(outputs.probabilities.astype(np.float64), 6).tolist()
        writer.writerows(
            [r, label, *p] for r, label, p in zip(rows, outputs.labels.tolist(), probabilities, strict=True)
        )
    else:
        assert outputs.values is not None
        writer.writerow(["row", "prediction"])
        writer.writerows(zip(rows, outputs.values.astype(np.float64).tolist(), strict=True))
    return text.getvalue().encode("utf-8")


def errors_csv(problems: Iterable[InstanceProblem]) -> bytes:
    """Bad rows as CSV: `row`, `field`, `reason` (one line per problem, in row order)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["row", "field", "reason"])
    writer.writerows(
        (p.instance, p.field or "", p.message) for p in sorted(problems, key=lambda p: p.instance or 0)
    )
    return text.getvalue().encode("utf-8")


class BatchSummary(BaseModel):
    """What one batch did (the child's answer, also stored beside its parts): counts only, so the
    Map's state stays far below Step Functions' 256 KB."""

    first_row: int
    last_row: int
    rows: int
    scored: int
    rejected: int
    part: str | None = None  # key of the results part (None: no row of the batch was valid)
    errors: str | None = None  # key of the errors part (None: no bad row)


class JobManifest(BaseModel):
    """batch-results/<model>/<job>/manifest.json: what the job scored, with which model, and where."""

    model: str
    job_id: str
    status: str  # succeeded | failed
    version: int | None = None
    model_sha256: str | None = None
    source: str
    started_at: str | None = None
    finished_at: str
    rows_in: int
    rows_scored: int
    rows_rejected: int
    rows_failed: int  # rows of batches that failed (tolerated), neither scored nor rejected
    failed_ranges: list[list[int]] = Field(default_factory=list)  # [first, last] rows of failed batches
    parts: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    error: str | None = None  # why a failed job failed


def failed_ranges(rows_in: int, summaries: list[BatchSummary]) -> list[list[int]]:
    """The row ranges no batch summary covers (rows of failed batches), in order."""
    covered = sorted((s.first_row, s.last_row) for s in summaries)
    gaps: list[list[int]] = []
    expected = 1
    for first, last in covered:
        if first > expected:
            gaps.append([expected, first - 1])
        expected = max(expected, last + 1)
    if expected <= rows_in:
        gaps.append([expected, rows_in])
    return gaps
