"""The dashboard use cases on in-memory ports: the drift check regenerates its model's section and the
index, one model's regeneration leaves the others' sections alone, a failure never reaches the caller,
and only linked pages are served."""

from __future__ import annotations

from html import escape

import pytest

from sluice.app.monitoring.check import check_production_models
from sluice.app.registry.dashboard import (
    INDEX_HTML,
    INDEX_JSON,
    linked_page,
    publish_dashboard,
    refresh_dashboard,
)
from sluice.domain.registry.dashboard import Dashboard
from sluice.domain.spec.model_spec import ModelSpec
from sluice.errors import ArtifactNotFound, StackError
from tests.unit.app.drift_world import (
    LOANS_SPEC,
    NOW,
    SETTINGS,
    captured,
    loan_rows,
    put_in_production,
    reference_bytes,
    register_model,
    serve,
)
from tests.unit.app.fakes import FakePorts


def index_of(fakes: FakePorts) -> Dashboard:
    return Dashboard.model_validate(fakes.artifacts.json(INDEX_JSON))


def test_the_drift_check_regenerates_its_models_section_and_the_index(
    fakes: FakePorts, loans: ModelSpec
) -> None:
    # Given version 1 in production serving shifted traffic
    serve(fakes, "loans", captured(loan_rows(200, seed=2, shift=1.0)))
    # When the scheduled check runs
    (check,) = check_production_models(fakes.deps(), SETTINGS, NOW)
    # Then the dashboard shows the check: its verdict, its drifted columns and a link to its report
    section = next(s for s in index_of(fakes).models if s.model == "loans")
    assert section.production_version == 1 and len(section.drift) == 1
    point = section.drift[0]
    assert point.dataset_drift is check.dataset_drift is True
    assert point.drifted == check.drifted_features and point.drift_share == check.drift_share
    assert (
        point.report == "drift/loans/20261201T120000Z.html" and point.report in index_of(fakes).linked_keys()
    )
    # And the verdict is told in the drift check's own words (its explanation) and what happens next
    explanation = fakes.artifacts.json("drift/loans/20261201T120000Z.json")["explanation"]
    assert (point.headline, point.next) == (explanation["headline"], explanation["next"])
    page = fakes.artifacts.get_bytes(fakes.artifacts.uri(INDEX_HTML)).decode()
    assert "data-model='loans'" in page and escape(explanation["headline"]) in page


def test_open_incidents_are_listed_first_in_words(fakes: FakePorts, loans: ModelSpec) -> None:
    # Given a second model, "aardvark" (first by name), and loans serving shifted traffic
    register_model(fakes, LOANS_SPEC.replace("name: loans", "name: aardvark"))
    serve(fakes, "loans", captured(loan_rows(200, seed=2, shift=1.0)))
    # When the scheduled check opens loans' drift incident
    check_production_models(fakes.deps(), SETTINGS, NOW)
    publish_dashboard(fakes.deps())
    # Then the index lists loans first, with its open incident: kind, since when, last announced, in words
    dashboard = index_of(fakes)
    assert [s.model for s in dashboard.models] == ["loans", "aardvark"]
    (incident,) = dashboard.models[0].incidents
    assert (incident.kind, incident.severity, incident.since, incident.announcements) == (
        "drift",
        "medium",
        NOW.isoformat(),
        1,
    )
    assert incident.words == (
        "drift in loans (v1, severity medium), open since 2026-12-01 12:00 UTC; announced once, last "
        "2026-12-01 12:00 UTC: drifted: debt_ratio, income"
    )
    # And the page opens with them, before the overview of every model
    page = fakes.artifacts.get_bytes(fakes.artifacts.uri(INDEX_HTML)).decode()
    assert page.index("Open incidents") < page.index(escape(incident.words)) < page.index("last drift check")


def test_one_models_regeneration_keeps_the_others_sections_and_reads_each_check_once(
    fakes: FakePorts, loans: ModelSpec
) -> None:
    # Given a dashboard with loans and a second model, each published once
    other = register_model(fakes, LOANS_SPEC.replace("name: loans", "name: other"))
    put_in_production(fakes, other, reference_bytes(other, loan_rows(50, seed=3)))
    publish_dashboard(fakes.deps())
    loans_built = next(s for s in index_of(fakes).models if s.model == "loans").built_at
    fakes.artifacts.put_json("drift/other/20261201T120000Z.json", {"status": "ok", "drift_share": 0.25})
    publish_dashboard(fakes.deps(), "other")
    # When the stored check of `other` is rewritten and `other` is regenerated again
    fakes.artifacts.put_json("drift/other/20261201T120000Z.json", {"status": "ok", "drift_share": 0.75})
    publish_dashboard(fakes.deps(), "other")
    # Then the index still has both models; loans' section was not rebuilt
    dashboard = index_of(fakes)
    assert [s.model for s in dashboard.models] == ["loans", "other"]
    assert dashboard.models[0].built_at == loans_built
    # And the check already shown was not read again (a stored check does not change)
    assert [p.drift_share for p in dashboard.models[1].drift] == [0.25]
    # And the primary metric is the spec's, read once and kept with the spec's hash
    assert (dashboard.models[1].metric, dashboard.models[1].spec_sha256) == (other.metric.value, other.sha256)


def test_two_regenerations_at_once_both_land_in_the_index_and_the_page(
    fakes: FakePorts, loans: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a second model, and the dashboard published once
    other = register_model(fakes, LOANS_SPEC.replace("name: loans", "name: other"))
    put_in_production(fakes, other, reference_bytes(other, loan_rows(50, seed=3)))
    publish_dashboard(fakes.deps())
    fakes.artifacts.put_json("drift/loans/20261201T120000Z.json", {"status": "ok", "drift_share": 0.5})
    fakes.artifacts.put_json("drift/other/20261201T120000Z.json", {"status": "ok", "drift_share": 0.25})
    # And `other`'s regeneration lands between the moment loans' regeneration reads the index and the
    # moment it writes it (two executions deciding at once)
    read = fakes.artifacts.get_with_etag
    raced: list[str] = []

    def read_then_another_writes(key: str) -> tuple[bytes, str]:
        found = read(key)
        if not raced:
            raced.append(key)
            publish_dashboard(fakes.deps(), "other")
        return found

    monkeypatch.setattr(fakes.artifacts, "get_with_etag", read_then_another_writes)
    # When loans' regeneration writes
    publish_dashboard(fakes.deps(), "loans")
    # Then neither lost its update: the index and the page show both new checks
    shares = {s.model: [p.drift_share for p in s.drift] for s in index_of(fakes).models}
    assert raced and shares == {"loans": [0.5], "other": [0.25]}
    page = fakes.artifacts.get_bytes(fakes.artifacts.uri(INDEX_HTML)).decode()
    assert page.count("drift/loans/20261201T120000Z.html") >= 1
    assert page.count("drift/other/20261201T120000Z.html") >= 1


def test_a_failed_regeneration_is_counted_and_never_raises(
    fakes: FakePorts, loans: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an artifact bucket that refuses writes
    def refuse(*_: object, **__: object) -> None:
        raise StackError("s3 is down", code="ServiceUnavailable")

    monkeypatch.setattr(fakes.artifacts, "put_json_if_unchanged", refuse)
    # When the dashboard is refreshed after a decision / Then the caller goes on; the failure is
    # reported for the entry point to count (DashboardFailures)
    assert refresh_dashboard(fakes.deps(), "loans") is None
    assert fakes.outcomes.counted == ["dashboard_failure"]


def test_only_the_pages_the_dashboard_links_are_served(fakes: FakePorts, loans: ModelSpec) -> None:
    serve(fakes, "loans", captured(loan_rows(200, seed=2)))
    check_production_models(fakes.deps(), SETTINGS, NOW)
    # A linked drift report is served
    assert b"<html" in linked_page(fakes.artifacts, "drift/loans/20261201T120000Z.html")
    # Any other key is refused, even one that exists
    for key in ("drift/loans/20261201T120000Z.json", "models/loans/1/model.onnx", "dashboard/index.json"):
        with pytest.raises(ArtifactNotFound):
            linked_page(fakes.artifacts, key)
