"""The training sequence, defined once: its stages in order. `sluice.domain.candidate.train_candidate`
runs them in one process (`sluice train`); the TrainAndPromote state machine runs them one step at a
time (`sluice.app.training.candidate.STEPS_OF_STAGE`). Light on purpose: the state machine's steps import
it without scikit-learn."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """A stage of the training sequence."""

    VALIDATE = "validate"  # the table against the spec: a report by file, row and column
    SEARCH = "search"  # cross-validate the spec's candidates, choose one (specs with `candidates` only)
    FIT = "fit"  # the chosen estimator with the spec's threshold and mitigation (`fit_model`)
    EXPORT = "export"  # to ONNX, parity with scikit-learn proven on the holdout (`export_candidate`)
    ASSESS = "assess"  # holdout metrics, the champion's on the same rows, gates, card (`assess_candidate`)


TRAINING_SEQUENCE: tuple[Stage, ...] = tuple(Stage)
