"""`sluice demo` end to end, as `make demo` runs it: a separate process that starts the local stack and
tells the whole story through it; the facts are read back from what it printed and wrote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice.tools.demo.driver import DemoPlan
from sluice.tools.local import free_port

ROOT = Path(__file__).resolve().parents[2]
SLUICE = str(Path(sys.executable).parent / "sluice")


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    printed: str
    errors: str
    out: Path
    api_port: int

    @property
    def summary(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.out / "summary.json").read_text(encoding="utf-8"))
        return document

    def version(self, number: int) -> dict[str, Any]:
        row: dict[str, Any] = next(v for v in self.summary["versions"] if v["version"] == number)
        return row


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    # Given a clean environment (no AWS settings) and two free ports
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # When `sluice demo` runs from the project folder, as `make demo` does
    completed = subprocess.run(
        [SLUICE, "demo", "--out", str(out), "--port", str(port), "--api-port", str(api_port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return DemoRun(completed.returncode, completed.stdout, completed.stderr, out, api_port)


def test_the_demo_finishes_and_prints_every_step_with_its_timing(demo: DemoRun) -> None:
    # Then it exits 0, numbers its ten steps, times each one, and measures the whole run
    assert demo.returncode == 0, demo.errors
    for step in range(1, 11):
        assert f"[{step}/10]" in demo.printed
    assert demo.printed.count("done in ") == 10
    assert demo.summary["duration_seconds"] > 0
    assert f"finished in {demo.summary['duration_seconds']:.1f} s" in demo.printed
    # and it served the API over HTTP on the port it was given
    assert demo.summary["api_url"] == f"http://127.0.0.1:{demo.api_port}"


def test_first_dataset_is_promoted_as_version_1_and_serves_the_first_requests(demo: DemoRun) -> None:
    # Then version 1 came from the first upload and was promoted with no champion before it
    v1 = demo.version(1)
    assert (v1["trigger"], v1["dataset"], v1["champion_version"]) == ("upload", "first.csv", None)
    assert v1["value"] >= 0.7
    promotions = [e for e in demo.summary["events"] if e["type"] == "promoted"]
    assert [(e["from_version"], e["to_version"]) for e in promotions][:2] == [(None, 1), (1, 2)]
    # and a few hundred requests went through the HTTP API, every one answered by version 1
    traffic = demo.summary["traffic"]
    assert traffic["requests"] >= 200
    assert traffic["by_version"] == {"1": traffic["requests"]}


def test_better_dataset_is_promoted_as_version_2_over_version_1(demo: DemoRun) -> None:
    # Then version 2, trained on more data, beat version 1 on the same holdout and was promoted
    v2 = demo.version(2)
    assert (v2["trigger"], v2["dataset"], v2["champion_version"]) == ("upload", "better.csv", 1)
    assert v2["failed_gates"] == []
    assert "v2: PRODUCTION" in demo.printed


def test_noisy_dataset_is_rejected_naming_the_failed_gate(demo: DemoRun) -> None:
    # Then version 3 (labels mostly random) was rejected, the failed gate named, production untouched
    v3 = demo.version(3)
    assert (v3["status"], v3["dataset"]) == ("rejected", "noisy.csv")
    gates = [g["gate"] for g in v3["failed_gates"]]
    assert "min_metric" in gates
    assert "min_metric" in (v3["reason"] or "")
    assert "v3: REJECTED" in demo.printed
    assert "failed gate min_metric" in demo.printed
    assert not any(e["type"] == "promoted" and e["to_version"] == 3 for e in demo.summary["events"])


def test_shifted_traffic_is_flagged_alerted_and_starts_exactly_one_retraining(demo: DemoRun) -> None:
    # Then the drift check on version 2's captured shifted traffic found dataset drift
    drift = demo.summary["drift"]
    assert demo.summary["shifted_traffic"]["by_version"] == {"2": demo.summary["shifted_traffic"]["requests"]}
    assert (drift["checked_version"], drift["status"], drift["dataset_drift"]) == (2, "ok", True)
    assert drift["rows"] == demo.summary["shifted_traffic"]["rows"]
    assert {"income", "debt_ratio", "segment"} <= set(drift["drifted_features"])
    # and the columns were judged together too, in words (the classifier's AUC against its threshold)
    assert re.search(r"in words: The columns together: .*\(ROC AUC 0\.\d+, drift above 0\.55\)", demo.printed)
    # and an alert reached the SQS queue subscribed to the SNS topic
    assert drift["alerted"] is True
    assert drift["alerts_received"] == ["Sluice: drift in credit-risk"]
    # and exactly one retraining ran, with trigger drift, and its outcome is recorded
    drift_runs = [e for e in demo.summary["executions"] if "-drift-" in e["name"]]
    assert [e["status"] for e in drift_runs] == ["SUCCEEDED"]
    retrained = [v for v in demo.summary["versions"] if v["trigger"] == "drift"]
    assert [v["version"] for v in retrained] == [drift["retrained_version"]]
    # (its status at the end is "archived": step 7 rolls it back; the outcome is its promotion over v2)
    promotions = [
        (e["from_version"], e["to_version"]) for e in demo.summary["events"] if e["type"] == "promoted"
    ]
    assert (2, drift["retrained_version"]) in promotions
    # on the latest accepted dataset, never the rejected noisy one, plus the shifted traffic labelled
    # through feedback (without it there is nothing new to learn from: no retraining), and passed the gates
    assert retrained[0]["dataset"] == "better.csv+traffic"
    assert drift["retrained_outcome"] == "production"
    started = [
        e for e in demo.summary["events"] if e["type"] == "training_started" and e["trigger"] == "drift"
    ]
    assert len(started) == 1


def test_rollback_serves_the_previous_version_through_the_api(demo: DemoRun) -> None:
    # Then the rollback went from the drift retraining's version back to version 2, which it replaced,
    # and the API answered with version 2 (the statuses are those right after the rollback: the later
    # chapters promote other versions)
    rollback = demo.summary["rollback"]
    retrained = demo.summary["drift"]["retrained_version"]
    assert (rollback["from_version"], rollback["to_version"]) == (retrained, 2)
    assert list(rollback["served_after"]) == ["2"] and rollback["served_after"]["2"] > 0
    assert rollback["statuses_after"]["2"] == "production"
    assert rollback["statuses_after"][str(retrained)] == "archived"
    assert [e["type"] for e in demo.summary["events"]].count("rolled_back") == 1
    rolled_back = next(e for e in demo.summary["events"] if e["type"] == "rolled_back")
    assert rolled_back["by"] == demo.summary["approval"]["approved_by"]  # the same STS principal


def test_the_summary_table_and_the_files_are_written_and_named(demo: DemoRun) -> None:
    # Then the summary table lists every version, the predictions sent and the drift verdict
    assert "version  status" in demo.printed
    for row in demo.summary["versions"]:
        assert f"v{row['version']:<7} {row['status']}" in demo.printed
    assert "predictions sent:" in demo.printed
    assert "drift on v2: DRIFT" in demo.printed
    # and every file it names exists in the output folder and is printed with its path
    files = demo.summary["files"]
    assert {"drift-report.html", "drift-report.json", "summary.json"} <= set(files)
    assert {f"credit-risk-v{n}-card.html" for n in (1, 2, 3)} <= set(files)
    for name in files:
        assert (demo.out / name).is_file()
        assert str(demo.out / name) in demo.printed
    # and it ends with the registry dashboard's path, a page that links every card and the drift report
    dashboard = demo.out / "dashboard" / "index.html"
    assert demo.printed.rstrip().splitlines()[-1] == f"dashboard: {dashboard}"
    assert dashboard.is_file() and "data-model='credit-risk'" in dashboard.read_text(encoding="utf-8")
    for n in (1, 2, 3):
        assert (demo.out / "dashboard" / "models" / "credit-risk" / str(n) / "card.html").is_file()


def test_model_cards_and_drift_report_are_html_with_charts(demo: DemoRun) -> None:
    # Then each model card and the drift report is a self-contained page with inline SVG charts
    pages = [name for name in demo.summary["files"] if name.endswith(".html")]
    for name in pages:
        html = (demo.out / name).read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>")
        assert "<svg" in html
        assert "<script" not in html
    card = (demo.out / "credit-risk-v3-card.html").read_text(encoding="utf-8")
    assert "min_metric" in card
    # and the JSON report carries the verdict the drift check printed
    report = json.loads((demo.out / "drift-report.json").read_text(encoding="utf-8"))
    assert (report["model"], report["version"], report["dataset_drift"]) == ("credit-risk", 2, True)


def test_concept_drift_shows_in_the_live_metric_and_its_estimate(demo: DemoRun) -> None:
    # Then the changed world's traffic was served by production (v2, after the rollback), part of it
    # labelled through feedback, and the drift check measured the live metric below its gate
    concept = demo.summary["concept"]
    before = concept["before"]
    assert before["version"] == 2
    assert 0 < concept["labels_sent"] < concept["rows"]
    # (v2 served step 6's shifted traffic too, and the labels of part of it came back then)
    assert before["labelled_rows"] == concept["labels_sent"] + DemoPlan().shifted_labels
    assert before["below_minimum"] is True
    assert before["metric"] < 0.7
    # and the estimate without labels was printed beside it, with how far it was from the truth
    assert before["estimated_accuracy"] is not None
    assert f"{before['estimated_accuracy'] - before['accuracy']:+.3f} from the labelled truth" in demo.printed
    # and the spec's roc_auc estimated with its band, beside the realized value on the labelled rows
    assert before["estimated_metric"] is not None
    assert re.search(
        rf"estimated roc_auc {before['estimated_metric']:.3f} \(\d\.\d{{3}}–\d\.\d{{3}}\) without labels on "
        rf"\d+ captured rows \(CBPE\); realized {before['metric']:.3f} on {before['labelled_rows']} labelled rows",
        demo.printed,
    )

    # and one of its requests was explained: what moved its probability, in words
    assert "one changed-world request explained (POST /explain, v2, exact)" in demo.printed
    assert "points" in demo.printed.split("one changed-world request explained")[1].splitlines()[1]


def test_the_broken_feeds_rejections_are_counted_by_the_next_drift_check(demo: DemoRun) -> None:
    # Then the requests of a feed that dropped a column were answered 400, and the drift check that
    # followed counted every one of them, naming the field
    dropped = re.search(r"12 requests from a broken feed that dropped `(\w+)` → 400 each", demo.printed)
    assert dropped is not None
    assert re.search(
        rf"data quality: \d+% of requests in the last (?:[\d.]+ hours|hour) were rejected \(12 of [\d,]+\), "
        rf"nearly all for a missing `{dropped.group(1)}`",
        demo.printed,
    )


def test_retraining_on_labelled_traffic_beats_production_on_the_recent_holdout_and_is_promoted(
    demo: DemoRun,
) -> None:
    # Then the retraining trained on the accepted upload plus the captured traffic joined with feedback
    concept = demo.summary["concept"]
    retrained = concept["retrained_version"]
    lineage = concept["dataset_lineage"]
    assert concept["dataset_kind"] == "retraining"
    assert "better.csv" in lineage and "captured traffic" in lineage and lineage.endswith("+ feedback")
    assert "noisy.csv" not in lineage
    assert demo.version(retrained)["dataset"] == "better.csv+traffic"
    # and it beat production (v2) on the recent holdout, which the gates counted
    assert concept["champion_version"] == 2
    assert concept["recent_holdout_counted"] is True
    assert concept["recent_holdout_rows"] >= 50
    assert concept["recent_score"] > concept["champion_recent_score"]
    # and it was promoted over v2
    assert concept["retrained_status"] == "production"
    promotions = [
        (e["from_version"], e["to_version"]) for e in demo.summary["events"] if e["type"] == "promoted"
    ]
    assert (2, retrained) in promotions


def test_the_retraining_answered_its_canary_share_of_requests_and_was_promoted_by_the_run(
    demo: DemoRun,
) -> None:
    # Then the retraining waited as a canary beside production (v2) on 20% of requests
    concept = demo.summary["concept"]
    canary = concept["canary"]
    retrained = concept["retrained_version"]
    assert (canary["version"], canary["production_version"]) == (retrained, 2)
    assert (canary["status_while_running"], canary["weight"]) == ("canary", 0.2)
    # and the share of requests it answered is within 4 sd of its weight for the requests sent
    sent, mine = canary["requests_sent"], canary["answered"][str(retrained)]
    assert canary["answered"] == {"2": sent - mine, str(retrained): mine}
    assert abs(mine / sent - 0.2) < 4 * (0.2 * 0.8 / sent) ** 0.5
    assert f"v{retrained} answered {mine} of {sent} requests" in demo.printed
    # and the run's comparison counted the requests each version answered, with no error
    assert canary["candidate"]["requests"] == mine >= canary["min_requests"]
    assert canary["production"]["requests"] == sent - mine
    assert (canary["candidate"]["error_rate"], canary["production"]["error_rate"]) == (0.0, 0.0)
    assert canary["decision"] == "promote"
    assert canary["reason"].startswith(f"promoted after {mine} requests in canary")
    assert (canary["status_after"], canary["production_after"]) == ("production", retrained)
    # and its audit trail has the rollout's start, then its promotion with the comparison's numbers
    events = canary["events"]
    types = [e["type"] for e in events]
    assert types.index("rollout_started") < types.index("promoted")
    started = next(e for e in events if e["type"] == "rollout_started")
    assert (started["details"]["mode"], started["details"]["weight"]) == ("canary", 0.2)
    assert started["from_version"] == 2
    promoted = next(e for e in events if e["type"] == "promoted")
    assert promoted["details"]["rollout"]["mode"] == "canary"
    assert promoted["details"]["rollout"]["candidate"]["requests"] == mine
    assert promoted["details"]["rollout"]["production"]["requests"] == sent - mine
    # and the comparison was printed, its page named and copied to the output folder
    assert f"decision: promote — {canary['reason']}" in demo.printed
    assert canary["report_html"] in demo.printed
    assert f"credit-risk-v{retrained}-rollout.html" in demo.summary["files"]


def test_live_accuracy_is_higher_after_the_retraining(demo: DemoRun) -> None:
    # Then the changed world's traffic served by the retrained version is more often right than before
    concept = demo.summary["concept"]
    before, after = concept["before"], concept["after"]
    assert after["version"] == concept["retrained_version"]
    assert after["labelled_rows"] > 0
    assert after["accuracy"] > before["accuracy"]
    assert "live after:" in demo.printed


def test_a_manual_rollout_waits_for_approval_then_promotes_and_audits_who(demo: DemoRun) -> None:
    # Then under the spec's manual rollout the upload's version waited, production unchanged
    approval = demo.summary["approval"]
    version = approval["version"]
    retrained = demo.summary["concept"]["retrained_version"]
    assert approval["status_while_waiting"] == "pending_approval"
    assert approval["production_while_waiting"] == retrained
    # and the SNS message said what to run
    assert approval["notification"] == f"Sluice: credit-risk version {version} waits for approval"
    assert approval["approve_command"] == f"sluice models approve credit-risk {version}"
    # and once approved, the run promoted it, and the audit trail names who approved
    assert (approval["status_after"], approval["production_after"]) == ("production", version)
    assert demo.version(version)["status"] == "production"
    types = [e["type"] for e in approval["events"]]
    assert types.index("approval_requested") < types.index("approved") < types.index("promoted")
    approved = next(e for e in approval["events"] if e["type"] == "approved")
    # (`by` is the principal STS answered for the demo's credentials, never a name; the name is a note)
    assert approved["by"] == approval["approved_by"]
    assert re.match(r"^arn:aws:(iam|sts)::\d{12}:\S+$", approved["by"]), approved["by"]
    assert approved["note"] == approval["approval_note"] == "demo-operator: checked the model card"
    promoted = next(e for e in approval["events"] if e["type"] == "promoted")
    assert (promoted["from_version"], promoted["to_version"]) == (retrained, version)
    assert all(e["status"] == "SUCCEEDED" for e in demo.summary["executions"])
