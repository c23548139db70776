"""The reference libraries Sluice is compared with (shap, NannyML), run in their own venv (.venv-oracles,
`make oracles`): their pins clash with the project's, and neither may reach a Lambda bundle.

A test hands `run_oracle` a script and JSON-able inputs; the script reads them as `inputs` (a dict) and
sets `result` to something JSON-able, which the test gets back.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ORACLES_PYTHON = ROOT / ".venv-oracles" / "bin" / "python"

_PROLOGUE = "import json, sys\ninputs = json.loads(sys.stdin.read())\nresult = None\n"
_EPILOGUE = "\nsys.stdout.write('\\n@@RESULT@@' + json.dumps(result))\n"


def run_oracle(script: str, timeout: float = 600, **inputs: Any) -> Any:
    """Run `script` in the oracles' venv with `inputs` and return the `result` it set. Raises
    AssertionError with the script's stderr when it fails, and when the venv is missing (`make oracles`)."""
    assert ORACLES_PYTHON.exists(), f"{ORACLES_PYTHON} is missing: run `make oracles`"
    program = _PROLOGUE + textwrap.dedent(script) + _EPILOGUE
    done = subprocess.run(
        [str(ORACLES_PYTHON), "-c", program],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1",
            "NANNYML_DISABLE_USAGE_LOGGING": "1",
            "MPLBACKEND": "Agg",
        },
        check=False,
    )
    assert done.returncode == 0, f"the oracle failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])
