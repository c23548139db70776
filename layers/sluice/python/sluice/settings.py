"""Environment of each Lambda function, read through pydantic settings models (never `os.environ` in
logic).

Each class lists exactly the variables a function reads; a test checks that template.yaml declares
every one of them for the functions that use the class, so `sam local invoke --env-vars` can set them.

The models are plain pydantic models that `from_env()` fills from os.environ, as pydantic-settings'
BaseSettings did (each field from the variable of its name, in any case; the same validation and
errors), without what pydantic-settings imports and these functions never use: dotenv, its CLI source
(argparse), cloud providers' sources (~35-45 ms of a cold start; docs/benchmarks.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field


class EnvSettings(BaseModel):
    """Settings read from the environment: `from_env()` validates each field against the variable of its
    name (case-insensitive: AWS_REGION fills `aws_region`); unknown variables are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **values: Any) -> Self:
        """The settings in `environ` (os.environ by default); `values` override them, by field name.
        Raises pydantic's ValidationError naming each missing or invalid field."""
        variables = {
            name.lower(): value for name, value in (os.environ if environ is None else environ).items()
        }
        read = {field: variables[field] for field in cls.model_fields if field in variables}
        return cls.model_validate(read | values)


class StackSettings(EnvSettings):
    """What every function of the stack reads (declared in the template's Globals)."""

    artifact_bucket: str = Field(min_length=3)
    registry_table: str = Field(min_length=3)
    notification_topic_arn: str | None = None


class IngestSettings(StackSettings):
    """IngestFunction: the raw bucket it reads, where training starts, its idempotency table, size limit."""

    raw_bucket: str = Field(min_length=3)
    state_machine_arn: str = Field(min_length=20)
    idempotency_table: str = Field(min_length=3)
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    # The BatchScore state machine, started by uploads under batch/<model>/ (None: batch uploads refused).
    batch_state_machine_arn: str = Field(min_length=20)


class StepSettings(StackSettings):
    """Train, Export, Evaluate and Register task functions of the TrainAndPromote state machine (and the
    Fargate training task, which runs the same steps): the largest dataset `resources: auto` trains in
    Lambda (PlanSearch decides; above it, Fargate)."""

    lambda_max_cells: int = Field(default=10_000_000, gt=0)
    lambda_max_bytes: int = Field(default=250_000_000, gt=0)


class TrainingTaskSettings(StepSettings):
    """The Fargate training task (template: TrainingTaskDefinition's environment, plus the run's
    run.json URI that the state machine passes in the container's overrides)."""

    training_run_uri: str = Field(pattern=r"^s3://")


class PredictSettings(StackSettings):
    """PredictFunction: how often the production alias is re-read, how much traffic is captured, and
    the largest batch accepted."""

    alias_ttl_seconds: float = Field(default=60.0, ge=0)
    capture_fraction: float = Field(default=1.0, ge=0, le=1)
    max_instances: int = Field(default=1000, gt=0)
    # During a shadow or canary rollout, how often a container adds its counts to the registry.
    rollout_flush_seconds: float = Field(default=5.0, ge=0)
    # The Firehose delivery streams that buffer captured requests and labels into the artifact bucket.
    capture_stream: str = Field(min_length=1)
    feedback_stream: str = Field(min_length=1)


class ConsoleSettings(StackSettings):
    """ConsoleFunction: the raw bucket its users upload to (pre-signed POSTs), where training starts, the
    Cognito user pool and app client its users sign in with, whether the pool offers two-step sign-in
    (the template's ConsoleMfa), and the size limit of an upload."""

    raw_bucket: str = Field(min_length=3)
    state_machine_arn: str = Field(min_length=20)
    console_user_pool_id: str = Field(min_length=1)
    console_client_id: str = Field(min_length=1)
    console_mfa: Literal["OFF", "OPTIONAL"] = "OFF"
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)


class DriftCheckSettings(StackSettings):
    """DriftFunction: the window of captured traffic to check, the fewest rows worth a verdict, the
    most rows it is computed on (a uniform sample beyond), how often drift may start a retraining
    per model, and how often an open incident (drift, live metric, data quality) is announced again."""

    state_machine_arn: str = Field(min_length=20)
    drift_window_hours: float = Field(default=24.0, gt=0)
    drift_min_rows: int = Field(default=200, ge=0)
    # The largest uniform sample of a window's rows the verdicts are computed on (memory is bounded by
    # it, not by the window's traffic); every row is still counted.
    drift_max_rows: int = Field(default=200_000, ge=1)
    retrain_cooldown_hours: float = Field(default=24.0, ge=0)
    alert_repeat_hours: float = Field(default=24.0, gt=0)
    # A split window's partition: at most this many compressed bytes of capture objects per child
    drift_partition_bytes: int = Field(default=256 * 2**20, ge=1)
    # The monitoring state machine's Map (models at once) and Distributed Map (partitions at once);
    # 0 = as many as Step Functions allows
    monitoring_model_concurrency: int = Field(default=10, ge=0)
    monitoring_partition_concurrency: int = Field(default=40, ge=0)


class BatchScoreSettings(StackSettings):
    """BatchScoreFunction (the BatchScore state machine's tasks): rows per child of the Distributed
    Map, children at once, and the percentage of rows in failed children a job tolerates."""

    batch_max_items_per_batch: int = Field(default=1000, gt=0)
    batch_max_concurrency: int = Field(default=40, ge=0)
    batch_tolerated_failure_percentage: float = Field(default=0.0, ge=0, le=100)
