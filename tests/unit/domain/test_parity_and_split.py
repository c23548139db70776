"""The holdout split is a property of each row, and the parity check catches an export that does not
reproduce scikit-learn (the float32-scaler-before-trees trap)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sluice.domain.candidate import train_candidate
from sluice.domain.data.table import RawTable
from sluice.domain.spec.model_spec import parse_spec
from sluice.domain.training.export import ParityResult, check_parity, export_onnx
from sluice.domain.training.pipeline import model_matrix, split_holdout, target_array
from sluice.entrypoints.cli.model_folder import MODEL_FILE, write_model_folder
from sluice.tools.example_data import credit_risk

SPEC = parse_spec(
    """
name: scaled
task: binary
target: default
features:
  - {name: income, type: numeric}
  - {name: debt_ratio, type: numeric}
  - {name: age, type: numeric, nullable: true}
algorithm: {name: random_forest, params: {n_estimators: 50, max_depth: 12}}
metric: roc_auc
"""
)


def _table(rows: int, seed: int) -> RawTable:
    full = credit_risk(rows, seed=seed)
    keep = [*SPEC.feature_names, SPEC.target]
    return RawTable(source="t", header=keep, columns={c: full.columns[c] for c in keep})


def _holdout_rows(table: RawTable) -> set[tuple[str, ...]]:
    return set(split_holdout(SPEC, table).holdout.rows())


def test_a_rows_side_of_the_split_does_not_depend_on_other_rows() -> None:
    # Given a table and its holdout
    table = _table(2000, seed=5)
    holdout = _holdout_rows(table)
    assert 0.15 < len(holdout) / table.n_rows < 0.25
    # When the rows are shuffled and new rows are added
    order = np.random.default_rng(1).permutation(table.n_rows)
    other = _table(500, seed=6)
    mixed = RawTable(
        source="mixed",
        header=table.header,
        columns={c: [table.columns[c][i] for i in order] + other.columns[c] for c in table.header},
    )
    # Then every original row stays on its side
    mixed_holdout = _holdout_rows(mixed)
    original = set(table.rows())
    assert mixed_holdout & original == holdout


def test_parity_check_catches_a_scaled_forest_whose_float32_export_flips_decisions() -> None:
    # Given a forest behind a StandardScaler, which computes in float32 inside ONNX
    table = _table(3000, seed=7)
    split = split_holdout(SPEC, table)
    pipeline = Pipeline(
        [
            ("features", ColumnTransformer([("scale", StandardScaler(), [0, 1, 2])])),
            ("model", RandomForestClassifier(n_estimators=50, max_depth=12, random_state=0)),
        ]
    )
    complete = RawTable(
        source="complete",
        header=split.train.header,
        columns={c: ["40" if v == "" else v for v in split.train.columns[c]] for c in split.train.header},
    )
    pipeline.fit(model_matrix(SPEC, complete), target_array(SPEC, complete))
    holdout = RawTable(
        source="h",
        header=split.holdout.header,
        columns={c: ["40" if v == "" else v for v in split.holdout.columns[c]] for c in split.holdout.header},
    )
    # When it is exported and checked
    parity = check_parity(pipeline, export_onnx(pipeline, SPEC, version="1"), SPEC, holdout)
    # Then parity fails with a reason naming the difference
    assert parity.passed is False
    assert parity.max_abs_diff > parity.tolerance
    assert parity.reason is not None and "max abs difference" in parity.reason


def test_sluice_pipeline_for_the_same_data_passes_parity() -> None:
    # Given the same data the scaled forest failed on
    table = _table(3000, seed=7)
    # When Sluice's own pipeline (trees unscaled) is trained on it
    candidate = train_candidate(SPEC, table, dataset_sha256="0" * 64, version="1")
    # Then its export reproduces scikit-learn and may be served
    assert candidate.parity.passed and candidate.parity.max_abs_diff < 1e-5
    assert candidate.servable


def test_a_candidate_that_failed_parity_writes_its_card_but_no_model(tmp_path: Path) -> None:
    # Given a candidate whose export did not pass parity
    candidate = train_candidate(SPEC, _table(800, seed=8), dataset_sha256="0" * 64, version="1")
    failed = dataclasses.replace(
        candidate,
        onnx_model=None,
        parity=ParityResult(
            passed=False, rows=10, max_abs_diff=0.2, label_agreement=0.9, tolerance=1e-4, reason="x"
        ),
    )
    (tmp_path / MODEL_FILE).write_bytes(b"an earlier model")
    # When its folder is written
    written = write_model_folder(failed, tmp_path)
    # Then there is a card explaining it and no model.onnx to serve by mistake
    assert not (tmp_path / MODEL_FILE).exists()
    assert {p.name for p in written} >= {"card.json", "card.html", "evaluation.json"}
