"""The example data's concept shift changes how the label depends on the inputs, and nothing else."""

from __future__ import annotations

from sluice.tools.example_data import credit_risk


def test_no_concept_shift_is_the_table_it_always_was() -> None:
    # Given the same seed / When generated with concept_shift 0 and without it / Then the tables are equal
    assert credit_risk(500, seed=4, concept_shift=0.0).columns == credit_risk(500, seed=4).columns


def test_a_concept_shift_changes_labels_but_not_inputs() -> None:
    # Given the same seed, with and without a full concept shift
    before = credit_risk(2000, seed=4)
    after = credit_risk(2000, seed=4, concept_shift=1.0)
    # Then every input column is the same, and a sizeable share of the labels differ
    target = "default"
    assert target in before.columns
    assert {c: v for c, v in before.columns.items() if c != target} == {
        c: v for c, v in after.columns.items() if c != target
    }
    changed = sum(a != b for a, b in zip(before.columns[target], after.columns[target], strict=True))
    assert changed > 0.1 * before.n_rows
