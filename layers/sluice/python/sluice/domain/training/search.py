"""Candidate search: every estimator a spec's `candidates` name, cross-validated on the training part
only (k seeded folds), with its fit time, ONNX size and single-row latency; the best by the primary
metric becomes the challenger (ties: the smaller model, then the order written — never the latency,
a measurement that would make the choice differ between runs)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from sluice.errors import SpecError

if TYPE_CHECKING:  # the records below are read where no scikit-learn (nor numpy) is installed
    import numpy as np
    import numpy.typing as npt
    from sklearn.pipeline import Pipeline

    from sluice.domain.data.table import RawTable
    from sluice.domain.spec.model_spec import ModelSpec

EXPERIMENTS_FILE = "experiments.json"  # beside card.json, in a model folder and in the bucket
TIE_TOLERANCE = 1e-9  # means closer than this are a tie
SEARCH_EXPORT_VERSION = "search"  # the version a candidate's sizing export records
MAX_ERROR_CHARS = 500  # a candidate's error as recorded (scores travel in the state machine's payload)
LABEL_WIDTH_MAX = 72  # the experiment table's candidate column, at most

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


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

    @property
    def label(self) -> str:
        """The algorithm and its grid's values, as people read them: `random_forest {max_depth: 6}`."""
        if not self.params:
            return self.algorithm
        return f"{self.algorithm} {{{', '.join(f'{k}: {v}' for k, v in self.params.items())}}}"

    @property
    def scored(self) -> bool:
        """Whether it can be chosen: no error and a mean on every fold."""
        return self.error is None and self.mean is not None


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

    @property
    def chosen_candidate(self) -> CandidateScore | None:
        return next((c for c in self.candidates if c.index == self.chosen), None)


def _folds(spec: ModelSpec, y: npt.NDArray[Any]) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """The (fit rows, scored rows) of each of the search spec's folds (`spec.folds`; a spec
    `trained_as` a candidate has no search, so pass the search's): stratified for classification,
    seeded and shuffled."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    from sluice.domain.training.pipeline import SEED

    splitter = (
        StratifiedKFold(n_splits=spec.folds, shuffle=True, random_state=SEED)
        if spec.task.is_classification
        else KFold(n_splits=spec.folds, shuffle=True, random_state=SEED)
    )
    return list(splitter.split(np.zeros((len(y), 1)), y))


def _fold_score(spec: ModelSpec, pipeline: Pipeline, rows: RawTable) -> float | None:
    """The primary metric of a fitted pipeline on some rows, through the scoring code the holdout uses,
    on scikit-learn's outputs shaped as ONNX Runtime returns them (float32)."""
    import numpy as np

    from sluice.domain.scoring.onnx_model import ModelOutputs
    from sluice.domain.training.evaluation import score
    from sluice.domain.training.pipeline import model_matrix, target_array

    matrix = model_matrix(spec, rows)
    y = target_array(spec, rows)
    if spec.task.is_classification:
        classes = list(pipeline.classes_)
        outputs = ModelOutputs(
            labels=np.asarray(pipeline.predict(matrix)),
            probabilities=np.asarray(pipeline.predict_proba(matrix), dtype=np.float32),
            values=None,
        )
    else:
        classes = []
        outputs = ModelOutputs(
            labels=None, probabilities=None, values=np.asarray(pipeline.predict(matrix), dtype=np.float32)
        )
    return score(spec.task, y, outputs, classes).get(spec.metric.value)


def cross_validate(
    spec: ModelSpec, train: RawTable, index: int, sample_weight: npt.NDArray[np.float64] | None = None
) -> CandidateScore:
    """Candidate `index` of `spec.candidate_algorithms()` scored on `spec.folds` seeded folds of the
    training rows `train` (its slice of `sample_weight` weighing each fold's fit), then fitted on all
    of them and exported to ONNX for its size and single-row latency. Never raises for the candidate:
    an estimator that fails to fit or export comes back with `error` set."""
    from sluice.domain.data.features import feed_from_table
    from sluice.domain.scoring.onnx_model import OnnxModel
    from sluice.domain.training.evaluation import single_row_latency_ms
    from sluice.domain.training.export import export_onnx
    from sluice.domain.training.pipeline import fit_pipeline, target_array

    algorithm = spec.candidate_algorithms()[index]
    decided = spec.trained_as(algorithm)
    fold_scores: list[float | None] = []
    fit_times: list[float] = []
    size, latency, error = 0, None, None
    try:
        for fit_rows, scored_rows in _folds(spec, target_array(spec, train)):
            weights = None if sample_weight is None else sample_weight[fit_rows]
            started = time.perf_counter()
            pipeline = fit_pipeline(decided, train.select(fit_rows), weights)
            fit_times.append(time.perf_counter() - started)
            fold_scores.append(_fold_score(decided, pipeline, train.select(scored_rows)))
        model = OnnxModel(
            export_onnx(fit_pipeline(decided, train, sample_weight), decided, version=SEARCH_EXPORT_VERSION)
        )
        size = model.size_bytes
        latency = single_row_latency_ms(model, feed_from_table(model.inputs, train))
    except Exception as exc:  # any estimator's failure is this candidate's result, not the search's
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    complete = not error and bool(fold_scores) and all(s is not None for s in fold_scores)
    present = [s for s in fold_scores if s is not None]
    return CandidateScore(
        index=index,
        algorithm=algorithm.name.value,
        params=dict(algorithm.params),
        folds=spec.folds,
        metric=spec.metric.value,
        mean=statistics.fmean(present) if complete else None,
        std=statistics.pstdev(present) if complete else None,
        fold_scores=fold_scores,
        fit_seconds=statistics.fmean(fit_times) if fit_times else 0.0,
        model_size_bytes=size,
        latency_ms_single_row=latency,
        error=error,
    )


def choose(
    spec: ModelSpec, scores: list[CandidateScore], *, rows: int, version: str | None = None
) -> Experiment:
    """The experiment with its choice: the best mean by the metric's direction; means within
    TIE_TOLERANCE are a tie, won by the smaller ONNX model, then the lower index (latency is a
    measurement and never decides, so the choice is reproducible). `reason` says why in words. Raises
    SpecError, naming each candidate's error, when none could be scored."""
    higher = spec.metric.higher_is_better
    scored = [s for s in scores if s.scored]
    if not scored:
        failures = "; ".join(
            f"[{s.index}] {s.label}: {s.error or f'{s.metric} undefined on some fold'}" for s in scores
        )
        raise SpecError(f"candidates: no candidate could be scored ({failures})")

    def mean(s: CandidateScore) -> float:
        assert s.mean is not None
        return s.mean

    best = max(map(mean, scored)) if higher else min(map(mean, scored))
    tied = [s for s in scored if abs(mean(s) - best) <= TIE_TOLERANCE]
    chosen = min(tied, key=lambda s: (s.model_size_bytes, s.index))
    others = sorted((s for s in scored if s is not chosen), key=lambda s: -mean(s) if higher else mean(s))
    return Experiment(
        model=spec.name,
        version=version,
        metric=spec.metric.value,
        higher_is_better=higher,
        folds=spec.folds,
        rows=rows,
        candidates=sorted(scores, key=lambda s: s.index),
        chosen=chosen.index,
        reason=_reason(chosen, tied, others, len(scores)),
    )


def _reason(
    chosen: CandidateScore, tied: list[CandidateScore], others: list[CandidateScore], count: int
) -> str:
    summary = f"{chosen.metric} {chosen.mean:.4g} ± {chosen.std:.2g} over {chosen.folds} folds"
    unscored = count - 1 - len(others)
    tail = f"; {unscored} could not be scored" if unscored else ""
    if len(tied) > 1:
        same_size = [s for s in tied if s.model_size_bytes == chosen.model_size_bytes]
        why = (
            "the smallest model"
            if len(same_size) == 1
            else f"the smallest model (with {len(same_size) - 1} other(s)), and first in the spec's order"
        )
        return (
            f"tied with {len(tied) - 1} other(s) on mean {summary}; chosen as {why} "
            f"({chosen.model_size_bytes} bytes){tail}"
        )
    if not others:
        return f"the only candidate scored: mean {summary}{tail}"
    runner_up = others[0]
    return f"best mean {summary}; next: {runner_up.label} {runner_up.mean:.4g}{tail}"


def progress_line(done: int, count: int, candidate: CandidateScore) -> str:
    """One finished candidate for the terminal:
    `[3/5] random_forest {max_depth: 6}: roc_auc 0.801 ± 0.012, 0.4 s/fold, 1.2 MB, 0.05 ms`."""
    head = f"[{done}/{count}] {candidate.label}: "
    if candidate.error:
        return head + f"failed: {candidate.error}"
    score_text = (
        f"{candidate.metric} {candidate.mean:.4g} ± {candidate.std:.2g}"
        if candidate.mean is not None and candidate.std is not None
        else f"{candidate.metric} undefined on some fold"
    )
    return (
        head + f"{score_text}, {candidate.fit_seconds:.2g} s/fold, {size_text(candidate.model_size_bytes)}, "
        f"{_latency_text(candidate.latency_ms_single_row)}"
    )


def size_text(size_bytes: int) -> str:
    """A byte count as people read it: 812 B, 14.2 kB, 1.2 MB."""
    if size_bytes < 1000:
        return f"{size_bytes} B"
    if size_bytes < 1_000_000:
        return f"{size_bytes / 1000:.1f} kB"
    return f"{size_bytes / 1_000_000:.1f} MB"


def _latency_text(latency_ms: float | None) -> str:
    return "-" if latency_ms is None else f"{latency_ms:.2g} ms"


THREAD_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one_thread_each() -> None:
    """A worker's estimators use one thread (set before they are imported): the workers already use
    every CPU, and OpenMP threads on top of them (HistGradientBoosting's) only contend — measured on 2
    CPUs, its fits took 7 times as long."""
    for name in THREAD_LIMITS:
        os.environ[name] = "1"


def search(
    spec: ModelSpec,
    train: RawTable,
    *,
    sample_weight: npt.NDArray[np.float64] | None = None,
    workers: int | None = None,
    progress: Progress = _quiet,
    version: str | None = None,
) -> Experiment:
    """Cross-validate every candidate of the spec on the training rows `train` (`cross_validate`) in
    `workers` processes (None: one per CPU; 1: in this process), reporting each as it finishes, and
    choose (`choose`). Candidates are recorded in index order whatever order they finish in; scores and
    choice do not depend on `workers`. Raises SpecError when no candidate could be scored."""
    count = len(spec.candidate_algorithms())
    processes = max(1, min(workers or os.cpu_count() or 1, count))
    scores: list[CandidateScore] = []
    if processes == 1:
        for index in range(count):
            scores.append(cross_validate(spec, train, index, sample_weight))
            progress(progress_line(index + 1, count, scores[-1]))
    else:
        # spawn: a fresh interpreter per worker, never a fork of a process that runs OpenMP threads
        with ProcessPoolExecutor(
            max_workers=processes, mp_context=get_context("spawn"), initializer=_one_thread_each
        ) as pool:
            futures = [pool.submit(cross_validate, spec, train, i, sample_weight) for i in range(count)]
            for done, future in enumerate(as_completed(futures), start=1):
                scores.append(future.result())
                progress(progress_line(done, count, scores[-1]))
    return choose(spec, scores, rows=train.n_rows, version=version)


def experiment_text(experiment: Experiment) -> str:
    """The experiment as a fixed-width table for the terminal, the chosen candidate marked `*`, and
    the reason it was chosen."""
    direction = "higher" if experiment.higher_is_better else "lower"
    width = min(max([len("CANDIDATE"), *(len(c.label) for c in experiment.candidates)]), LABEL_WIDTH_MAX)
    version = f" version {experiment.version}" if experiment.version else ""
    lines = [
        f"{experiment.model}{version}: {len(experiment.candidates)} candidates, {experiment.folds}-fold "
        f"cross-validation on {experiment.rows} training rows; {experiment.metric} ({direction} is better)",
        "",
        f"  {'#':>3}  {'CANDIDATE':<{width}} {experiment.metric.upper() + ' MEAN ± STD':<24} "
        f"{'FIT s/FOLD':>10} {'SIZE':>9} {'LATENCY':>9}",
    ]
    for c in experiment.candidates:
        marker = "*" if c.index == experiment.chosen else " "
        if c.error:
            result = "failed"
        elif c.mean is None or c.std is None:
            result = "undefined"
        else:
            result = f"{c.mean:.4f} ± {c.std:.4f}"
        label = c.label if len(c.label) <= width else c.label[: width - 1] + "…"
        lines.append(
            f"{marker} {c.index:>3}  {label:<{width}} {result:<24} {c.fit_seconds:>10.3f} "
            f"{size_text(c.model_size_bytes) if not c.error else '-':>9} "
            f"{_latency_text(c.latency_ms_single_row):>9}"
        )
    lines.extend(f"      [{c.index}] {c.error}" for c in experiment.candidates if c.error)
    chosen = experiment.chosen_candidate
    if chosen is not None:
        lines += ["", f"chosen: [{chosen.index}] {chosen.label} — {experiment.reason}"]
    return "\n".join(lines)
