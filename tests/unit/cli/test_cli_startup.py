"""Every `sluice` command builds the whole parser first: building it must not import the heavy libraries
only some commands need (scikit-learn for `train`, scipy for `drift`, ONNX Runtime for serving)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("scipy", "sklearn", "onnxruntime", "skl2onnx", "onnx")


def test_building_the_sluice_parser_imports_no_heavy_library() -> None:
    # Given a fresh interpreter
    code = (
        "import json, sys\n"
        "from sluice.tools.cli import build_parser\n"
        "parser = build_parser()\n"
        "commands = parser._subparsers._group_actions[0].choices\n"
        f"print(json.dumps({{'loaded': [m for m in {HEAVY!r} if m in sys.modules], 'commands': sorted(commands)}}))\n"
    )
    # When it builds the parser with every command registered
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    facts = json.loads(result.stdout.splitlines()[-1])
    # Then the commands are all there, and none of the heavy libraries was imported
    assert {"drift", "train", "validate", "models", "predict", "local", "demo"} <= set(facts["commands"])
    assert facts["loaded"] == []
