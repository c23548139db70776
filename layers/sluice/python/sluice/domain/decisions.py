"""How a binary classifier decides and how a model is made fairer: the decision threshold chosen on the
training part, reweighing (Kamiran & Calders), and the fairness gaps before and after mitigation."""

from __future__ import annotations

from pydantic import BaseModel


class ThresholdChoice(BaseModel):
    """The decision threshold written into the ONNX model's `label` (1 when P(positive) ≥ value)."""

    value: float
    objective: str  # fixed | f1 | youden | cost | fairness (the mitigation's constrained choice)
    score: float | None = None  # the objective's value at `value` on out-of-fold training predictions
    rows: int = 0  # training rows it was chosen on (0 for a fixed threshold)
    equal_opportunity_gap: float | None = None  # across groups on those rows, when mitigating


class FairnessSnapshot(BaseModel):
    """A model's fairness and primary metric on the holdout."""

    demographic_parity_gap: float | None
    equal_opportunity_gap: float | None
    metric: float | None


class MitigationReport(BaseModel):
    """What mitigation changed, on the same holdout: the unmitigated model (no reweighing, threshold
    chosen without the fairness constraint) against the mitigated one the gates judge."""

    mitigation: str  # reweighing | threshold
    attribute: str
    before: FairnessSnapshot
    after: FairnessSnapshot
    metric_cost: float | None  # how much worse the primary metric got (in its units; negative: better)
