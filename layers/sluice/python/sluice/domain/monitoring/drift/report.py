"""The drift verdict as data: what `sluice drift --json` prints and the scheduled check stores.

`DriftReport.model_dump_json()` is the JSON contract (Evidently's dataset keys, then one entry per
column under "features"), plus a few keys reported beside them: the run's status
("insufficient_data" from the minimum-rows guard), the counts behind `drift_share`, and the
Bonferroni-corrected count. Per-column histograms for the HTML report ride along but are excluded
from the JSON.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sluice.domain.monitoring.drift.methods import ColumnKind, MethodName

ColumnStatus = Literal["computed", "not_computed"]
ReportStatus = Literal["ok", "insufficient_data"]


class NumericalChange(BaseModel):
    """The numbers behind a numerical column's sentence, on the values the test compared (missing values
    left out): quartiles of each side, and the share of current values outside the reference's range."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["numerical"] = "numerical"
    median_reference: float
    median_current: float
    median_change: float | None = Field(description="(current − reference) / |reference| median; null at 0")
    quartiles_reference: tuple[float, float] = Field(description="25th and 75th percentiles")
    quartiles_current: tuple[float, float]
    min_reference: float
    max_reference: float
    below_reference: float = Field(description="share of current values below the reference's minimum")
    above_reference: float = Field(description="share of current values above the reference's maximum")


class CategoricalChange(BaseModel):
    """The numbers behind a categorical column's sentence: the shares (of non-missing values) of the
    categories that moved most, largest move first, and the share of current values in categories the
    reference never had."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["categorical"] = "categorical"
    shares: dict[str, tuple[float, float]] = Field(description="category → (reference share, current share)")
    unseen_share: float


class ColumnDrift(BaseModel):
    """One column's verdict. `score` is the p-value for ks/chisquare/z and the distance otherwise;
    null when the statistic is undefined (a constant column under chi-square) or not computed."""

    model_config = ConfigDict(frozen=True)

    type: ColumnKind
    method: MethodName
    score: float | None
    threshold: float
    drifted: bool
    missing_reference: float = Field(description="share of reference rows missing this column's value")
    missing_current: float = Field(description="share of current rows missing this column's value")
    unseen_categories: list[str] = Field(description="categories in current data absent from the reference")
    status: ColumnStatus = "computed"
    note: str | None = None
    change: NumericalChange | CategoricalChange | None = Field(
        default=None, discriminator="kind", description="how the values moved, behind the column's sentence"
    )


class Distribution(BaseModel):
    """What the HTML report draws for a column: shares of each sample per bin or category."""

    model_config = ConfigDict(frozen=True)

    labels: list[str]
    reference: list[float]
    current: list[float]
    edges: list[float] | None = None  # numerical histograms: len(labels) + 1 bin edges
    highlighted: list[bool] = Field(default_factory=list)  # bars to mark (unseen categories)


class MultivariateRows(BaseModel):
    """The rows the domain classifier learnt from: a seeded sample of each side."""

    reference: int
    current: int


class MultivariateDrift(BaseModel):
    """Whether the columns together tell the current rows from the reference rows: a classifier trained
    to do it (`sluice.domain.monitoring.drift.multivariate`) reached a cross-validated `roc_auc` above
    `threshold` (0.5: it cannot tell them apart; 1: it always can), significantly above chance. It catches
    a changed relationship between columns whose distributions, one at a time, did not move. `columns`
    names the columns that separate the two most (when drift), most first; `importance` is how much of
    the ROC AUC each loses when that column is shuffled. `changed_relationship`: one of those columns did
    not drift on its own, so the columns' relationship changed; only then is it dataset drift by itself
    (when every column named drifted on its own, the share rule decides, as without this check)."""

    model_config = ConfigDict(frozen=True)

    drift: bool
    roc_auc: float
    threshold: float
    columns: list[str]
    importance: dict[str, float] = Field(default_factory=dict)
    rows: MultivariateRows
    folds: int
    changed_relationship: bool = False


class DriftReport(BaseModel):
    """The dataset verdict: drift when the share of drifted columns reaches `share_threshold` or, when
    the multivariate check ran (`multivariate`), when it found a changed relationship between columns
    (`MultivariateDrift.changed_relationship`): that counts as dataset drift (it alerts and retrains)
    even when no column drifted on its own.

    `drift_share` is drifted columns over computed columns (columns with no values left after
    dropping missing ones are reported "not_computed" and left out of both counts).
    `n_drifted_bonferroni` counts p-value columns still drifted when each threshold is divided by
    the number of p-value tests: with many columns some per-column alarms are expected by chance,
    which is why the dataset rule, not one column, decides.
    """

    model_config = ConfigDict(frozen=True)

    dataset_drift: bool
    drift_share: float
    share_threshold: float
    n_reference: int
    n_current: int
    features: dict[str, ColumnDrift]
    status: ReportStatus = "ok"
    message: str | None = None
    n_columns: int = 0
    n_drifted: int = 0
    n_p_value_tests: int = 0
    n_drifted_bonferroni: int = 0
    # The current rows a captured window held, of which `n_current` were checked: fewer when they are a
    # uniform random sample, and the verdicts are then the sample's. None when the current rows did not
    # come from a window (`sluice drift` on a file).
    n_current_window: int | None = None
    multivariate: MultivariateDrift | None = None
    distributions: dict[str, Distribution] = Field(default_factory=dict, exclude=True)

    @property
    def sampled(self) -> bool:
        """Whether the current rows checked are a sample of more rows."""
        return self.n_current_window is not None and self.n_current_window > self.n_current

    def summary(self) -> str:
        """One line a person reads first."""
        if self.status == "insufficient_data":
            return f"Insufficient data: {self.message}"
        verdict = "Dataset drift detected" if self.dataset_drift else "No dataset drift"
        line = (
            f"{verdict}: {self.n_drifted} of {self.n_columns} columns drifted "
            f"(share {self.drift_share:.2f}, threshold {self.share_threshold:.2f}); "
            f"{self.n_reference:,} reference rows, {self.n_current:,} current rows"
        )
        if self.sampled:
            line += (
                f" (a uniform random sample of the window's {self.n_current_window:,} rows: "
                "the verdicts are on that sample)"
            )
        if self.n_p_value_tests:
            line += (
                f"; {self.n_drifted_bonferroni} of {self.n_p_value_tests} p-value tests "
                "still drifted after Bonferroni correction"
            )
        skipped = len(self.features) - self.n_columns
        if skipped:
            line += f"; {skipped} column(s) not computed"
        if self.multivariate is not None:
            found = "drift" if self.multivariate.drift else "no drift"
            line += (
                f"; multivariate: {found} (ROC AUC {self.multivariate.roc_auc:.2f}, "
                f"threshold {self.multivariate.threshold:.2f})"
            )
        return line
