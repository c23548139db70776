"""Run a script in a fresh Python process beside the predict handler (as a Lambda environment would
start it) and read the JSON document it prints last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PREDICT_FUNCTION = ROOT / "functions" / "predict"
OPENAPI_EVENT = ROOT / "events" / "api-openapi.json"
# The variables PredictFunction's settings require (the template declares them; in Lambda, its init
# builds the deps from them)
PREDICT_VARIABLES = {
    "ARTIFACT_BUCKET": "artifacts",
    "REGISTRY_TABLE": "registry",
    "CAPTURE_STREAM": "capture",
    "FEEDBACK_STREAM": "feedback",
}


def run_child(code: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """`code` with FUNCTION and EVENT replaced by the predict function's folder and an events/ file,
    run with only `env` (plus PATH and a region); returns the last line it printed, as JSON."""
    script = code.replace("FUNCTION", repr(str(PREDICT_FUNCTION))).replace("EVENT", repr(str(OPENAPI_EVENT)))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", **env},
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document
