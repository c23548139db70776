"""The drift check holds a retraining that could only relearn the production version: its dataset and
spec would be exactly production's (no feedback since, no newer upload, no new spec). The check says so
in the report, the log and the audit trail, once while nothing changes; a newer upload lifts the hold."""

from __future__ import annotations

import logging

import pytest

from sluice.app.monitoring.check import check_production_models
from sluice.domain.registry.records import EventType
from sluice.domain.spec.model_spec import ModelSpec
from tests.unit.app.drift_world import MODEL, NOW, SETTINGS, captured, loan_rows, newer_upload, serve
from tests.unit.app.fakes import FakePorts

NOTHING_NEW = "nothing new to learn from since v1: send feedback or upload newer data"


def test_drift_without_feedback_or_a_newer_upload_starts_no_retraining_and_says_why(
    fakes: FakePorts, loans: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    # Given v1 in production, trained on the only upload with the current spec, and shifted traffic
    # without a single label
    serve(fakes, MODEL, captured(loan_rows(200, seed=2, shift=1.0)))
    # When the scheduled check runs, twice
    with caplog.at_level(logging.INFO):
        (check,) = check_production_models(fakes.deps(), SETTINGS, NOW)
        check_production_models(fakes.deps(), SETTINGS, NOW)
    # Then it alerts on the drift but starts no retraining, and says why
    assert check.dataset_drift is True and check.alerted is True
    assert check.retraining is None and fakes.executions.inputs() == []
    assert check.retrain_skipped == NOTHING_NEW
    # In the report's words, with uploading newer data as the first thing to do
    assert check.report_uri is not None
    words = fakes.artifacts.json(check.report_uri.removeprefix("s3://artifacts/"))["explanation"]
    assert f"No retraining: {NOTHING_NEW}." in words["next"]
    assert words["actions"][0].startswith(f"Upload newer labelled data under `{MODEL}/data/`")
    # In the log
    assert any(r.getMessage() == "retraining held" and r.why == NOTHING_NEW for r in caplog.records)  # type: ignore[attr-defined]
    # And in the audit trail, once for the two checks
    (held,) = [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.RETRAINING_HELD]
    assert (held.version, held.reason, held.details["asked_by"]) == (1, NOTHING_NEW, "drift")
    assert held.details["dataset_sha256"] == fakes.registry.get_version(MODEL, 1).dataset_sha256


def test_a_newer_upload_lifts_the_hold(fakes: FakePorts, loans: ModelSpec) -> None:
    # Given the same drift, and an upload newer than the one v1 was trained on
    serve(fakes, MODEL, captured(loan_rows(200, seed=2, shift=1.0)))
    newer_upload(fakes, loans)
    # When the scheduled check runs
    (check,) = check_production_models(fakes.deps(), SETTINGS, NOW)
    # Then a retraining starts, on the newer upload
    assert check.retraining is not None and check.retrain_skipped is None
    (payload,) = fakes.executions.inputs()
    assert payload["dataset_sha256"] == "e" * 64
    assert not [e for e in fakes.registry.list_events(MODEL) if e.type is EventType.RETRAINING_HELD]
