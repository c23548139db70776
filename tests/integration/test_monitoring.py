"""The fleet's scheduled check on the local stack: DriftSchedule starts MonitoringStateMachine, whose Map
checks every production model in an invocation of its own, at once; one model's failure is reported as
that model's error (its check, DriftCheckErrors) while the others get their reports, then the dashboard is
published once.

A stack of its own, so that the fleet is exactly the twelve models trained here. Cheapest honest setup:
twelve real trainings (ingest → TrainAndPromote), each of 300 rows with logistic regression, the specs
and then the datasets uploaded together so the trainings run side by side."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator

import pytest

from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.registry.store import Registry
from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from sluice.tools.local.in_process import in_process_stack
from sluice.tools.local.stack import LocalStack
from tests.integration.conftest import ROOT, TEST_ENV, spec_text
from tests.integration.live_rollout import instances_and_labels
from tests.integration.test_dashboard_metrics import api_event

FLEET = [f"fleet-{n:02d}" for n in range(12)]
BROKEN = "fleet-07"
SERVED = "fleet-00"  # the one model with traffic: 3 flushes, so its window holds 3 capture objects


def fast_spec(model: str) -> bytes:
    """The tests' credit-risk spec under `model`'s name, trained with logistic regression (fast)."""
    text = spec_text(model)
    return re.sub(r"algorithm: .*", "algorithm: {name: logistic_regression, params: {}}", text).encode()


@pytest.fixture(scope="module")
def fleet() -> Iterator[LocalStack]:
    """A stack with the twelve models of FLEET trained and in production (version 1)."""
    # every capture object a partition of its own (an object larger than the limit is a partition alone)
    overrides = {
        **TEST_ENV,
        "DriftFunction": {**TEST_ENV.get("DriftFunction", {}), "DRIFT_PARTITION_BYTES": "1"},
    }
    with in_process_stack(ROOT, stack_name="sluice-fleet", env_overrides=overrides) as stack:
        s3, raw = stack.client("s3"), stack.outputs["RawBucketName"]
        for model in FLEET:
            s3.put_object(Bucket=raw, Key=f"{model}/spec.yaml", Body=fast_spec(model))
        stack.wait_for_executions()
        for seed, model in enumerate(FLEET):
            data = to_csv_bytes(credit_risk(rows=300, seed=600 + seed))
            s3.put_object(Bucket=raw, Key=f"{model}/data/first.csv", Body=data)
        assert {e["status"] for e in stack.wait_for_executions()} == {"SUCCEEDED"}
        for round_ in range(3):
            instances, _ = instances_and_labels(credit_risk(60, seed=700 + round_, shift=1.0))
            served = stack.invoke(
                "PredictFunction", api_event("api-predict", SERVED, {"instances": instances})
            )
            assert served.payload["statusCode"] == 200, served.payload
            stack.flush_streams()
        yield stack


def emitted_sum(log: str, metric: str) -> float:
    """The sum of `metric`'s values over the EMF lines of a function's log."""
    total = 0.0
    for line in log.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            value = json.loads(line).get(metric, 0.0)
            total += sum(value) if isinstance(value, list) else value
    return total


def test_one_scheduled_start_checks_twelve_models_each_on_its_own_and_reports_the_broken_one_as_its_error(
    fleet: LocalStack,
) -> None:
    registry = Registry(fleet.outputs["RegistryTableName"], fleet.client("dynamodb"))
    artifacts = ArtifactStore(fleet.outputs["ArtifactBucketName"], fleet.client("s3"))
    # Given twelve models in production, one of whose reference sample was overwritten (sha256 mismatch)
    assert all(alias and alias.version == 1 for alias in map(registry.get_alias, FLEET))
    reference = registry.get_version(BROKEN, 1).artifacts["reference"]
    bucket, key = reference.uri.removeprefix("s3://").split("/", 1)
    fleet.client("s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"income,age\n1,2\n"))
    logged = len(fleet.function_log("DriftFunction"))

    # When the schedule fires
    fired = fleet.fire_schedules()
    # Then it starts the monitoring state machine with {} (and invokes no function itself)
    assert fired.invocations == {} and set(fired.executions) == {"MonitoringStateMachine"}
    arn = fired.executions["MonitoringStateMachine"]
    assert arn.startswith(fleet.outputs["MonitoringStateMachineArn"].replace(":stateMachine:", ":execution:"))
    ended = fleet.execution_ended(arn)
    assert ended["status"] == "SUCCEEDED" and json.loads(ended["input"]) == {}
    output = ended["result"]
    assert sorted(m["model"] for m in output["models"]) == FLEET

    # And the broken model is reported as its error, naming the artifact, counted in DriftCheckErrors
    checks = {c["model"]: c for c in output["checked"]}
    assert sorted(checks) == FLEET
    broken = checks.pop(BROKEN)
    assert broken["status"] == "error" and broken["version"] == 1
    assert broken["error"].startswith("ArtifactCorrupt: ") and "reference.csv.gz" in broken["error"]
    assert emitted_sum(fleet.function_log("DriftFunction")[logged:], "DriftCheckErrors") == 1
    # And the eleven others get their reports, in S3; the served model's from its window split in three
    # partitions (a summary each, merged), the others' windows empty (no verdict, still a report)
    for model, check in checks.items():
        expected = ("ok", 180) if model == SERVED else ("insufficient_data", 0)
        assert (check["status"], check["window_rows"], check["error"]) == (*expected, None), model
        report = json.loads(artifacts.get_bytes(check["report_uri"]))
        assert (report["model"], report["version"]) == (model, 1)
        assert artifacts.get_bytes(check["html_uri"]).startswith(b"<!")
    assert checks[SERVED]["dataset_drift"] is True
    # And each model's part of the output stays small (the payload holds every model's: 256 KB), the
    # estimates and the multivariate verdict being in the report only
    assert all(len(json.dumps(c)) < 1024 for c in output["checked"])
    served_report = json.loads(artifacts.get_bytes(checks[SERVED]["report_uri"]))
    assert "estimated" not in checks[SERVED] and served_report["estimated"] is not None
    assert "multivariate" not in checks[SERVED] and served_report["multivariate"]["drift"] is True
    summaries = [k for k in artifacts.list_keys(f"monitoring/{SERVED}/v1/") if "/summaries/" in k]
    assert len(summaries) == 3
    # And each model was checked in a child execution of its own, MonitoringModelConcurrency (10) at once:
    # the list, then a plan per model, a summary per partition, a check per sound model, the broken one's
    # error, and the dashboard once
    sfn = fleet.client("stepfunctions")
    runs = [
        sfn.describe_map_run(mapRunArn=r["mapRunArn"]) for r in sfn.list_map_runs(executionArn=arn)["mapRuns"]
    ]
    (models_run,) = [r for r in runs if r["itemCounts"]["total"] == len(FLEET)]
    assert models_run["maxConcurrency"] == 10 and models_run["executionCounts"]["succeeded"] == len(FLEET)
    log = fleet.function_log("DriftFunction")[logged:]
    assert log.count("START RequestId: ") == 1 + 12 + 3 + 11 + 1 + 1
    # And the models were checked at the same time, within the Map's 10: at most nine models' single
    # invocations beside the served model's three partitions (a log cannot show it: each invocation's
    # lines are written together when it ends)
    assert 2 <= fleet.most_at_once("DriftFunction") <= 9 + 3

    # And the dashboard was published once, after the checks, with every model on it
    assert output["dashboard"].endswith(".json")
    dashboard = json.loads(artifacts.get_bytes(output["dashboard"]))
    assert sorted(m["model"] for m in dashboard["models"]) == FLEET
