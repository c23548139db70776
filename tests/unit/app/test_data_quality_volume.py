"""The usual volume a data-quality check compares its window with: read from the reports earlier checks
stored, for the same time of day on each previous day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sluice.app.monitoring.quality import previous_volumes
from sluice.domain.monitoring.quality.verdict import usual_volume
from tests.unit.app.fakes import FakePorts

END = datetime(2026, 12, 7, 14, 0, 5, tzinfo=UTC)


def stored_check(fakes: FakePorts, model: str, at: datetime, requests: float | None) -> None:
    """A drift report as act.py stores it: drift/<model>/<time>.json, with its window of one hour."""
    document: dict[str, object] = {
        "window": {"start": (at - timedelta(hours=1)).isoformat(), "end": at.isoformat()},
        "data_quality": None if requests is None else {"requests": {"total": requests}},
    }
    fakes.artifacts.put_json(f"drift/{model}/{at:%Y%m%dT%H%M%SZ}.json", document)


def test_the_usual_volume_comes_from_the_reports_of_the_same_hour_on_previous_days() -> None:
    # Given reports of checks one, two and three days ago at about the same time (one a few minutes
    # off, one before baselines existed), one of another hour, and one of another model
    fakes = FakePorts()
    stored_check(fakes, "loans", END - timedelta(days=1), 120.0)
    stored_check(fakes, "loans", END - timedelta(days=2, minutes=-7), 80.0)
    stored_check(fakes, "loans", END - timedelta(days=3), None)
    stored_check(fakes, "loans", END - timedelta(days=1, hours=6), 5000.0)
    stored_check(fakes, "other", END - timedelta(days=4), 999.0)
    # When the check ending at END reads them
    found = previous_volumes(fakes.core_deps(), "loans", END)
    # Then only the two of the same time of day count; the usual volume is their median
    assert sorted(p.requests for p in found) == [80.0, 120.0]
    assert usual_volume(found, END - timedelta(hours=1), END) == (100.0, 2)
