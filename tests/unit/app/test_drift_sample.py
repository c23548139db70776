"""The drift check over a window far larger than its sample: 20,000 captured rows checked on a uniform
sample of 2,000 give the verdicts the full 20,000 give, keep every labelled row, and say in the report
that they are a sample's.

Tolerance: with a reference of more than 1,000 rows (training stores up to 50,000), the verdicts are
Evidently's distances (Wasserstein in reference standard deviations, Jensen-Shannon), estimates of a
property of the distributions that a sample of 2,000 rows estimates within a few hundredths (here
0.03 against 0.03 on unshifted income, 1.01 against 1.01 on shifted): a column's verdict can only
differ when its distance is that close to its threshold (0.1). The cases below are not: traffic like
the reference, and income and debt ratio moved up by a third of their spread. (With a reference of
at most 1,000 rows the verdicts are p-value tests, whose power grows with the rows checked: on the
sample they are the verdicts of a test on 2,000 rows, not on the whole window.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from sluice.app.monitoring.check import assess_model, check_model
from sluice.domain.spec.model_spec import ModelSpec
from tests.unit.app.drift_world import (
    LOANS_SPEC,
    MODEL,
    NOW,
    SETTINGS,
    captured,
    label_all,
    loan_rows,
    put_in_production,
    reference_bytes,
    register_model,
    serve,
)
from tests.unit.app.fakes import FakePorts

SAMPLED = replace(SETTINGS, drift_max_rows=2_000)
EVERY_ROW = replace(SETTINGS, drift_max_rows=1_000_000)


@pytest.fixture
def loans(fakes: FakePorts) -> ModelSpec:
    """The loans model in production with a reference of 2,000 rows (judged with distances)."""
    spec = register_model(fakes, LOANS_SPEC)
    put_in_production(fakes, spec, reference_bytes(spec, loan_rows(2_000, seed=1)))
    return spec


@pytest.mark.parametrize(("shift", "drifted"), [(0.0, []), (0.33, ["debt_ratio", "income"])])
def test_a_sample_of_the_window_gives_the_verdicts_of_all_its_rows(
    fakes: FakePorts, loans: ModelSpec, shift: float, drifted: list[str]
) -> None:
    # Given 20,000 captured rows of version 1 in the window (and 500 of another version)
    serve(fakes, MODEL, captured(loan_rows(20_000, seed=5, shift=shift)))
    serve(fakes, MODEL, captured(loan_rows(500, seed=6), version=9))
    # When it is assessed on a sample of at most 2,000 rows, and on every row
    sampled = assess_model(fakes.deps(), SAMPLED, MODEL, 1, NOW)
    full = assess_model(fakes.deps(), EVERY_ROW, MODEL, 1, NOW)
    # Then the sample holds 2,000 of version 1's 20,000 rows, while the counts are the window's
    assert (sampled.rows, sampled.report.n_current_window, full.rows) == (2_000, 20_000, 20_000)
    assert sampled.report.sampled and not full.report.sampled
    assert sampled.captured is not None and sampled.captured.rows_by_version == {1: 20_000, 9: 500}
    # And both give the same verdict, on the same features, predictions included
    assert sampled.report.dataset_drift == full.report.dataset_drift == bool(drifted)
    assert sampled.drifted_features == full.drifted_features == drifted
    assert sampled.prediction_drift is not None and full.prediction_drift is not None
    assert sampled.prediction_drift.drifted == full.prediction_drift.drifted == bool(drifted)


def test_the_report_says_it_is_a_sample_and_keeps_every_labelled_row(
    fakes: FakePorts, loans: ModelSpec
) -> None:
    # Given 20,000 captured rows, 600 of them labelled (540 right), and a label for no captured row
    records = captured(loan_rows(20_000, seed=5))
    serve(fakes, MODEL, records)
    label_all(fakes, MODEL, records[::25][:600], right=540)
    sent = (NOW - timedelta(hours=2)).isoformat()
    fakes.traffic.labels[MODEL].append(
        {"request_id": "never-served", "instance": 0, "label": 1, "time": sent}
    )
    # When the check runs on a sample of 2,000
    check = check_model(fakes.deps(), SAMPLED, MODEL, 1, NOW)
    # Then the live metric is on all 600 labelled rows, and the check counts the window's rows
    assert check.live_metric == {"accuracy": 0.9, "labelled_rows": 600}
    assert (check.rows, check.window_rows, check.unmatched_labels) == (2_000, 20_000, 1)
    # And the JSON report holds the window's counts; both reports say the verdicts are a sample's
    assert check.report_uri is not None and check.html_uri is not None
    document = fakes.artifacts.json(check.report_uri.removeprefix("s3://artifacts/"))
    assert document["n_current"] == 2_000 and document["n_current_window"] == 20_000
    assert document["window"]["rows"] == 20_000 and document["window"]["uniform_sample"] is True
    assert document["window"]["labelled_rows"] == 600 and document["window"]["unmatched_labels"] == 1
    html = fakes.artifacts.get_bytes(check.html_uri).decode()
    assert "a uniform random sample of the window&#x27;s 20,000 rows" in html
    assert "uniform random sample of 2,000 of version 1&#x27;s 20,000 rows" in html
