"""The training container's entrypoint (containers/training/Dockerfile, the Fargate task's command):

    python -m sluice.entrypoints.container train

reads the run the state machine staged at TRAINING_RUN_URI, runs the same `train` step TrainFunction
runs (sluice.app.training.task), writes the result beside it and exits 0, or 1 when the step failed."""

from __future__ import annotations

import sys

from sluice.app.training.steps import run_step
from sluice.app.training.task import TRAIN, run_training_task
from sluice.entrypoints.wiring import step_deps
from sluice.observability import logger
from sluice.settings import TrainingTaskSettings

USAGE = "usage: python -m sluice.entrypoints.container train"


def main(argv: list[str]) -> int:
    """Run the command named in `argv` (only `train`); the process's exit code."""
    if argv != [TRAIN]:
        print(USAGE, file=sys.stderr)
        return 2
    settings = TrainingTaskSettings.from_env()
    logger.append_keys(action=TRAIN, run_uri=settings.training_run_uri)
    return run_training_task(settings.training_run_uri, step_deps(settings), run_step)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
