"""Batch scoring's pure part: CSV rows as API instances, every problem of every row named (the API
names the first 100 of a request), and the row ranges no batch covered."""

from __future__ import annotations

from sluice.domain.scoring.batch import BatchSummary, check_rows, failed_ranges, instance_of
from sluice.domain.spec.model_spec import CategoricalFeature, NumericFeature

FEATURES: list[NumericFeature | CategoricalFeature] = [
    NumericFeature(name="income", type="numeric", min=0),
    NumericFeature(name="age", type="numeric", nullable=True),
    CategoricalFeature(name="segment", type="categorical", categories=["retail", "sme"]),
]


def test_cells_become_the_instance_a_client_would_send() -> None:
    row = {"income": " 52000 ", "age": "NA", "segment": " sme", "id": "x-1"}
    assert instance_of(FEATURES, row) == {"income": 52000.0, "age": None, "segment": "sme"}
    # a cell that is not a number stays text, for validation to name
    assert instance_of(FEATURES, {"income": "abc", "segment": "sme"})["income"] == "abc"


def test_every_bad_row_of_a_large_batch_is_named_by_its_source_row() -> None:
    # Given 300 rows, 150 of them bad (more than the 100 problems an API answer names)
    instances = [{"income": "abc" if i % 2 else 1000.0, "age": None, "segment": "retail"} for i in range(300)]
    rows = [i + 1001 for i in range(300)]

    checked = check_rows(FEATURES, instances, rows)

    assert len(checked.valid) == 150 and checked.rejected_rows == 150
    assert {p.instance for p in checked.problems} == {rows[i] for i in range(1, 300, 2)}
    assert {p.field for p in checked.problems} == {"income"}
    assert checked.feed is not None and checked.feed["income"].shape == (150, 1)


def test_rows_no_batch_covered_are_the_failed_ranges() -> None:
    done = [
        BatchSummary(first_row=1, last_row=100, rows=100, scored=100, rejected=0),
        BatchSummary(first_row=201, last_row=250, rows=50, scored=50, rejected=0),
    ]
    assert failed_ranges(300, done) == [[101, 200], [251, 300]]
    assert failed_ranges(250, done) == [[101, 200]]
