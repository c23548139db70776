"""What the scheduled drift check found for one production version, before acting on it: written by
`sluice.app.monitoring.check`, acted on by `sluice.app.monitoring.act`."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.domain.monitoring.capture_window import CapturedWindow
from sluice.domain.monitoring.drift.live import LiveGate, LiveMetric, live_gate
from sluice.domain.monitoring.drift.report import ColumnDrift, DriftReport
from sluice.domain.monitoring.estimation.basis import Estimation
from sluice.domain.monitoring.quality.verdict import DataQuality
from sluice.domain.monitoring.reference import PREDICTION_COLUMN
from sluice.domain.registry.records import TrafficWindow
from sluice.domain.spec.model_spec import ModelSpec


@dataclass(frozen=True)
class DriftAssessment:
    """What the check found for one production version, before acting on it: the dataset verdict on
    its inputs, the drift of its predictions (beside the verdict, not part of it), its live metric and
    its performance estimated without labels over the window's traffic (or why there is none)."""

    model: str
    version: int
    spec: ModelSpec
    window: TrafficWindow
    rows: int
    report: DriftReport
    prediction_report: DriftReport | None
    live_metric: LiveMetric | None
    captured: CapturedWindow | None = None
    estimation: Estimation | None = None
    data_quality: DataQuality | None = None  # live data quality against the version's baseline

    @property
    def live_gate(self) -> LiveGate | None:
        """The spec's metric measured live against its gate; None when no captured row has a label."""
        return live_gate(self.spec, self.live_metric)

    @property
    def prediction_drift(self) -> ColumnDrift | None:
        return self.prediction_report.features[PREDICTION_COLUMN] if self.prediction_report else None

    @property
    def drifted_features(self) -> list[str]:
        return sorted(name for name, column in self.report.features.items() if column.drifted)
