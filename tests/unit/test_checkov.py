"""checkov accepts template.yaml and the CloudFormation SAM translates it to: every failed check is
fixed, or skipped in template.yaml's own Metadata with a reason a reviewer can read.

The two scans (marked lint) run in `make lint`, not in `make test`: CI runs both targets, so once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sluice.tools.local.template import load_sam, translate_for_scan

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"  # `make install tools` (checkov's pins need a venv)


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """checkov's passed, failed and skipped checks on the raw template and on the translated one, by name
    (one checkov process scans both files)."""
    assert CHECKOV.exists(), "checkov is missing: run `make tools`"
    out = tmp_path_factory.mktemp("checkov")
    translated = out / "template.cfn.json"
    translated.write_text(json.dumps(translate_for_scan(ROOT / "template.yaml")))
    files = {"raw": ROOT / "template.yaml", "translated": translated}
    command = [str(CHECKOV), "--skip-download", "--framework", "cloudformation", "-o", "json"]
    for path in files.values():
        command += ["-f", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=out)
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    results = (report[0] if isinstance(report, list) else report)["results"]
    kinds = ("passed_checks", "failed_checks", "skipped_checks")
    return {
        name: {
            kind: [r for r in results[kind] if Path(r["file_abs_path"]).resolve() == path.resolve()]
            for kind in kinds
        }
        for name, path in files.items()
    }


@pytest.mark.lint
@pytest.mark.parametrize("which", ["raw", "translated"])
def test_checkov_finds_no_failed_check(scan: dict[str, dict[str, list[dict[str, Any]]]], which: str) -> None:
    # Given checkov's report on the template (raw, or as SAM translates it)
    report = scan[which]
    # Then nothing failed, checks did run, and the skips are the template's own
    failed = [(f["check_id"], f["resource"]) for f in report["failed_checks"]]
    assert failed == []
    assert len(report["passed_checks"]) > 50
    skipped = report["skipped_checks"]
    assert skipped, "the template's Metadata skips were not seen"
    assert all(s["check_result"].get("suppress_comment", "").strip() for s in skipped)


@pytest.mark.lint
def test_the_translated_scan_covers_what_sam_generates(
    scan: dict[str, dict[str, list[dict[str, Any]]]],
) -> None:
    # Given the report on the translated template
    results = scan["translated"]
    seen = {r["resource"] for kind in ("passed_checks", "skipped_checks") for r in results[kind]}
    # Then the API stage, the alias-invoking function and the generated roles were checked
    assert "AWS::ApiGateway::Stage.PredictionApiv1Stage" in seen
    assert "AWS::Lambda::Function.PredictFunction" in seen
    assert "AWS::IAM::Role.PredictFunctionRole" in seen
    assert "AWS::ApiGateway::Stage.PredictionApiv1Stage" in {
        r["resource"] for r in results["passed_checks"] if r["check_id"] == "CKV_AWS_76"
    }, "API access logging is not on"


def test_every_checkov_skip_names_a_check_and_gives_a_one_line_reason() -> None:
    # Given every skip written in template.yaml
    skips = [
        (name, skip)
        for name, resource in load_sam(ROOT / "template.yaml")["Resources"].items()
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    # Then each names a check and says why in one line a reviewer can read
    for name, skip in skips:
        assert str(skip["id"]).startswith("CKV_"), name
        comment = str(skip.get("comment", ""))
        assert 20 <= len(comment) <= 140 and "\n" not in comment, (name, skip)
