"""Example data for the demo, the docs and the tests: a seeded synthetic credit-risk table with knobs
for label noise and distribution shift, and scikit-learn's bundled breast-cancer, wine and diabetes
sets as CSV. A tool for people: Lambda code never imports it."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

from sluice.domain.data.table import RawTable

SEGMENTS = ("retail", "sme", "corporate")
REGIONS = ("north", "south", "east", "west")
BUNDLED = ("breast-cancer", "wine", "diabetes")
ExampleName = Literal["credit-risk", "breast-cancer", "wine", "diabetes"]


def _fmt(values: np.ndarray, missing: np.ndarray | None = None, digits: int = 2) -> list[str]:
    text = [f"{v:.{digits}f}" for v in values]
    if missing is not None:
        text = ["" if m else t for t, m in zip(text, missing, strict=True)]
    return text


def credit_risk(
    rows: int = 5000,
    *,
    seed: int = 0,
    label_noise: float = 0.0,
    shift: float = 0.0,
    concept_shift: float = 0.0,
) -> RawTable:
    """A credit-risk table: who defaults on a loan.

    `label_noise` is the share of labels flipped at random (a worse dataset to learn from); `shift`
    (0 = none, 1 = strong) moves incomes down, debt up, ages younger and the segment mix toward sme,
    as an economy turning would. `concept_shift` (0 = none, 1 = all) changes how the label depends on
    the same inputs (concept drift): the region, which did not matter, decides much of it (south and
    east default more), time employed matters more, income and age no longer do. The inputs and the
    random draws are the same for any `concept_shift`, so 0 gives exactly the table it gave before.
    Missing values: ~5% of age, ~8% of months_employed, ~3% of region.
    """
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=10.6 - 0.35 * shift, sigma=0.45, size=rows)
    age = np.clip(rng.normal(42 - 8 * shift, 12, rows), 18, 95).round()
    debt_ratio = np.clip(rng.gamma(2.0, 0.18 + 0.12 * shift, rows), 0, 5)
    credit_lines = rng.poisson(4 + 2 * shift, rows)
    months_employed = np.clip(rng.exponential(60, rows), 0, 480).round()
    mix = np.array([0.6 - 0.3 * shift, 0.3 + 0.3 * shift, 0.1])
    segment = rng.choice(SEGMENTS, size=rows, p=mix / mix.sum())
    region = rng.choice(REGIONS, size=rows, p=[0.3, 0.3, 0.2, 0.2])
    gender = rng.choice(["female", "male"], size=rows)
    logit = (
        -1.2
        - 1.6 * (np.log(income) - 10.6)
        + 2.2 * (debt_ratio - 0.36)
        - 0.025 * (age - 42)
        + 0.12 * (credit_lines - 4)
        - 0.004 * (months_employed - 60)
        + np.select([segment == "sme", segment == "corporate"], [0.5, -0.4], 0.0)
    )
    if concept_shift:
        changed = (
            -0.6
            + np.select([region == "south", region == "east"], [2.5, 1.5], -1.5)
            + 2.2 * (debt_ratio - 0.36)
            - 0.035 * (months_employed - 60)
        )
        logit = (1 - concept_shift) * logit + concept_shift * changed
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    flip = rng.random(rows) < label_noise
    default = np.where(flip, ~default, default)
    age_missing = rng.random(rows) < 0.05
    employed_missing = rng.random(rows) < 0.08
    region_missing = rng.random(rows) < 0.03
    columns = {
        "income": _fmt(income),
        "age": _fmt(age, age_missing, 0),
        "debt_ratio": _fmt(debt_ratio, digits=3),
        "credit_lines": [str(int(v)) for v in credit_lines],
        "months_employed": _fmt(months_employed, employed_missing, 0),
        "segment": [str(v) for v in segment],
        "region": ["" if m else str(v) for v, m in zip(region, region_missing, strict=True)],
        "gender": [str(v) for v in gender],
        "default": [str(int(v)) for v in default],
    }
    return RawTable(source=f"credit-risk(seed={seed})", header=list(columns), columns=columns)


def snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def bundled(name: str) -> RawTable:
    """One of scikit-learn's bundled datasets (no download) with snake_case column names; the target
    column is `target` (breast-cancer: 1 = benign, wine: class 0-2, diabetes: disease progression)."""
    from sklearn import datasets

    loaders = {
        "breast-cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(loaders)}")
    bunch = loaders[name]()
    columns = {
        snake_case(f): [f"{v:.6g}" for v in bunch.data[:, i]] for i, f in enumerate(bunch.feature_names)
    }
    columns["target"] = [f"{v:g}" for v in bunch.target]
    return RawTable(source=name, header=list(columns), columns=columns)


def example_table(
    name: str,
    *,
    rows: int = 5000,
    seed: int = 0,
    label_noise: float = 0.0,
    shift: float = 0.0,
    concept_shift: float = 0.0,
) -> RawTable:
    """Any example dataset by name (`concept_shift`, like `label_noise` and `shift`, for credit-risk)."""
    if name == "credit-risk":
        return credit_risk(rows, seed=seed, label_noise=label_noise, shift=shift, concept_shift=concept_shift)
    return bundled(name)
