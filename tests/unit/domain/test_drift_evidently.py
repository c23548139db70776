"""Evidently 0.7 as the oracle: same data through Evidently's per-column drift and through Sluice.

Evidently (with pandas) is a dev-only dependency used here and in the benchmark; Sluice never
imports it. The cases cover every method, both kinds of column, both sides of the 1,000-row and
5- and 20-distinct-value boundaries, missing values, unseen categories and constant columns.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from sluice.domain.monitoring.drift import (
    CategoricalColumn,
    Column,
    ColumnOverride,
    NumericalColumn,
    check_drift_columns,
)

EVIDENTLY_NAMES = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}
MIN_AGREEMENT = 0.99
MAX_SCORE_DIFFERENCE = 1e-9


@dataclass(frozen=True)
class Case:
    label: str
    kind: str
    reference: list[float] | list[str | None]
    current: list[float] | list[str | None]
    method: str | None


def evidently_column_drift(case: Case) -> tuple[str, float, bool]:
    """Evidently's verdict for one column, through the function its ValueDrift metric calls. (Evidently
    and pandas are imported here, not at the top: ~3 s that a worker collecting this module without
    running it would spend.)"""
    import pandas as pd
    from evidently.legacy.calculations.data_drift import get_one_column_drift
    from evidently.legacy.core import ColumnType
    from evidently.legacy.metric_results import DatasetColumns, DatasetUtilityColumns
    from evidently.legacy.options.data_drift import DataDriftOptions

    column_type = ColumnType.Numerical if case.kind == "numerical" else ColumnType.Categorical
    dtype = "float64" if case.kind == "numerical" else "object"
    columns = DatasetColumns(
        utility_columns=DatasetUtilityColumns(date=None, id=None, target=None, prediction=None),
        target_type=None,
        task=None,
        num_feature_names=["x"] if case.kind == "numerical" else [],
        cat_feature_names=["x"] if case.kind == "categorical" else [],
        text_feature_names=[],
        datetime_feature_names=[],
        target_names=None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drift = get_one_column_drift(
            current_data=pd.DataFrame({"x": pd.Series(case.current, dtype=dtype)}),
            reference_data=pd.DataFrame({"x": pd.Series(case.reference, dtype=dtype)}),
            column_name="x",
            options=DataDriftOptions(all_features_stattest=case.method),
            dataset_columns=columns,
            column_type=column_type,
            agg_data=True,
        )
    return EVIDENTLY_NAMES[drift.stattest_name], float(drift.drift_score), bool(drift.drift_detected)


def sluice_column(values: list[float] | list[str | None], kind: str) -> Column:
    if kind == "numerical":
        return NumericalColumn(np.asarray(values, dtype=np.float64))
    return CategoricalColumn.from_labels([None if v is None else str(v) for v in values])


def generated_cases(rng: np.random.Generator) -> list[Case]:
    cases: list[Case] = []

    def with_missing(values: np.ndarray, share: float) -> np.ndarray:
        out = values.astype(np.float64)
        out[rng.random(out.size) < share] = np.nan
        return out

    # Continuous numerical columns: small and large references, various shifts and scales.
    for n_ref in (40, 300, 1000, 1001, 4000):
        for shift in (0.0, 0.05, 0.15, 0.5):
            for method in (None, "psi", "jensenshannon", "ks", "wasserstein"):
                ref = with_missing(rng.normal(10, 2, size=n_ref), 0.05)
                cur = with_missing(rng.normal(10 + shift * 2, 2.2, size=int(rng.integers(50, 3000))), 0.1)
                cases.append(
                    Case(
                        f"normal n={n_ref} shift={shift} {method}",
                        "numerical",
                        ref.tolist(),
                        cur.tolist(),
                        method,
                    )
                )
    # Few-valued numerical columns around the 2, 5 and 20 distinct-value boundaries.
    for n_values in (1, 2, 3, 5, 6, 20, 21):
        for n_ref in (800, 1000, 1001, 3000):
            # (Evidently accepts chisquare and z overrides for categorical columns only.)
            for method in (None, "psi", "jensenshannon", "wasserstein"):
                ref = rng.integers(0, n_values, size=n_ref).astype(np.float64)
                weights = rng.dirichlet(np.ones(n_values) * 5)
                cur = rng.choice(n_values, size=int(rng.integers(100, 2000)), p=weights).astype(np.float64)
                cases.append(
                    Case(
                        f"{n_values} values n={n_ref} {method}",
                        "numerical",
                        ref.tolist(),
                        cur.tolist(),
                        method,
                    )
                )
    # Categorical columns, with missing labels and categories unseen in the reference.
    for n_categories in (1, 2, 3, 8, 30):
        for n_ref in (500, 1000, 1001, 5000):
            for method in (None, "psi", "jensenshannon", "chisquare", "z"):
                labels = np.array([f"cat{i}" for i in range(n_categories + 2)])
                ref_probs = rng.dirichlet(np.ones(n_categories) * 3)
                ref = labels[rng.choice(n_categories, size=n_ref, p=ref_probs)].astype(object)
                extra = int(rng.integers(0, 3))  # 0..2 categories only current has
                cur_probs = rng.dirichlet(np.ones(n_categories + extra) * 3)
                cur = labels[rng.choice(n_categories + extra, size=int(rng.integers(80, 2500)), p=cur_probs)]
                cur = cur.astype(object)
                ref[rng.random(ref.size) < 0.03] = None
                cur[rng.random(cur.size) < 0.05] = None
                cases.append(
                    Case(
                        f"{n_categories} cats n={n_ref} {method}",
                        "categorical",
                        ref.tolist(),
                        cur.tolist(),
                        method,
                    )
                )
    return cases


def test_sluice_agrees_with_evidently_on_generated_data() -> None:
    # Given a few hundred generated columns of every kind, compared by default and overridden methods
    cases = generated_cases(np.random.default_rng(2024))
    agreements = 0
    method_mismatches: list[str] = []
    largest_difference = 0.0
    worst = ""
    for case in cases:
        # When both engines judge the column
        expected_method, expected_score, expected_drift = evidently_column_drift(case)
        override = {"x": ColumnOverride(method=case.method)} if case.method else None
        report = check_drift_columns(
            {"x": sluice_column(case.reference, case.kind)},
            {"x": sluice_column(case.current, case.kind)},
            overrides=override,
        )
        column = report.features["x"]
        agreements += column.drifted == expected_drift
        if column.method != expected_method:
            method_mismatches.append(f"{case.label}: {column.method} vs {expected_method}")
        score = math.nan if column.score is None else column.score
        if math.isnan(score) != math.isnan(expected_score):
            difference = math.inf
        elif math.isnan(score):
            difference = 0.0
        else:
            difference = abs(score - expected_score)
        if difference > largest_difference:
            largest_difference, worst = difference, f"{case.label}: {score} vs {expected_score}"
    agreement = agreements / len(cases)
    print(
        f"\nEvidently oracle: {len(cases)} columns, verdict agreement {agreement:.2%}, "
        f"largest score difference {largest_difference:.3g} ({worst or 'none'})"
    )
    # Then verdicts and methods agree and scores match to floating-point noise
    assert method_mismatches == []
    assert agreement >= MIN_AGREEMENT
    assert largest_difference <= MAX_SCORE_DIFFERENCE, worst


@pytest.mark.parametrize("kind", ["numerical", "categorical"])
def test_unseen_category_parity_chisquare_p_is_zero_in_both(kind: str) -> None:
    # Given a small reference and a current sample with a value the reference never had
    reference: list[float] | list[str | None]
    current: list[float] | list[str | None]
    if kind == "numerical":
        reference, current = [1.0, 2.0, 3.0] * 50, [1.0, 2.0, 3.0] * 20 + [4.0]
    else:
        labels: list[str | None] = ["a", "b", "c"]
        reference, current = labels * 50, [*(labels * 20), "d"]
    case = Case("unseen", kind, reference, current, None)
    # When both judge it
    method, score, drifted = evidently_column_drift(case)
    column = check_drift_columns(
        {"x": sluice_column(reference, kind)}, {"x": sluice_column(current, kind)}
    ).features["x"]
    # Then both say chi-square, p = 0, drifted
    assert (method, score, drifted) == ("chisquare", 0.0, True)
    assert (column.method, column.score, column.drifted) == ("chisquare", 0.0, True)
