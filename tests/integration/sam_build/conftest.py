"""`sam build` of template.yaml, once per pytest session, and the bundles Lambda would assemble from it:
each function's built folder with its layers' python/ folders (/opt/python).

`make check-build` runs this folder on .aws-sam/build (SLUICE_BUILD_DIR) instead of building anew."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sluice.tools.local.template import SERVERLESS_FUNCTION, load_sam

ROOT = Path(__file__).resolve().parents[3]
BUILD_DIR_ENV = "SLUICE_BUILD_DIR"


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder `sam build` wrote: SLUICE_BUILD_DIR when set, else a fresh build in a temporary folder
    (slow: one per session, shared by every module here)."""
    if os.environ.get(BUILD_DIR_ENV):  # make check-build: the build `make build` made
        built = Path(os.environ[BUILD_DIR_ENV]).resolve()
        assert (built / "template.yaml").is_file(), f"{built}: no sam build output (run make build)"
        return built
    out = tmp_path_factory.mktemp("sam") / "build"
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "sam"),
            "build",
            "--no-cached",
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def layers_of(sam: dict[str, Any], props: dict[str, Any]) -> list[str]:
    shared = sam.get("Globals", {}).get("Function", {}).get("Layers", [])
    return [ref["Ref"] for ref in [*shared, *props.get("Layers", [])]]


def bundles(build: Path) -> dict[str, list[Path]]:
    """Function logical id -> its built folder and its layers' python/ folders, in layer order."""
    sam = load_sam(ROOT / "template.yaml")
    return {
        name: [build / name, *(build / layer / "python" for layer in layers_of(sam, r["Properties"]))]
        for name, r in sam["Resources"].items()
        if r["Type"] == SERVERLESS_FUNCTION
    }
