"""The spec's sections: which algorithm (`algorithm`) or which candidates to search (`candidates`), how
a binary classifier decides (`threshold`), how it is made fairer (`fairness`), how a retraining builds
its data (`retraining`) and how a challenger that passed its gates reaches production (`rollout`).
Part of the spec (`sluice.domain.spec.model_spec` re-exports them); kept apart to keep each module short."""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice.domain.spec.algorithms import ALGORITHM_TASKS, Algorithm, Task, check_algorithm_params


class Strict(BaseModel):
    """A spec section: unknown keys are errors, values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AlgorithmSpec(Strict):
    """One estimator with its parameters (each a value)."""

    name: Algorithm
    params: dict[str, Any] = Field(default_factory=dict)


# Candidates searched when a spec says `candidates: auto`, per task: a linear model, a forest and
# boosted trees, each with a small grid. Kept small: every candidate is k fits.
AUTO_CANDIDATES: dict[Task, list[dict[str, Any]]] = {
    Task.BINARY: [
        {"name": "logistic_regression", "params": {"C": [0.1, 1.0]}},
        {"name": "random_forest", "params": {"n_estimators": [100], "max_depth": [6, None]}},
        {"name": "hist_gradient_boosting", "params": {"max_iter": [100]}},
    ],
    Task.REGRESSION: [
        {"name": "ridge", "params": {"alpha": [0.1, 1.0, 10.0]}},
        {"name": "random_forest", "params": {"n_estimators": [100], "max_depth": [8, None]}},
        {"name": "hist_gradient_boosting", "params": {"max_iter": [100]}},
    ],
}
AUTO_CANDIDATES[Task.MULTICLASS] = AUTO_CANDIDATES[Task.BINARY]
MAX_CANDIDATES = 40  # a Map's results travel in the state payload (256 KB)


class CandidateGrid(Strict):
    """An algorithm and a small grid: each parameter's value is a list of options (a single value is one
    option); every combination is one candidate."""

    name: Algorithm
    params: dict[str, Any] = Field(default_factory=dict)

    def expand(self) -> list[AlgorithmSpec]:
        """Every combination of the grid's options, in the order they are written."""
        names = list(self.params)
        options = [value if isinstance(value, list) else [value] for value in self.params.values()]
        return [
            AlgorithmSpec(name=self.name, params=dict(zip(names, combination, strict=True)))
            for combination in itertools.product(*options)
        ]

    def problems(self, task: Task, key: str) -> list[str]:
        """What is wrong with this grid for `task`, each message naming `key`."""
        if task not in ALGORITHM_TASKS[self.name]:
            return [f"{key}.name: {self.name.value} cannot do {task.value}"]
        if any(isinstance(v, list) and not v for v in self.params.values()):
            return [f"{key}.params: every parameter needs at least one option"]
        found: list[str] = []
        for candidate in self.expand():
            for problem in check_algorithm_params(self.name, task, candidate.params):
                message = problem.replace("algorithm.params", f"{key}.params")
                if message not in found:
                    found.append(message)
        return found


class ThresholdObjective(StrEnum):
    F1 = "f1"  # the threshold with the best F1 on out-of-fold predictions of the training part
    YOUDEN = "youden"  # the largest true-positive rate minus false-positive rate
    COST = "cost"  # the lowest total cost of false positives and false negatives


class ThresholdSpec(Strict):
    """How a binary classifier's decision threshold is chosen: on the training part (out-of-fold
    predictions, never the holdout), then written into the ONNX model's `label`."""

    optimise: ThresholdObjective
    costs: dict[Literal["false_positive", "false_negative"], float] | None = None

    @model_validator(mode="after")
    def _costs_for_cost(self) -> ThresholdSpec:
        if self.optimise is ThresholdObjective.COST:
            if not self.costs or set(self.costs) != {"false_positive", "false_negative"}:
                raise ValueError("optimise: cost needs costs: {false_positive: …, false_negative: …}")
            if any(value < 0 for value in self.costs.values()) or not any(self.costs.values()):
                raise ValueError("costs: must be non-negative and not all zero")
        elif self.costs is not None:
            raise ValueError(f"costs: applies to optimise: cost, not {self.optimise.value}")
        return self


class Mitigation(StrEnum):
    NONE = "none"
    REWEIGHING = "reweighing"  # sample weights that make label and group independent (Kamiran & Calders)
    THRESHOLD = "threshold"  # one decision threshold that brings true-positive rates within `tolerance`


class FairnessSpec(Strict):
    """Fairness: the sensitive column (never a feature, never needed to serve), and how to make the model
    fairer. The gap gate stays in `gates.max_fairness_gap`."""

    sensitive: str | None = None
    mitigation: Mitigation = Mitigation.NONE
    tolerance: float = Field(default=0.05, gt=0, le=1)  # threshold mitigation's equal-opportunity gap


class RetrainingSpec(Strict):
    """How a retraining (drift or manual) builds its data: the latest accepted upload plus the labelled
    traffic (captured inputs joined with feedback) of the last `window_days`, whose rows weigh
    `recent_weight` times an upload row when fitting, except the newest `recent_holdout_fraction` of
    them: the recent holdout."""

    window_days: int = Field(default=7, ge=1, le=365)
    recent_weight: float = Field(default=2.0, gt=0, le=100)
    # The newest share of the labelled rows is held out (never trained on) as the recent holdout; the
    # gates judge on it when it has at least `min_labelled_rows` rows, else on the usual holdout.
    recent_holdout_fraction: float = Field(default=0.3, ge=0, lt=1)
    min_labelled_rows: int = Field(default=50, ge=1)
    # The scheduled drift check also retrains when the last training started longer ago than this.
    schedule_days: int | None = Field(default=None, ge=1, le=365)


class RolloutMode(StrEnum):
    AUTO = "auto"  # promoted as soon as its gates pass (the default)
    MANUAL = "manual"  # waits for `sluice models approve|reject`, rejected after `timeout_hours`
    SHADOW = "shadow"  # scores every request beside production, off the answer; compared, then decided
    CANARY = "canary"  # serves `weight` of the requests; promoted, or rolled back on a breached limit

    @property
    def is_live(self) -> bool:
        """Whether the candidate is tried on live traffic before it is decided."""
        return self in (RolloutMode.SHADOW, RolloutMode.CANARY)


# A live rollout's state machine loops Wait → CheckRollout; Step Functions keeps at most 25,000 events
# in an execution's history, about nine per loop.
MAX_ROLLOUT_CHECKS = 2500
_LIVE_ONLY = (
    "weight",
    "min_requests",
    "min_hours",
    "min_labelled_rows",
    "max_error_rate_increase",
    "max_latency_p99_ratio",
    "max_metric_drop",
    "min_agreement",
    "check_seconds",
)


class RolloutSpec(Strict):
    """How a challenger that passed its gates reaches production (docs/concepts/rollout.md).

    `auto` promotes it at once; `manual` holds it as pending_approval until a person answers or
    `timeout_hours` pass. `shadow` and `canary` try it on live traffic: shadow scores the requests
    production answers without answering them; canary answers `weight` of them (chosen by a stable hash
    of the request id). Every `check_seconds` the candidate is compared with production over the same
    period: it is rolled back as soon as a limit is breached, promoted once it has served `min_requests`
    requests (after `min_hours`, and with `min_labelled_rows` labelled rows when set) within the limits,
    and rolled back when `timeout_hours` pass first."""

    mode: RolloutMode = RolloutMode.AUTO
    timeout_hours: float = Field(default=72, gt=0, le=8760)
    weight: float | None = Field(default=None, gt=0, le=1)  # canary 0.1, shadow 1.0 by default
    min_requests: int = Field(default=1000, ge=1)
    min_hours: float = Field(default=0, ge=0)
    min_labelled_rows: int | None = Field(default=None, ge=1)
    max_error_rate_increase: float = Field(default=0.01, ge=0, le=1)
    max_latency_p99_ratio: float = Field(default=1.5, ge=1)
    max_metric_drop: float | None = Field(default=None, ge=0)  # None: the gates' max_regression, else 0
    min_agreement: float | None = Field(default=None, ge=0, le=1)
    check_seconds: int = Field(default=120, ge=1, le=86400)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {m.value for m in RolloutMode}:
            raise ValueError(f"{value!r} is not a rollout mode; use auto, manual, shadow or canary")
        return value

    @model_validator(mode="after")
    def _keys_of_the_mode(self) -> RolloutSpec:
        if not self.mode.is_live:
            misplaced = [key for key in _LIVE_ONLY if key in self.model_fields_set]
            if misplaced:
                raise ValueError(
                    f"{misplaced[0]} applies to shadow and canary rollouts, not {self.mode.value}"
                )
            return self
        if self.mode is RolloutMode.CANARY and self.min_agreement is not None:
            raise ValueError(
                "min_agreement applies to shadow rollouts, where both versions score each request"
            )
        checks = self.timeout_hours * 3600 / self.check_seconds
        if checks > MAX_ROLLOUT_CHECKS:
            raise ValueError(
                f"timeout_hours / check_seconds allows {checks:.0f} checks; at most {MAX_ROLLOUT_CHECKS} fit "
                "in an execution's history: raise check_seconds or lower timeout_hours"
            )
        if self.min_hours >= self.timeout_hours:
            raise ValueError("min_hours must be below timeout_hours")
        return self

    @property
    def traffic_weight(self) -> float:
        """The share of requests the candidate scores: `weight`, else 0.1 for canary and 1 for shadow."""
        if self.weight is not None:
            return self.weight
        return 0.1 if self.mode is RolloutMode.CANARY else 1.0


class TrainingBackend(StrEnum):
    AUTO = "auto"  # Lambda unless the dataset is past the stack's thresholds (the default)
    LAMBDA = "lambda"  # TrainFunction: 15 minutes, 10 GB
    FARGATE = "fargate"  # an ECS Fargate task running the same step from the training image


# Fargate's task sizes (Linux): CPU units -> the memory (MiB) each allows.
FARGATE_SIZES: dict[int, range] = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
    8192: range(16384, 61441, 4096),
    16384: range(32768, 122881, 8192),
}
DEFAULT_FARGATE_CPU = 4096  # the template's task definition has the same size
DEFAULT_FARGATE_MEMORY = 16384


class ResourcesSpec(Strict):
    """Where Train runs: `auto` (Lambda below the stack's thresholds, Fargate above), or always `lambda`
    or `fargate`; `cpu` (units) and `memory` (MiB) size the Fargate task, a pair Fargate offers."""

    backend: TrainingBackend = TrainingBackend.AUTO
    cpu: int | None = None
    memory: int | None = None

    @field_validator("backend", mode="before")
    @classmethod
    def _backend_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {b.value for b in TrainingBackend}:
            raise ValueError(f"{value!r} is not a training backend; use auto, lambda or fargate")
        return value

    @model_validator(mode="after")
    def _a_fargate_size(self) -> ResourcesSpec:
        if self.backend is TrainingBackend.LAMBDA and (self.cpu is not None or self.memory is not None):
            raise ValueError("cpu and memory size a Fargate task; they do not apply to backend: lambda")
        if self.cpu is not None and self.cpu not in FARGATE_SIZES:
            raise ValueError(f"cpu: {self.cpu} is not a Fargate size; use one of {sorted(FARGATE_SIZES)}")
        cpu, memory = self.fargate_size
        if memory not in FARGATE_SIZES[cpu]:
            allowed = FARGATE_SIZES[cpu]
            raise ValueError(
                f"memory: {memory} MiB does not go with cpu {cpu}; Fargate allows "
                f"{allowed.start}..{allowed.stop - 1} MiB in steps of {allowed.step}"
            )
        return self

    @property
    def fargate_size(self) -> tuple[int, int]:
        """(cpu, memory) of the Fargate task: the spec's, else the smallest memory for its cpu, else the
        template's default size."""
        if self.cpu is None and self.memory is None:
            return DEFAULT_FARGATE_CPU, DEFAULT_FARGATE_MEMORY
        if self.cpu is None:
            cpu = next((c for c, sizes in FARGATE_SIZES.items() if self.memory in sizes), DEFAULT_FARGATE_CPU)
            return cpu, int(self.memory or DEFAULT_FARGATE_MEMORY)
        return self.cpu, self.memory if self.memory is not None else FARGATE_SIZES[self.cpu].start
