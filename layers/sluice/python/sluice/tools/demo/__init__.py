"""`sluice demo`: the whole loop told as a story on the local stack.

template.yaml is deployed into an embedded moto server, the prediction API is served over HTTP on
127.0.0.1 (like `sam local start-api`), and everything after that goes through the stack the way a
user would: uploads to the raw bucket, HTTP requests to the API, the scheduled drift check, the SNS
topic (read through a subscribed SQS queue) and the registry's rollback. Nothing here trains, scores or
decides by itself; it only drives the stack and reports what the stack did.

The story's steps are in `story` (its concept-drift and manual-approval chapters in `chapters`, the
concept-drift retraining's canary in `canary`), the stack plumbing they use in `driver`, the HTTP client
in `client` and what is reported and written in `summary`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO

from sluice.tools.demo.driver import DemoError, DemoPlan, Progress
from sluice.tools.demo.story import Address, run_story
from sluice.tools.demo.summary import LOG_FILE, DemoSummary, closing_lines, write_summary

__all__ = ["DemoError", "DemoPlan", "DemoSummary", "run_demo"]


def run_demo(
    root: Path,
    out: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4566,
    api_port: int = 3000,
    plan: DemoPlan | None = None,
    stream: IO[str],
) -> DemoSummary:
    """Run the whole story, printing its progress to `stream`; returns its summary (also written to
    `out`/summary.json). Raises DemoError when the stack did something the story cannot go on from."""
    progress = Progress(stream)
    out.mkdir(parents=True, exist_ok=True)
    with (out / LOG_FILE).open("w", encoding="utf-8") as log_file, contextlib.redirect_stderr(log_file):
        summary = run_story(root, out, plan or DemoPlan(), progress, Address(host, port, api_port))
    summary.duration_seconds = round(progress.elapsed(), 1)
    write_summary(summary, out)
    for line in closing_lines(summary, out):
        progress.say(line)
    return summary
