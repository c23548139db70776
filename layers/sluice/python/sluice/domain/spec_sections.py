"""The spec's sections about a model's life after its first training: how a retraining builds its data
(`retraining`) and how a challenger that passed its gates reaches production (`rollout`). Part of the
spec (`sluice.domain.spec` re-exports them); kept apart to keep each module short."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    """A spec section: unknown keys are errors, values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    """How a challenger that passed its gates reaches production (docs in the README's "Staged rollout").

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
