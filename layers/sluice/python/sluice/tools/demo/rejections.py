"""The concept-drift chapter's broken feed: requests from an upstream that dropped a column, each
answered with a 400 and counted by capture as a rejection; and the drift check's data quality in words."""

from __future__ import annotations

import json
from typing import Any

from sluice.tools.demo.driver import MODEL, Demo, DemoError

BROKEN_FEED_REQUESTS = 12  # beside the chapter's 50 requests of changed-world traffic


def send_from_a_broken_feed(demo: Demo, instances: list[dict[str, Any]], count: int) -> str:
    """`count` requests whose instance lacks the spec's first required feature: each must be a 400 naming
    it. The feature dropped."""
    dropped = next(f.name for f in demo.spec.features if not f.nullable)
    path = f"/models/{MODEL}/predict"
    for instance in instances[:count]:
        status, body = demo.api.post(
            path, {"instances": [{k: v for k, v in instance.items() if k != dropped}]}
        )
        if status != 400 or dropped not in {d.get("field") for d in body.get("details", [])}:
            raise DemoError(f"a request without {dropped!r} answered {status}: {body}")
    demo.progress.fact(
        f"{count} requests from a broken feed that dropped `{dropped}` → 400 each, naming it "
        "(capture counts every rejection; the next drift check reports them)"
    )
    return dropped


def print_data_quality(demo: Demo, check: dict[str, Any]) -> None:
    """The check's data quality, in the words of its report."""
    report = json.loads(demo.artifacts.get_bytes(check["report_uri"]))
    for sentence in (report.get("data_quality") or {}).get("summary", []):
        demo.progress.fact(f"  data quality: {sentence}")
