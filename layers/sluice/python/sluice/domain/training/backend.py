"""Where Train runs: TrainFunction (Lambda) or an ECS Fargate task running the same step. Pure: the
spec's `resources` and the dataset's size decide, against the stack's thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.domain.spec.sections import ResourcesSpec, TrainingBackend

LAMBDA = TrainingBackend.LAMBDA.value
FARGATE = TrainingBackend.FARGATE.value


@dataclass(frozen=True)
class LambdaLimits:
    """The largest dataset `auto` trains in Lambda: rows × columns and stored bytes (template parameters
    LambdaMaxCells, LambdaMaxBytes)."""

    max_cells: int
    max_bytes: int


@dataclass(frozen=True)
class DatasetSize:
    rows: int
    columns: int
    size_bytes: int

    @property
    def cells(self) -> int:
        return self.rows * self.columns


@dataclass(frozen=True)
class BackendChoice:
    backend: str  # "lambda" | "fargate"
    reason: str
    cpu: int | None = None  # the Fargate task's size (None for Lambda)
    memory: int | None = None


def choose_backend(resources: ResourcesSpec | None, size: DatasetSize, limits: LambdaLimits) -> BackendChoice:
    """`lambda` or `fargate` for this run: what the spec names, else (`auto`) Fargate when the dataset has
    more than `limits.max_cells` cells or `limits.max_bytes` bytes, Lambda otherwise (at the limit:
    Lambda). A Fargate choice carries the task's cpu and memory."""
    resources = resources or ResourcesSpec()
    cpu, memory = resources.fargate_size
    if resources.backend is TrainingBackend.LAMBDA:
        return BackendChoice(LAMBDA, "the spec asks for lambda")
    if resources.backend is TrainingBackend.FARGATE:
        return BackendChoice(FARGATE, "the spec asks for fargate", cpu, memory)
    if size.cells > limits.max_cells:
        reason = f"{size.rows} rows × {size.columns} columns = {size.cells} cells > {limits.max_cells}"
        return BackendChoice(FARGATE, reason, cpu, memory)
    if size.size_bytes > limits.max_bytes:
        return BackendChoice(FARGATE, f"{size.size_bytes} bytes > {limits.max_bytes}", cpu, memory)
    return BackendChoice(LAMBDA, f"{size.cells} cells and {size.size_bytes} bytes fit in Lambda")
