"""The dashboard page opened in headless Chromium: it renders its charts, and the numbers Chromium's DOM
holds are the ones the page was given. docs/dashboard.png, in docs/concepts/monitoring.md, is a copy of its screenshot.

Needs Debian's chromium (`make browser-deps`), like test_drift_report_browser.py."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from sluice.domain.registry.dashboard import (
    AuditRow,
    Dashboard,
    DriftPoint,
    Fairness,
    ModelSection,
    RolloutView,
    VersionRow,
)
from sluice.domain.reports.dashboard_html import DRIFTED_COLOUR, render_dashboard
from tests.unit.domain.test_drift_report_browser import (
    chromium,
    pixels_of,
    read_png,
    require_chromium,
)

COLUMNS = ("income", "age", "debt_ratio", "segment")


def credit_risk() -> ModelSection:
    """A model a few weeks into production: four versions, twelve drift checks (income drifting in the
    last four, labels arriving from the third), a canary running."""
    checks = []
    for i in range(12):
        drifting = i >= 8
        checks.append(
            DriftPoint(
                at=f"202612{i + 1:02d}T060000Z",
                version=3 if i < 10 else 4,
                status="ok",
                dataset_drift=drifting and i != 11,
                drift_share=0.5 if drifting and i != 11 else 0.25 if drifting else 0.0,
                scores={c: (0.001 if c == "income" and drifting else 0.3 + 0.05 * (i % 3)) for c in COLUMNS},
                column_drifted={c: c == "income" and drifting for c in COLUMNS}
                | {"segment": drifting and i != 11},
                live_metric=None if i < 2 else round(0.83 - 0.012 * max(0, i - 7) + 0.003 * (i % 2), 4),
                labelled_rows=None if i < 2 else 40 * i,
                headline=(
                    "income: median fell from 48,000 to 31,000 (−35%); segment: sme rose from 30% to 61% of requests"
                    if drifting
                    else "No drift in 4 columns."
                ),
                next="retraining started (trigger drift)" if i == 10 else None,
                report=f"drift/credit-risk/202612{i + 1:02d}T060000Z.html",
            )
        )
    versions = [
        VersionRow(
            version=v,
            status=status,
            trigger=trigger,
            created_at=f"2026-11-{10 + 3 * v:02d}T09:00:00Z",
            metric=metric,
            reason=reason,
            fairness=Fairness(attribute="gender", demographic_parity_gap=gap, equal_opportunity_gap=gap / 2),
            card=f"models/credit-risk/{v}/card.html",
        )
        for v, status, trigger, metric, gap, reason in [
            (5, "candidate", "drift", 0.842, 0.031, "canary: 10% of requests since 06:00"),
            (
                4,
                "production",
                "drift",
                0.836,
                0.042,
                "passed its gates against version 3 on the same holdout",
            ),
            (3, "archived", "upload", 0.829, 0.058, "passed its gates against version 1 on the same holdout"),
            (
                2,
                "rejected",
                "upload",
                0.611,
                0.121,
                "gates failed: max_fairness_gap (value 0.121, limit 0.1)",
            ),
            (1, "archived", "upload", 0.804, 0.066, "first version to pass its gates"),
        ]
    ]
    events = [
        AuditRow(time="2026-12-11T06:01:00Z", type="rollout_started", version=5, reason="canary at 10%"),
        AuditRow(
            time="2026-12-11T05:00:00Z",
            type="promoted",
            from_version=3,
            to_version=4,
            reason=versions[1].reason,
        ),
        AuditRow(time="2026-12-10T06:00:05Z", type="training_started", reason="drift in income, segment"),
        AuditRow(time="2026-11-20T09:10:00Z", type="rejected", version=2, reason=versions[3].reason),
    ]
    return ModelSection(
        model="credit-risk",
        built_at="2026-12-12T06:00:00Z",
        metric="roc_auc",
        production_version=4,
        rollout=RolloutView(mode="canary", version=5, weight=0.1, status="running"),
        versions=versions,
        last_training=versions[0],
        drift=checks,
        events=events,
    )


def house_prices() -> ModelSection:
    version = VersionRow(
        version=1,
        status="production",
        trigger="upload",
        created_at="2026-12-01T09:00:00Z",
        metric=24_180.5,
        reason="first version to pass its gates",
        card="models/house-prices/1/card.html",
    )
    check = DriftPoint(
        at="20261212T060000Z",
        version=1,
        status="ok",
        dataset_drift=False,
        drift_share=0.0,
        scores={"rooms": 0.61, "area": 0.44},
        column_drifted={"rooms": False, "area": False},
        headline="No drift in 2 columns.",
        report="drift/house-prices/20261212T060000Z.html",
    )
    return ModelSection(
        model="house-prices",
        built_at="2026-12-12T06:00:00Z",
        metric="rmse",
        production_version=1,
        versions=[version],
        last_training=version,
        drift=[check],
        events=[AuditRow(time="2026-12-01T09:05:00Z", type="promoted", to_version=1, reason=version.reason)],
    )


def chart_values(dom: str, chart: str) -> list[float]:
    svg = re.search(rf'<svg[^>]*data-chart="{re.escape(chart)}".*?</svg>', dom, re.S)
    assert svg, f"no chart {chart} in the DOM"
    return [float(v) for v in re.findall(r'<circle[^>]*data-value="([^"]+)"', svg.group(0))]


@pytest.mark.browser
def test_the_dashboard_renders_in_chromium_and_its_dom_holds_the_numbers_it_was_given(tmp_path: Path) -> None:
    require_chromium()
    # Given a deployment of two models, written as a folder with every linked page present
    dashboard = Dashboard(generated_at="2026-12-12T06:00:02Z", models=[credit_risk(), house_prices()])
    for key in dashboard.linked_keys():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_text(f"<html><body>{key}</body></html>")
    index = tmp_path / "index.html"
    index.write_text(render_dashboard(dashboard, lambda key: key), encoding="utf-8")
    screenshot = tmp_path / "dashboard.png"
    # When headless Chromium prints the DOM and takes a screenshot (one run, no network)
    shown = chromium(
        tmp_path, "--dump-dom", f"--screenshot={screenshot}", "--window-size=1200,1500", index.as_uri()
    )
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")[-2000:]
    dom = shown.stdout.decode()
    # Then the charts drew: drifted cells in red are on screen
    image = read_png(screenshot.read_bytes())
    assert pixels_of(image, DRIFTED_COLOUR) > 200
    print(f"\nscreenshot {screenshot} (the docs' is a copy: docs/dashboard.png)")
    # And the DOM holds the numbers given: live metric (checks without labels left out), drift share,
    # fairness and holdout metric per version, oldest first
    model = credit_risk()
    live = [p.live_metric for p in model.drift if p.live_metric is not None]
    assert chart_values(dom, "credit-risk:live_metric") == live
    assert chart_values(dom, "credit-risk:drift_share") == [p.drift_share for p in model.drift]
    oldest_first = list(reversed(model.versions))
    gaps = [v.fairness.demographic_parity_gap for v in oldest_first if v.fairness]
    assert chart_values(dom, "credit-risk:fairness") == gaps
    assert chart_values(dom, "credit-risk:metric") == [v.metric for v in oldest_first]
    assert chart_values(dom, "house-prices:metric") == [24_180.5]
    # And each column's strip has one cell per check, red exactly where the column drifted
    strip = re.search(r'<svg[^>]*data-chart="credit-risk:column:income".*?</svg>', dom, re.S)
    assert strip is not None
    flags = re.findall(r'data-drifted="(true|false)"', strip.group(0))
    assert flags == ["true" if p.column_drifted["income"] else "false" for p in model.drift]
    # And the production versions are the ones given
    assert re.findall(r'data-model="([^"]+)" data-production-version="(\d+)"', dom) == [
        ("credit-risk", "4"),
        ("house-prices", "1"),
    ]
    assert all(math.isfinite(v) for v in live)
