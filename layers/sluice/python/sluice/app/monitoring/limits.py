"""The drift check's limits, as plain values: the entry point reads them from its settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriftCheckLimits:
    """The window of captured traffic to check (hours), the fewest rows worth a verdict, the most rows
    it is computed on (a uniform sample beyond), how often drift may start a retraining per model
    (hours), how often an open incident is announced again (hours), how much of a split window's
    capture one child reads, and how many models, and partitions of one model's window, the monitoring
    state machine works on at once."""

    drift_window_hours: float = 24.0
    drift_min_rows: int = 200
    drift_max_rows: int = 200_000
    retrain_cooldown_hours: float = 24.0
    alert_repeat_hours: float = 24.0
    # a partition of a split window: at most this many compressed bytes of capture objects (and
    # PARTITION_KEYS objects) per child of the Distributed Map
    drift_partition_bytes: int = 256 * 2**20
    # The monitoring state machine: models checked at once (its Map), and partitions of one model's
    # window summarized at once (its Distributed Map)
    model_concurrency: int = 10
    partition_concurrency: int = 40
