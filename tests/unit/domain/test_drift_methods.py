"""Method choice (Evidently's default rule at each boundary), verdict rules, and detection power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from sluice.domain.monitoring.drift import (
    CategoricalColumn,
    ColumnOverride,
    DriftMethodError,
    NumericalColumn,
    check_drift_columns,
    default_method,
)
from sluice.domain.monitoring.drift.methods import is_drift


def numerical(values: np.ndarray | list[float]) -> NumericalColumn:
    return NumericalColumn(np.asarray(values, dtype=np.float64))


def categorical(labels: list[str | None]) -> CategoricalColumn:
    return CategoricalColumn.from_labels(labels)


def cycled(n: int, n_values: int) -> np.ndarray:
    """n values cycling through 0..n_values-1: exactly n_values distinct values."""
    return np.arange(n, dtype=np.float64) % n_values


def chosen_method(
    reference: NumericalColumn | CategoricalColumn, current: NumericalColumn | CategoricalColumn
) -> str:
    report = check_drift_columns({"x": reference}, {"x": current})
    return report.features["x"].method


@pytest.mark.parametrize(
    ("n_reference", "n_values", "expected"),
    [
        (1000, 6, "ks"),
        (1001, 6, "wasserstein"),
        (1000, 5, "chisquare"),
        (1001, 5, "jensenshannon"),
        (1000, 3, "chisquare"),
        (1000, 2, "z"),
        (1001, 2, "jensenshannon"),
    ],
)
def test_numerical_method_follows_evidently_rule_at_each_boundary(
    n_reference: int, n_values: int, expected: str
) -> None:
    # Given a numerical reference of n_reference rows with n_values distinct values, and a current sample
    reference = numerical(cycled(n_reference, n_values))
    current = numerical(cycled(300, n_values))
    # When the engine picks the default method
    method = chosen_method(reference, current)
    # Then it is the one Evidently's rule names
    assert method == expected


@pytest.mark.parametrize(
    ("n_reference", "n_categories", "expected"),
    [
        (1000, 2, "z"),
        (1000, 3, "chisquare"),
        (1000, 40, "chisquare"),
        (1001, 2, "jensenshannon"),
        (1001, 40, "jensenshannon"),
    ],
)
def test_categorical_method_follows_evidently_rule(
    n_reference: int, n_categories: int, expected: str
) -> None:
    # Given a categorical reference with n_categories labels
    labels: list[str | None] = [f"c{i % n_categories}" for i in range(n_reference)]
    # When the method is chosen
    method = chosen_method(categorical(labels), categorical(labels[:200]))
    # Then it follows the rule for categories (no KS/Wasserstein however many labels there are)
    assert method == expected


def test_distinct_values_are_counted_over_reference_and_current_together() -> None:
    # Given a reference with 5 distinct values and a current sample that adds a 6th
    reference = numerical(cycled(1000, 5))
    current = numerical(np.append(cycled(100, 5), 99.0))
    # When the method is chosen
    method = chosen_method(reference, current)
    # Then the column counts as having more than 5 values: KS, not chi-square
    assert method == "ks"


def test_reference_size_is_counted_after_dropping_missing_values() -> None:
    # Given 1,010 reference rows of which 20 are missing (990 values)
    values = np.random.default_rng(1).normal(size=1010)
    values[:20] = np.nan
    # When the method is chosen
    method = chosen_method(numerical(values), numerical(np.random.default_rng(2).normal(size=300)))
    # Then the reference counts as small (≤ 1,000 values): KS
    assert method == "ks"


def test_default_method_function_states_the_rule() -> None:
    # Given the rule's boundaries, When asked directly, Then each answer is Evidently's
    assert default_method("numerical", 1000, 6) == "ks"
    assert default_method("numerical", 1000, 5) == "chisquare"
    assert default_method("numerical", 1000, 2) == "z"
    assert default_method("numerical", 1001, 6) == "wasserstein"
    assert default_method("numerical", 1001, 5) == "jensenshannon"
    assert default_method("categorical", 1000, 3) == "chisquare"
    assert default_method("categorical", 5000, 300) == "jensenshannon"


def test_jensenshannon_bins_each_value_up_to_20_reference_values_and_sturges_above() -> None:
    # Given numerical columns with 20 and 21 distinct reference values, compared with Jensen–Shannon
    rng = np.random.default_rng(3)
    results = {}
    for n_values in (20, 21):
        reference = cycled(2000, n_values)
        current = rng.integers(0, n_values, size=1500).astype(np.float64)
        report = check_drift_columns(
            {"x": numerical(reference)},
            {"x": numerical(current)},
            overrides={"x": ColumnOverride(method="jensenshannon")},
        )
        results[n_values] = (reference, current, report.features["x"].score)
    # Then 20 values are compared value by value
    reference, current, score = results[20]
    keys = np.union1d(reference, current)
    ref_shares = np.array([(reference == k).mean() for k in keys])
    cur_shares = np.array([(current == k).mean() for k in keys])
    assert score == pytest.approx(distance.jensenshannon(ref_shares, cur_shares), abs=1e-12)
    # And 21 values in Sturges bins computed over both samples
    reference, current, score = results[21]
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    ref_binned = np.histogram(reference, edges)[0] / reference.size
    cur_binned = np.histogram(current, edges)[0] / current.size
    assert score == pytest.approx(distance.jensenshannon(ref_binned, cur_binned), abs=1e-12)


def test_ks_drifts_at_a_p_value_equal_to_the_threshold_but_chisquare_does_not() -> None:
    # Given p-values exactly at the threshold
    # When the verdict rule is applied
    # Then KS drifts (p ≤ t) while chi-square and Z do not (p < t), and distances drift at ≥ t
    assert is_drift("ks", 0.05, 0.05)
    assert not is_drift("chisquare", 0.05, 0.05)
    assert not is_drift("z", 0.05, 0.05)
    assert is_drift("wasserstein", 0.1, 0.1)
    assert not is_drift("jensenshannon", 0.0999, 0.1)
    assert not is_drift("psi", float("nan"), 0.1)


def test_threshold_override_equal_to_the_ks_p_value_flags_the_column() -> None:
    # Given a KS column whose p-value is used as its own threshold
    rng = np.random.default_rng(4)
    reference, current = rng.normal(size=200), rng.normal(0.1, size=200)
    p_value = float(stats.ks_2samp(reference, current).pvalue)
    # When checked with that threshold
    report = check_drift_columns(
        {"x": numerical(reference)}, {"x": numerical(current)}, {"x": ColumnOverride(threshold=p_value)}
    )
    # Then the column drifts (p ≤ threshold) and reports the overridden threshold
    column = report.features["x"]
    assert column.method == "ks"
    assert column.threshold == p_value
    assert column.drifted


def test_override_cannot_apply_an_ordered_method_to_categories() -> None:
    # Given a categorical column and a request for KS
    column = categorical(["a", "b"] * 10)
    # When checked, Then the engine refuses with a message naming column and method
    with pytest.raises(DriftMethodError, match=r"'x'.*'ks'"):
        check_drift_columns({"x": column}, {"x": column}, {"x": ColumnOverride(method="ks")})


def test_unknown_method_is_refused_by_name() -> None:
    column = numerical([1.0, 2.0, 3.0])
    with pytest.raises(DriftMethodError, match="unknown drift method 'kolmogorov'"):
        check_drift_columns({"x": column}, {"x": column}, {"x": ColumnOverride(method="kolmogorov")})


@pytest.mark.parametrize(("n_reference", "method"), [(500, "ks"), (20_000, "wasserstein")])
def test_shifted_data_is_flagged_and_same_distribution_mostly_is_not(n_reference: int, method: str) -> None:
    # Given 30 numerical columns drawn from one distribution and 30 whose mean moved by half a std
    rng = np.random.default_rng(5)
    reference = {f"x{i}": numerical(rng.normal(size=n_reference)) for i in range(60)}
    current = {f"x{i}": numerical(rng.normal(0.5 if i >= 30 else 0.0, size=n_reference)) for i in range(60)}
    # When checked
    report = check_drift_columns(reference, current)
    features = report.features
    same = [features[f"x{i}"].drifted for i in range(30)]
    shifted = [features[f"x{i}"].drifted for i in range(30, 60)]
    # Then every shifted column is flagged, at most a few same-distribution ones, with the expected method
    assert {f.method for f in features.values()} == {method}
    assert all(shifted)
    assert sum(same) <= 4
    assert report.drift_share == pytest.approx((30 + sum(same)) / 60)
    assert report.dataset_drift


def test_shifted_categories_are_flagged() -> None:
    # Given a categorical column whose mix moves from 60/30/10 to 30/30/40, and one that stays
    rng = np.random.default_rng(6)
    labels = np.array(["a", "b", "c"])
    reference = labels[rng.choice(3, size=5000, p=[0.6, 0.3, 0.1])].tolist()
    moved = labels[rng.choice(3, size=5000, p=[0.3, 0.3, 0.4])].tolist()
    stayed = labels[rng.choice(3, size=5000, p=[0.6, 0.3, 0.1])].tolist()
    # When checked
    report = check_drift_columns(
        {"moved": categorical(reference), "stayed": categorical(reference)},
        {"moved": categorical(moved), "stayed": categorical(stayed)},
    )
    # Then only the moved column drifts, by Jensen–Shannon distance
    assert report.features["moved"].method == "jensenshannon"
    assert report.features["moved"].drifted
    assert not report.features["stayed"].drifted
