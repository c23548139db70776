"""Candidate search: every estimator a spec's `candidates` name, cross-validated on the training part
only (k seeded folds), with its fit time, ONNX size and single-row latency; the best by the primary
metric becomes the challenger (ties: the smaller model, then the faster, then the order written)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CandidateScore(BaseModel):
    """One candidate's cross-validated score on the training part, and what it costs to serve."""

    index: int  # its place in `spec.candidate_algorithms()`
    algorithm: str
    params: dict[str, Any]
    folds: int
    metric: str
    mean: float | None  # None: the metric was undefined on some fold
    std: float | None
    fold_scores: list[float | None]
    fit_seconds: float  # mean over folds (a measurement: differs between runs)
    model_size_bytes: int  # its ONNX export fitted on the whole training part
    latency_ms_single_row: float | None  # median, ONNX Runtime (a measurement)
    error: str | None = None  # why it could not be scored (e.g. export failed); never chosen then


class Experiment(BaseModel):
    """A run's search: every candidate, and the one chosen (experiments.json)."""

    model: str
    version: str | None = None
    metric: str
    higher_is_better: bool
    folds: int
    rows: int  # training rows the folds were drawn from
    candidates: list[CandidateScore]
    chosen: int | None = Field(default=None, description="index of the chosen candidate")
    reason: str = ""  # why that one, in words
