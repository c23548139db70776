"""Environment of each Lambda function, read through pydantic settings (never `os.environ` in logic).

Each class lists exactly the variables a function reads; a test checks that template.yaml declares
every one of them for the functions that use the class, so `sam local invoke --env-vars` can set them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    """What every function of the stack reads (declared in the template's Globals)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    artifact_bucket: str = Field(min_length=3)
    registry_table: str = Field(min_length=3)
    notification_topic_arn: str | None = None


class IngestSettings(StackSettings):
    """IngestFunction: the raw bucket it reads, where training starts, its idempotency table, size limit."""

    raw_bucket: str = Field(min_length=3)
    state_machine_arn: str = Field(min_length=20)
    idempotency_table: str = Field(min_length=3)
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)


class StepSettings(StackSettings):
    """Train, Export, Evaluate and Register task functions of the TrainAndPromote state machine."""


class PredictSettings(StackSettings):
    """PredictFunction: how often the production alias is re-read, how much traffic is captured, and
    the largest batch accepted."""

    alias_ttl_seconds: float = Field(default=60.0, ge=0)
    capture_fraction: float = Field(default=1.0, ge=0, le=1)
    max_instances: int = Field(default=1000, gt=0)
    # During a shadow or canary rollout, how often a container adds its counts to the registry.
    rollout_flush_seconds: float = Field(default=5.0, ge=0)


class DriftCheckSettings(StackSettings):
    """DriftFunction: the window of captured traffic to check, the fewest rows worth a verdict, and how
    often drift may start a retraining per model."""

    state_machine_arn: str = Field(min_length=20)
    drift_window_hours: float = Field(default=24.0, gt=0)
    drift_min_rows: int = Field(default=200, ge=0)
    retrain_cooldown_hours: float = Field(default=24.0, ge=0)
