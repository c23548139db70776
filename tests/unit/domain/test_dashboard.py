"""The dashboard's data (what a drift document, versions and audit events become) and its page (links
through the given function, numbers in data- attributes, no scripts)."""

from __future__ import annotations

import re
from typing import Any

from sluice.domain.registry.dashboard import (
    AuditRow,
    Dashboard,
    DriftPoint,
    Fairness,
    ModelSection,
    RolloutView,
    VersionRow,
    audit_rows,
    drift_at,
    drift_point,
    last_training,
    with_reasons,
)
from sluice.domain.registry.records import AuditEvent, EventType
from sluice.domain.reports.dashboard_html import render_dashboard


def drift_document(**extra: Any) -> dict[str, Any]:
    """A drift check's stored document as app/monitoring/check.py writes it (the fields the dashboard reads)."""
    return {
        "model": "loans",
        "version": 3,
        "status": "ok",
        "dataset_drift": True,
        "drift_share": 0.5,
        "features": {
            "income": {"score": 0.001, "drifted": True},
            "age": {"score": 0.4, "drifted": False},
        },
        "live_metric": {"accuracy": 0.71, "roc_auc": 0.77, "labelled_rows": 120},
    } | extra


def test_a_drift_document_without_explanation_is_summarised_from_its_verdict() -> None:
    # When a document written before explanations existed becomes a point
    point = drift_point(drift_document(), "20261202T120000Z", "drift/loans/20261202T120000Z.html", "roc_auc")
    # Then it keeps each column's score and verdict, the primary live metric and its labelled rows
    assert point.scores == {"income": 0.001, "age": 0.4}
    assert point.column_drifted == {"income": True, "age": False}
    assert (point.live_metric, point.labelled_rows, point.version) == (0.77, 120, 3)
    # And its headline says what drifted, with nothing stated about what comes next
    assert point.headline == "Drift: 1 of 2 columns drifted (income), share 50%."
    assert point.next is None


def test_a_drift_documents_explanation_gives_the_headline_and_the_next_step() -> None:
    explanation: dict[str, Any] = {
        "headline": "income: median fell from 48,000 to 31,000 (−35%)",
        "columns": {"income": "…"},
        "predictions": None,
        "next": "retraining started",
        "actions": [],
    }
    point = drift_point(drift_document(explanation=explanation), "t", None, "accuracy")
    assert point.headline == explanation["headline"] and point.next == "retraining started"
    # And the live metric is the one asked for (accuracy here), not the first measured
    assert point.live_metric == 0.71


def test_a_drift_documents_estimate_of_the_primary_metric_and_its_band_are_read() -> None:
    estimated = {
        "accuracy": 0.7,
        "roc_auc": 0.74,
        "rows": 200,
        "band": {"accuracy": [0.6, 0.8], "roc_auc": [0.7, 0.78]},
    }
    point = drift_point(drift_document(estimated=estimated), "t", None, "roc_auc")
    assert (point.estimated_metric, point.estimated_band) == (0.74, [0.7, 0.78])
    # A check of a version trained before estimation existed has none
    assert drift_point(drift_document(estimated=None), "t", None, "roc_auc").estimated_metric is None


def test_a_check_without_enough_rows_says_so_and_a_document_without_labels_has_no_live_metric() -> None:
    document = drift_document(status="insufficient_data", message="only 3 rows", live_metric=None)
    point = drift_point(document, "t", None, "roc_auc")
    assert (point.headline, point.live_metric, point.labelled_rows) == ("only 3 rows", None, None)
    assert drift_at("drift/loans/20261202T120000Z.json") == "20261202T120000Z"


def event(kind: EventType, time: str, reason: str | None = None, **fields: Any) -> AuditEvent:
    return AuditEvent(model="loans", type=kind, time=time, id=time[-6:], reason=reason, **fields)


def row(version: int, status: str, reason: str | None = None) -> VersionRow:
    return VersionRow(version=version, status=status, trigger="upload", created_at="2026", reason=reason)


def test_versions_take_the_reason_of_their_newest_decision_and_the_last_training_is_the_newest_decided() -> (
    None
):
    events = [
        event(EventType.PROMOTED, "2026-01-01T00:00:01Z", "first version to pass its gates", to_version=1),
        event(EventType.ROLLED_BACK, "2026-01-03T00:00:01Z", "rollback", from_version=2, to_version=1),
        event(EventType.PROMOTED, "2026-01-02T00:00:01Z", "passed its gates against version 1", to_version=2),
    ]
    rows = [row(3, "training"), row(2, "archived"), row(1, "production"), row(0, "rejected", "gates failed")]
    explained = with_reasons(rows, events)
    # Then a promoted version shows its promotion's reason, a rejected one keeps its own
    assert [r.reason for r in explained] == [
        None,
        "passed its gates against version 1",
        "first version to pass its gates",
        "gates failed",
    ]
    # And the last training is version 2 (version 3 is still training)
    last = last_training(explained)
    assert last is not None and last.version == 2


def test_the_audit_log_is_newest_first_and_bounded() -> None:
    events = [event(EventType.TRAINING_STARTED, f"2026-01-01T00:00:{s:02d}Z") for s in range(40)]
    rows = audit_rows(events, limit=5)
    assert [r.time[-3:-1] for r in rows] == ["39", "38", "37", "36", "35"]


def test_the_audit_log_shows_who_acted_and_their_note() -> None:
    # Given a person's rollback (by their principal, with a note) after the state machine's promotion
    principal = "arn:aws:sts::123456789012:assumed-role/SluiceOperators/alice"
    events = [
        event(EventType.PROMOTED, "2026-01-01T00:00:01Z", "first version to pass its gates", to_version=1),
        event(EventType.ROLLED_BACK, "2026-01-02T00:00:01Z", "rollback", by=principal, note="INC-7 <b>"),
    ]
    # When the audit log is built and rendered
    rows = audit_rows(events)
    html = render_dashboard(
        Dashboard(generated_at="2026", models=[section().model_copy(update={"events": rows})]), lambda k: k
    )
    # Then the person's row names them and their note (escaped), the state machine's names nobody
    assert [(r.by, r.note) for r in rows] == [(principal, "INC-7 <b>"), (None, None)]
    assert "<th>by</th><th>note</th>" in html
    assert f"<td>{principal}</td><td>INC-7 &lt;b&gt;</td>" in html


def section(model: str = "loans") -> ModelSection:
    return ModelSection(
        model=model,
        built_at="2026-12-02T12:00:00Z",
        metric="roc_auc",
        production_version=2,
        rollout=RolloutView(mode="canary", version=3, weight=0.1, status="running"),
        versions=[
            VersionRow(
                version=2,
                status="production",
                trigger="drift",
                created_at="2026-12-02T11:00:00Z",
                metric=0.81,
                fairness=Fairness(attribute="gender", demographic_parity_gap=0.04),
                card=f"models/{model}/2/card.html",
            ),
            VersionRow(
                version=1,
                status="archived",
                trigger="upload",
                created_at="2026-12-01T11:00:00Z",
                metric=0.78,
                fairness=Fairness(attribute="gender", demographic_parity_gap=0.09),
                card=f"models/{model}/1/card.html",
            ),
        ],
        drift=[
            DriftPoint(
                at=f"20261202T1{i}0000Z",
                version=2,
                status="ok",
                dataset_drift=i == 2,
                drift_share=share,
                scores={"income": 0.2 / (i + 1), "age": 0.5},
                column_drifted={"income": i == 2, "age": False},
                live_metric=live,
                estimated_metric=estimated,
                estimated_band=None if estimated is None else [estimated - 0.05, estimated + 0.05],
                headline="Drift: 1 of 2 columns drifted (income), share 50%." if i == 2 else "No drift.",
                next="retraining started" if i == 2 else None,
                report=f"drift/{model}/20261202T1{i}0000Z.html",
            )
            for i, (share, live, estimated) in enumerate(
                [(0.0, 0.8, None), (0.0, None, 0.76), (0.5, 0.72, 0.7)]
            )
        ],
        events=[AuditRow(time="2026-12-02T11:00:00Z", type="promoted", from_version=1, to_version=2)],
    )


def test_the_page_links_through_the_given_function_and_holds_the_charted_numbers() -> None:
    # Given a model with two versions, three drift checks (one without labels) and a canary
    dashboard = Dashboard(generated_at="2026-12-02T12:00:00Z", models=[section()])
    # When it is rendered with links to an API prefix
    html = render_dashboard(dashboard, lambda key: f"dashboard/{key}")
    # Then every page link goes through the function, to exactly the keys the dashboard links
    hrefs = set(re.findall(r"href='([^'#]+)'", html))
    assert hrefs == {f"dashboard/{key}" for key in dashboard.linked_keys()}
    assert (
        "dashboard/models/loans/2/card.html" in hrefs
        and "dashboard/drift/loans/20261202T120000Z.html" in hrefs
    )

    # And the charts hold the numbers: live metric (the unlabelled check left out), drift share, fairness
    def values(chart: str) -> list[float]:
        svg = re.search(rf"<svg[^>]*data-chart='{chart}'.*?</svg>", html)
        assert svg, chart
        return [float(v) for v in re.findall(r"<circle[^>]*data-value='([^']+)'", svg.group(0))]

    assert values("loans:live_metric") == [0.8, 0.72]
    # and the metric estimated without labels (the check before estimation left out), the last band said
    assert values("loans:estimated_metric") == [0.76, 0.7]
    assert "estimated per check without labels (last: 0.65–0.75, ±3 sampling errors)" in html
    assert values("loans:drift_share") == [0.0, 0.0, 0.5]
    assert values("loans:fairness") == [0.09, 0.04]  # oldest version first
    assert values("loans:metric") == [0.78, 0.81]
    # And the last verdict shows its headline and next step; the rollout is stated
    assert "retraining started" in html and "canary of v3 at 10%" in html
    assert "data-production-version='2'" in html
    # And nothing runs or is fetched: no script, no external address
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_an_empty_deployment_renders_a_page_that_says_so() -> None:
    html = render_dashboard(Dashboard(generated_at="now"), lambda key: key)
    assert "No models yet" in html and "<svg" not in html
