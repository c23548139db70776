"""The registry dashboard as a folder people open offline: index.html, index.json and every page it
links (model cards, drift reports) under its artifact key, so each link is a relative path to a file.
Used by `sluice dashboard --out` and by the demo."""

from __future__ import annotations

import sys
from pathlib import Path

from sluice.app.ports import Artifacts
from sluice.domain.registry.dashboard import Dashboard
from sluice.domain.reports.dashboard_html import render_dashboard
from sluice.errors import ArtifactNotFound


def write_folder(artifacts: Artifacts, dashboard: Dashboard, out: Path) -> Path:
    """Write `dashboard` into `out` with copies of the pages it links; returns the path of index.html.
    A linked page missing from the bucket is reported on stderr (its link then leads nowhere)."""
    out.mkdir(parents=True, exist_ok=True)
    for key in sorted(dashboard.linked_keys()):
        target = out / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_bytes(artifacts.get_bytes(artifacts.uri(key)))
        except ArtifactNotFound:
            print(f"sluice: {key}: linked by the dashboard but missing from the bucket", file=sys.stderr)
    (out / "index.json").write_text(dashboard.model_dump_json(indent=2), encoding="utf-8")
    index = out / "index.html"
    index.write_text(render_dashboard(dashboard, lambda key: key), encoding="utf-8")
    return index
