"""Decision thresholds chosen on the training part and written into the ONNX `label`, and bias
mitigation (reweighing, one fair threshold) measured on a held-out biased case."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sluice.domain.candidate import export_candidate, train_candidate
from sluice.domain.data.table import RawTable, write_csv
from sluice.domain.scoring.onnx_model import THRESHOLD_PROP, OnnxModel
from sluice.domain.spec.model_spec import ModelSpec, parse_spec
from sluice.domain.training.decisions import (
    FittedModel,
    OutOfFold,
    best_threshold,
    choose_threshold,
    decide,
    fit_model,
    mitigation_report,
    out_of_fold,
    reweighing_weights,
    training_weights,
)
from sluice.domain.training.evaluation import evaluate
from sluice.domain.training.export import check_parity, export_onnx
from sluice.domain.training.pipeline import HoldoutSplit, model_matrix, split_holdout, target_array


def biased_hiring(rows: int = 2000, *, seed: int = 1, labels: tuple[str, str] = ("0", "1")) -> RawTable:
    """Who is hired: group b is hired far more often than group a at the same skill, and `proxy`
    (never the group itself) lets a model learn the group."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], size=rows, p=[0.6, 0.4])
    in_b = (group == "b").astype(float)
    skill = rng.normal(0, 1, rows)
    proxy = in_b + rng.normal(0, 0.5, rows)
    hired = rng.random(rows) < 1 / (1 + np.exp(-(-0.5 + 1.2 * skill + 1.8 * in_b)))
    group_cells = ["" if i % 20 == 0 else str(g) for i, g in enumerate(group)]  # missing: a group of its own
    columns = {
        "skill": [f"{v:.4f}" for v in skill],
        "proxy": [f"{v:.4f}" for v in proxy],
        "group": group_cells,
        "hired": [labels[int(h)] for h in hired],
    }
    return RawTable(source=f"biased(seed={seed})", header=list(columns), columns=columns)


def spec_text(extra: str = "", *, metric: str = "roc_auc") -> str:
    return f"""
name: hiring
task: binary
target: hired
features:
  - {{name: skill, type: numeric}}
  - {{name: proxy, type: numeric}}
algorithm: {{name: logistic_regression}}
metric: {metric}
{extra}
"""


def hiring_spec(extra: str = "", *, metric: str = "roc_auc") -> ModelSpec:
    return parse_spec(spec_text(extra, metric=metric))


TABLE = biased_hiring()
REWEIGHING = hiring_spec("fairness: {sensitive: group, mitigation: reweighing}", metric="accuracy")
FAIR_THRESHOLD = hiring_spec("fairness: {sensitive: group, mitigation: threshold, tolerance: 0.05}")


def _tpr_gap(probability: np.ndarray, positive: np.ndarray, groups: np.ndarray, threshold: float) -> float:
    rates = [
        float(np.mean(probability[positive & (groups == g)] >= threshold)) for g in set(groups[positive])
    ]
    return max(rates) - min(rates)


def _mitigated(spec: ModelSpec, split: HoldoutSplit) -> tuple[FittedModel, bytes]:
    fitted = fit_model(spec, split, None)
    threshold = fitted.threshold.value if fitted.threshold else None
    exported = export_candidate(fitted.pipeline, spec, split, version="1", threshold=threshold)
    assert exported.parity.passed, exported.parity.reason
    return fitted, exported.onnx_model


def test_reweighing_makes_label_and_group_independent_in_the_weighted_training_rows() -> None:
    # Given biased training rows: group b is hired far more often than group a
    train = split_holdout(REWEIGHING, TABLE).train
    hired = target_array(REWEIGHING, train) == 1
    groups = np.array(train.columns["group"])
    assert np.mean(hired[groups == "b"]) - np.mean(hired[groups == "a"]) > 0.25
    # When the training rows are reweighed
    weights = reweighing_weights(REWEIGHING, train)
    # Then, weighted, every group (the missing one too) is hired at the overall rate
    assert weights is not None and weights.shape == (train.n_rows,)
    overall = np.average(hired, weights=weights)
    for group in ("a", "b", ""):
        rows = groups == group
        assert rows.any()
        assert np.average(hired[rows], weights=weights[rows]) == pytest.approx(overall, abs=1e-9)
    assert overall == pytest.approx(np.mean(hired))
    # And a retraining's recent weights multiply them; a spec without reweighing gets none of its own
    recent = np.linspace(1.0, 2.0, train.n_rows)
    combined = training_weights(REWEIGHING, train, recent)
    assert combined is not None and np.allclose(combined, recent * weights)
    assert reweighing_weights(hiring_spec("sensitive: group"), train) is None
    assert training_weights(hiring_spec("sensitive: group"), train, None) is None


def test_reweighing_lowers_the_demographic_parity_gap_on_the_held_out_biased_case() -> None:
    # Given the biased case and a spec that mitigates by reweighing
    split = split_holdout(REWEIGHING, TABLE)
    # When the model is fitted, exported and evaluated on the holdout
    fitted, model_bytes = _mitigated(REWEIGHING, split)
    assert fitted.threshold is None and fitted.unmitigated is not None
    evaluation = evaluate(model_bytes, REWEIGHING, split.holdout, detailed=False)
    report = mitigation_report(REWEIGHING, fitted.unmitigated, evaluation)
    # Then the demographic-parity gap falls on the holdout, and what it cost is reported
    assert report is not None and report.mitigation == "reweighing" and report.attribute == "group"
    before, after = report.before.demographic_parity_gap, report.after.demographic_parity_gap
    assert before is not None and after is not None and report.metric_cost is not None
    assert report.before.metric is not None and report.after.metric is not None
    message = f"parity gap {before:.3f} → {after:.3f}, accuracy cost {report.metric_cost:+.3f}"
    assert after < before - 0.1, message
    assert report.metric_cost == pytest.approx(report.before.metric - report.after.metric), message
    assert report.metric_cost < 0.1, message


def test_one_threshold_brings_the_equal_opportunity_gap_within_tolerance() -> None:
    # Given the biased case and a spec that mitigates by threshold (tolerance 0.05)
    split = split_holdout(FAIR_THRESHOLD, TABLE)
    # When the model is fitted and exported
    fitted, model_bytes = _mitigated(FAIR_THRESHOLD, split)
    choice = fitted.threshold
    # Then one threshold is chosen whose equal-opportunity gap on out-of-fold training rows is within it
    assert choice is not None and choice.within_tolerance is True and choice.tolerance == 0.05
    assert (choice.objective, choice.optimised) == ("fairness", "f1")
    oof = out_of_fold(FAIR_THRESHOLD, split.train, None)
    assert oof.groups is not None
    gap = _tpr_gap(oof.probability, oof.positive, oof.groups, choice.value)
    assert gap <= 0.05 and choice.equal_opportunity_gap == pytest.approx(gap)
    assert choice.rows == split.train.n_rows
    # And on the holdout the gap is smaller than the unmitigated model's at 0.5
    assert fitted.unmitigated is not None
    evaluation = evaluate(model_bytes, FAIR_THRESHOLD, split.holdout, detailed=False)
    report = mitigation_report(FAIR_THRESHOLD, fitted.unmitigated, evaluation)
    assert report is not None and report.before.equal_opportunity_gap and report.after.equal_opportunity_gap
    before, after = report.before.equal_opportunity_gap, report.after.equal_opportunity_gap
    assert after < before - 0.05, f"equal-opportunity gap {before:.3f} → {after:.3f}"
    # And the model serves without the sensitive attribute: its inputs are the features, one threshold
    model = OnnxModel(model_bytes)
    assert set(model.inputs) == {"skill", "proxy"} and model.threshold == pytest.approx(choice.value)


def test_the_smallest_gap_is_chosen_when_no_threshold_is_within_tolerance() -> None:
    # Given out-of-fold predictions where group a's only positive scores lowest of all
    oof = OutOfFold(
        probability=np.array([0.1, 0.2, 0.3, 0.8, 0.9]),
        positive=np.array([True, False, False, True, True]),
        groups=np.array(["a", "a", "b", "b", "b"], dtype=object),
    )
    # When a fair threshold is chosen
    choice = best_threshold(FAIR_THRESHOLD, oof, constrained=True)
    # Then none is within tolerance, and the choice says so and takes the smallest gap
    assert choice.within_tolerance is False and choice.note is not None and "no threshold" in choice.note
    assert choice.value == pytest.approx(0.85) and choice.equal_opportunity_gap == pytest.approx(0.5)


def test_a_threshold_changes_label_in_onnx_and_matches_scikit_learn_at_it() -> None:
    # Given a spec deciding at 0.3 and its fitted pipeline
    spec = hiring_spec("threshold: 0.3")
    split = split_holdout(spec, TABLE)
    fitted = fit_model(spec, split, None)
    assert fitted.threshold is not None and fitted.threshold.value == 0.3
    assert fitted.threshold.objective == "fixed"
    # When exported with the threshold and without
    at_threshold = export_onnx(fitted.pipeline, spec, version="1", threshold=0.3)
    default = export_onnx(fitted.pipeline, spec, version="1")
    labels = OnnxModel(at_threshold).run_table(split.holdout).labels
    assert labels is not None
    # Then `label` has more positives at 0.3, and equals scikit-learn's P(1) ≥ 0.3 on every holdout row
    default_labels = OnnxModel(default).run_table(split.holdout).labels
    assert default_labels is not None and labels.sum() > default_labels.sum()
    matrix = model_matrix(spec, split.holdout)
    np.testing.assert_array_equal(labels, (fitted.pipeline.predict_proba(matrix)[:, 1] >= 0.3).astype(int))
    assert labels.dtype == default_labels.dtype
    # And parity passes at the threshold, but not against scikit-learn's own predict
    assert check_parity(fitted.pipeline, at_threshold, spec, split.holdout, 0.3).passed
    assert not check_parity(fitted.pipeline, at_threshold, spec, split.holdout).passed
    # And the model records its threshold
    assert OnnxModel(at_threshold).metadata[THRESHOLD_PROP] == "0.3" and OnnxModel(default).threshold is None


def test_a_threshold_keeps_string_labels_as_strings() -> None:
    # Given string labels (no, yes)
    table = biased_hiring(600, seed=4, labels=("no", "yes"))
    spec = hiring_spec("threshold: 0.7")
    split = split_holdout(spec, table)
    fitted = fit_model(spec, split, None)
    # When exported with a threshold
    labels = OnnxModel(export_onnx(fitted.pipeline, spec, version="1", threshold=0.7)).run_table(
        split.holdout
    )
    # Then `label` holds the class names, decided at the threshold
    expected = decide(fitted.pipeline, model_matrix(spec, split.holdout), 0.7)
    assert labels.labels is not None and set(labels.labels) == {"no", "yes"}
    np.testing.assert_array_equal(labels.labels.astype(str), expected.astype(str))


@pytest.mark.parametrize(
    "threshold",
    [
        "{optimise: f1}",
        "{optimise: youden}",
        "{optimise: cost, costs: {false_positive: 1, false_negative: 3}}",
    ],
)
def test_a_chosen_threshold_depends_on_the_training_rows_only(threshold: str) -> None:
    # Given a spec that optimises its threshold, and its split
    spec = hiring_spec(f"threshold: {threshold}")
    split = split_holdout(spec, TABLE)
    chosen = fit_model(spec, split, None).threshold
    assert chosen is not None and chosen.optimised == spec.threshold.optimise.value  # type: ignore[union-attr]
    assert chosen.objective == chosen.optimised
    assert 0 < chosen.value < 1 and chosen.rows == split.train.n_rows
    # When the holdout's labels are all flipped, the choice stays; when the training rows change, it moves
    flipped = {
        **split.holdout.columns,
        "hired": ["1" if c == "0" else "0" for c in split.holdout.columns["hired"]],
    }
    other_holdout = RawTable(source="flipped", header=split.holdout.header, columns=flipped)
    assert fit_model(spec, HoldoutSplit(split.train, other_holdout), None).threshold == chosen
    fewer = split.train.select(list(range(split.train.n_rows // 2)))
    assert choose_threshold(spec, fewer, None) != chosen


def test_a_costlier_false_negative_lowers_the_threshold() -> None:
    # Given the same training rows and two cost settings
    train = split_holdout(hiring_spec(), TABLE).train
    even = hiring_spec("threshold: {optimise: cost, costs: {false_positive: 1, false_negative: 1}}")
    missed = hiring_spec("threshold: {optimise: cost, costs: {false_positive: 1, false_negative: 5}}")
    # When the threshold is chosen for each
    cheap, costly = choose_threshold(even, train, None), choose_threshold(missed, train, None)
    # Then a missed positive costing five times more lowers it (more positives caught)
    assert cheap is not None and costly is not None
    assert costly.value < cheap.value - 0.1, f"{cheap.value:.3f} vs {costly.value:.3f}"


def test_no_threshold_and_no_mitigation_keep_scikit_learns_decision() -> None:
    # Given a spec with neither a threshold nor mitigation
    spec = hiring_spec("sensitive: group")
    split = split_holdout(spec, TABLE)
    # When fitted
    fitted = fit_model(spec, split, None)
    # Then there is no threshold, no "before", and no mitigation report
    assert fitted.threshold is None and fitted.unmitigated is None
    assert choose_threshold(spec, split.train, None) is None
    evaluation = evaluate(
        export_onnx(fitted.pipeline, spec, version="1"), spec, split.holdout, detailed=False
    )
    before = fit_model(REWEIGHING, split, None).unmitigated
    assert before is not None and mitigation_report(spec, before, evaluation) is None


def test_train_candidate_decides_at_the_fair_threshold_and_reports_the_mitigation() -> None:
    # Given the biased case and a spec that mitigates by threshold
    # When `sluice train`'s sequence runs on it
    candidate = train_candidate(FAIR_THRESHOLD, TABLE, dataset_sha256="0" * 64, version="1")
    # Then the served model decides at the chosen threshold, and the mitigation is reported
    assert candidate.onnx_model is not None and candidate.threshold is not None
    assert OnnxModel(candidate.onnx_model).threshold == pytest.approx(candidate.threshold.value)
    assert candidate.unmitigated is not None and candidate.mitigation is not None
    assert candidate.evaluation.fairness is not None
    assert (
        candidate.mitigation.after.equal_opportunity_gap
        == candidate.evaluation.fairness.equal_opportunity_gap
    )
    assert candidate.mitigation.before == candidate.unmitigated


EXPORT_IN_A_PROCESS = """
import hashlib, sys
from pathlib import Path
from sluice.domain.training.decisions import fit_model
from sluice.domain.training.export import export_onnx
from sluice.domain.spec.model_spec import load_spec
from sluice.domain.data.table import read_csv
from sluice.domain.training.pipeline import split_holdout

spec = load_spec(Path(sys.argv[1]))
split = split_holdout(spec, read_csv(Path(sys.argv[2])))
fitted = fit_model(spec, split, None)
model = export_onnx(fitted.pipeline, spec, version="1", threshold=fitted.threshold.value)
print(fitted.threshold.value, hashlib.sha256(model).hexdigest())
"""


def test_a_thresholded_model_is_byte_identical_across_processes(tmp_path: Path) -> None:
    # Given a spec that mitigates by threshold and the biased data on disk
    spec_file, data = tmp_path / "spec.yaml", tmp_path / "hiring.csv"
    spec_file.write_text(spec_text("fairness: {sensitive: group, mitigation: threshold}"))
    with data.open("w") as file:
        write_csv(biased_hiring(600, seed=2), file)
    # When the model is fitted and exported in two processes at once, with different hash seeds
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", EXPORT_IN_A_PROCESS, str(spec_file), str(data)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "5")
    ]
    printed = []
    for process in processes:
        out, err = process.communicate()
        assert process.returncode == 0, err
        printed.append(out.split())
    # Then both chose the same threshold (not 0.5) and wrote the same bytes
    assert printed[0] == printed[1] and len(printed[0]) == 2
    assert float(printed[0][0]) != 0.5
