"""The CloudWatch dashboard on the local stack: moto's CloudFormation creates it with the stack's own
names, and every metric of Sluice's it graphs is one the code really prints, in EMF, with exactly that
dimension set (a graph on another set stays empty). The code runs with the template's environment, as
in Lambda, so what Powertools adds there (`service` on every metric) is in what it prints."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from sluice.domain.data.table import to_csv_bytes
from sluice.observability import NAMESPACE, emit_rollout_metrics, metrics
from sluice.tools.example_data import credit_risk
from sluice.tools.local.lambda_runtime.runtime import invocation_environment
from sluice.tools.local.template import SERVERLESS_FUNCTION, SERVERLESS_STATE_MACHINE
from tests.integration.conftest import ROOT, Stack, spec_text
from tests.integration.live_rollout import instances_and_labels
from tests.integration.served_traffic import api_event, scheduled_check, serve_and_label
from tests.unit.test_template_dashboard import RESOURCES, Series, dashboard_body, of_type, sluice_series

MODEL = "it-operations-metrics"
# No retraining, and traffic like the training data (no drift, so no alert): the drift check prints its
# metrics all the same, and leaves nothing running or queued for the modules after this one.
SPEC = spec_text(MODEL).replace("retrain_on_drift: true", "retrain_on_drift: false")
SHIPPED_CODE = [ROOT / "functions", ROOT / "layers" / "sluice" / "python" / "sluice"]
STREAM = "AWS::KinesisFirehose::DeliveryStream"


def printed_series(output: str) -> set[Series]:
    """The EMF series in what the code printed (functions' logs included): (namespace, metric,
    dimension names) of each `_aws.CloudWatchMetrics` directive (log lines and other output are
    skipped)."""
    series: set[Series] = set()
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    series.add((directive["Namespace"], metric["Name"], frozenset(dimensions)))
    return series


def counted_on_the_shared_metrics(folders: list[Path]) -> set[str]:
    """The metric names shipped code adds, as literals, to the one Powertools `metrics` object (whose
    flush at the end of each invocation is what carries the service dimension alone)."""
    names: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            if "tools" in path.relative_to(folder).parts or "add_metric" not in source:
                continue  # never shipped, or counts nothing
            for node in ast.walk(ast.parse(source)):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_metric"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "metrics"
                ):
                    names |= {
                        str(k.value.value)
                        for k in node.keywords
                        if k.arg == "name" and isinstance(k.value, ast.Constant)
                    }
    return names


def score_a_batch(stack: Stack) -> None:
    """A batch job over a small file with one bad row (BatchScoreFunction counts scored and rejected
    rows)."""
    batch = credit_risk(rows=20, seed=901)
    batch.columns["income"][3] = "abc"
    stack.upload(f"batch/{MODEL}/score.csv", to_csv_bytes(batch))
    batch_machine = stack.outputs["BatchStateMachineArn"]
    (job,) = [e for e in stack.settle() if e["stateMachineArn"] == batch_machine and MODEL in e["name"]]
    assert job["status"] == "SUCCEEDED", job


def serve_label_and_check_drift(stack: Stack) -> dict[str, Any]:
    """Requests, feedback on a third of their instances, then the scheduled drift check (which
    measures the live metric on the labelled rows). Returns one served instance."""
    instances, labels = instances_and_labels(credit_risk(150, seed=900))
    serve_and_label(stack, MODEL, instances, labels)
    check = scheduled_check(stack, MODEL)
    assert (check["status"], check["retraining"], check["alerted"]) == ("ok", None, False), check
    return instances[0]


def print_a_rollout_check(stack: Stack) -> None:
    """A rollout check's metrics, printed in the environment of the function that runs the check
    (EvaluateFunction, action check_rollout) and flushed as its handler would: a live rollout to
    check takes a whole canary run to set up."""
    configuration = stack.local.function_configuration("EvaluateFunction")
    variables = stack.local.function_environment("EvaluateFunction")
    environment = invocation_environment(
        configuration, variables, region=stack.local.region, endpoint_url=None
    )
    with mock.patch.dict(os.environ, environment):
        tally = {"RolloutRequests": 50.0, "RolloutErrorRate": 0.0, "RolloutLatencyP99": 12.0}
        emit_rollout_metrics(MODEL, False, {"candidate": tally, "production": tally})
        metrics.flush_metrics()


def serve_a_corrupted_model(stack: Stack, model_uri: str, instance: dict[str, Any]) -> None:
    """A request to a new execution environment while the model file fails its sha256 check; the
    promoted file is put back afterwards."""
    s3 = stack.client("s3")
    bucket, key = model_uri.removeprefix("s3://").split("/", 1)
    promoted = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=b"not the promoted model")
    try:
        stack.local.recycle("PredictFunction")
        event = api_event("api-predict", MODEL, {"instances": [instance]})
        refused = stack.local.invoke("PredictFunction", event)
        assert refused.payload["statusCode"] != 200, refused.payload
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=promoted)
        stack.local.recycle("PredictFunction")


@pytest.fixture(scope="module")
def printed(stack: Stack) -> set[Series]:
    """What the code prints while MODEL, in production, scores a batch file, serves traffic, gets
    labels back, is checked for drift, is in a rollout check, and is served from a corrupted file."""
    assert "retrain_on_drift: false" in SPEC
    stack.upload(f"{MODEL}/spec.yaml", SPEC.encode())
    stack.settle()
    stack.upload(f"{MODEL}/data/first.csv", to_csv_bytes(credit_risk(rows=400, seed=90)))
    stack.settle()
    version = stack.registry.get_version(MODEL, 1)
    assert version.status.value == "production"
    functions = ("BatchScoreFunction", "PredictFunction", "DriftFunction")
    logged = {function: len(stack.local.function_log(function)) for function in functions}
    output = io.StringIO()
    score_a_batch(stack)
    instance = serve_label_and_check_drift(stack)
    with contextlib.redirect_stdout(output):  # printed here, in this thread: not a function's
        print_a_rollout_check(stack)
    serve_a_corrupted_model(stack, version.artifacts["model"].uri, instance)
    # what the functions printed is in their logs (their CloudWatch Logs groups on AWS)
    logs = "".join(stack.local.function_log(function)[logged[function] :] for function in functions)
    return printed_series(output.getvalue() + logs)


def test_the_local_stack_creates_the_dashboard_with_its_own_resource_names(stack: Stack) -> None:
    # Given the stack's functions, state machines and delivery streams by their physical names
    name = stack.local.stack_name
    names = {
        logical_id: stack.local.physical[logical_id]
        for logical_id in of_type(SERVERLESS_FUNCTION) | of_type(SERVERLESS_STATE_MACHINE)
    }
    streams = {s: RESOURCES[s]["Properties"]["DeliveryStreamName"]["Fn::Sub"] for s in of_type(STREAM)}
    names |= {s: text.replace("${AWS::StackName}", name) for s, text in streams.items()}
    assert {names[s] for s in streams} <= set(
        stack.client("firehose").list_delivery_streams()["DeliveryStreamNames"]
    )
    # When the dashboard moto's CloudFormation created is read back through the CloudWatch API
    url = stack.outputs["OperationsDashboardUrl"]
    assert url == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        f"#dashboards/dashboard/{name}-operations"
    )
    text = stack.client("cloudwatch").get_dashboard(DashboardName=f"{name}-operations")["DashboardBody"]
    # Then it is the template's, each resource by the name the stack gave it; moto's CloudFormation
    # creates no alarms, so only the alarm widget keeps its `${Alarm}` names unresolved
    unresolved = re.findall(r"\$\{([^}]+)\}", text)
    assert set(unresolved) == of_type("AWS::CloudWatch::Alarm")
    local = json.loads(re.sub(r"alarm:\$\{(\w+)\}", r"alarm:ref:\1", text))
    assert local == dashboard_body(names, stack_name=name)


@pytest.mark.slow
def test_every_sluice_metric_graphed_is_printed_with_that_dimension_set(printed: set[Series]) -> None:
    # Given the series the dashboard graphs in Sluice's namespace
    graphed = sluice_series(dashboard_body())
    assert {namespace for namespace, _, _ in graphed} == {NAMESPACE}
    # Then the per-model ones (drift, live quality, rollouts) are among what was printed, dimension
    # set included (in Lambda, Powertools adds `service` to each of them)
    per_model = {s for s in graphed if "model" in s[2]}
    assert per_model and per_model <= printed, sorted(map(str, per_model - printed))
    # And so are the service-level ones the requests, the drift check, the batch job and the refused
    # model counted
    service_level = {s for s in graphed if s[2] == {"service"}}
    seen = service_level & printed
    counted = {"Predictions", "BatchRowsScored", "BatchRowsRejected", "ModelIntegrityFailures"}
    assert {metric for _, metric, _ in seen} >= counted | {
        "DatasetDrift",
        "LiveMetricBelowMinimum",
        "EstimatedMetricBelowGate",
    }
    # And the others (counted on failure paths the module does not provoke) are counted on the same
    # shared `metrics` object as those, whose flush carries `service` alone, as printed above
    shared = counted_on_the_shared_metrics(SHIPPED_CODE)
    assert counted <= shared
    assert {metric for _, metric, _ in service_level - seen} <= shared, sorted(map(str, service_level - seen))
