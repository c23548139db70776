"""The OperationsDashboard of template.yaml: a body CloudWatch accepts (widgets on the 24-column grid,
well-formed metric rows and SEARCH expressions), every AWS metric on a resource the template defines
(each function, state machine, capture stream and alarm, the API and its stage), Sluice's metrics in
the namespace and service the functions are configured with, and an Output linking to it.

What Sluice's own metrics are graphed against what the handlers really print is checked on the local
stack (tests/integration/test_dashboard_metrics.py), with the helpers defined here."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from sluice.observability import NAMESPACE, SERVICE
from sluice.tools.local.template import SERVERLESS_FUNCTION, SERVERLESS_STATE_MACHINE, load_sam

ROOT = Path(__file__).resolve().parents[2]
SAM = load_sam(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = SAM["Resources"]
DASHBOARD = "OperationsDashboard"
GRID_COLUMNS = 24  # CloudWatch dashboards are 24 units wide
PSEUDO = {
    "AWS::StackName": "sluice",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")  # a Sub's ${Name}, pseudo parameters included
STATISTIC = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?|tm\d{1,2})$")
# SEARCH('{Namespace,Dimension,...} MetricName="Name"', 'Statistic', period)
SEARCH = re.compile(
    r"^SEARCH\('\{(?P<schema>[A-Za-z0-9_/,]+)\} MetricName=\"(?P<metric>[A-Za-z0-9_.]+)\"', "
    r"'(?P<stat>[A-Za-z0-9.]+)', (?P<period>\d+)\)$"
)
Series = tuple[str, str, frozenset[str]]  # namespace, metric name, dimension names


def resource_ref(logical_id: str) -> str:
    """What a reference to a resource resolves to here: a token naming it, so the checks can tell
    which resource each metric is about (the local stack's real names are checked on the stack)."""
    return f"ref:{logical_id}"


def dashboard_body(names: dict[str, str] | None = None, stack_name: str = "sluice") -> dict[str, Any]:
    """The dashboard's body with its `!Sub` resolved: pseudo parameters as the local stack's (named
    `stack_name`), the Sub's own variables and `${Resource}` by `names` (logical id → name), else by
    `resource_ref`. Anything else is an error, as it would be for CloudFormation."""
    text, variables = RESOURCES[DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = names or {}
    pseudo = PSEUDO | {"AWS::StackName": stack_name}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in pseudo:
            return pseudo[name]
        if name in variables:
            target = variables[name]["Ref"]
            assert target in RESOURCES, f"{name} refers to {target}, not a resource of the template"
            return names.get(target, resource_ref(target))
        assert name in RESOURCES, f"${{{name}}} is neither a resource nor a variable of the Sub"
        return names.get(name, resource_ref(name))

    body: dict[str, Any] = json.loads(SUBSTITUTION.sub(value, text))
    return body


def metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w["properties"] for w in body["widgets"] if w["type"] == "metric"]


def metric_rows(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """Each metric drawn by name: namespace, metric name, dimensions, rendering options."""
    rows = []
    for widget in metric_widgets(body):
        for row in widget["metrics"]:
            if isinstance(row[0], dict):
                continue  # an expression
            options = row[-1] if isinstance(row[-1], dict) else {}
            names = row[: len(row) - 1] if options else row
            namespace, metric, pairs = names[0], names[1], names[2:]
            rows.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True)), options))
    return rows


def searches(body: dict[str, Any]) -> list[re.Match[str] | None]:
    """Every SEARCH expression on the dashboard, parsed (None for one that does not parse)."""
    found: list[re.Match[str] | None] = []
    for widget in metric_widgets(body):
        for row in widget["metrics"]:
            if isinstance(row[0], dict) and "expression" in row[0]:
                found.append(SEARCH.match(row[0]["expression"]))
    return found


def sluice_series(body: dict[str, Any]) -> set[Series]:
    """The EMF series the dashboard graphs: (namespace, metric, dimension names) of each metric row in
    Sluice's namespace and of each SEARCH (whose schema must match a series' dimension set exactly)."""
    series = {(ns, name, frozenset(dims)) for ns, name, dims, _ in metric_rows(body) if ns == NAMESPACE}
    for match in searches(body):
        assert match is not None, "a SEARCH expression does not parse"
        namespace, *dimensions = match["schema"].split(",")
        series.add((namespace, match["metric"], frozenset(dimensions)))
    return series


def of_type(kind: str) -> set[str]:
    return {name for name, resource in RESOURCES.items() if resource["Type"] == kind}


def test_the_body_is_a_dashboard_cloudwatch_accepts() -> None:
    # Given the dashboard's body with its substitutions resolved
    body = dashboard_body()
    widgets = body["widgets"]
    assert widgets and RESOURCES[DASHBOARD]["Type"] == "AWS::CloudWatch::Dashboard"
    # Then every widget has a known type, a place on the 24-column grid and properties
    cells: Counter[tuple[int, int]] = Counter()
    for widget in widgets:
        assert widget["type"] in {"metric", "text", "alarm"}, widget
        x, y, width, height = (widget[key] for key in ("x", "y", "width", "height"))
        assert all(isinstance(n, int) for n in (x, y, width, height)), widget
        assert x >= 0 and y >= 0 and width >= 1 and height >= 1 and x + width <= GRID_COLUMNS, widget
        assert isinstance(widget["properties"], dict) and widget["properties"], widget
        cells.update((column, row) for column in range(x, x + width) for row in range(y, y + height))
    # And no two widgets overlap
    assert [cell for cell, count in cells.items() if count > 1] == []
    # And every metric widget has a title, the stack's region, a period in minutes and metric rows
    for widget in metric_widgets(body):
        assert widget["title"] and widget["region"] == PSEUDO["AWS::Region"], widget
        assert widget["period"] % 60 == 0 and widget["metrics"], widget["title"]
        ids = [row[0]["id"] for row in widget["metrics"] if isinstance(row[0], dict)]
        assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z][A-Za-z0-9_]*", i) for i in ids), ids
    # And each named metric is namespace, name, then dimension name/value pairs, with a known statistic
    for namespace, metric, dimensions, options in metric_rows(body):
        assert namespace and metric and all(dimensions.values()), (namespace, metric)
        assert STATISTIC.match(options.get("stat", "Average")), (metric, options)
    # And each SEARCH names a schema, a metric, a statistic and a period CloudWatch understands
    for match in searches(body):
        assert match is not None, "a SEARCH expression does not parse"
        assert STATISTIC.match(match["stat"]) and int(match["period"]) % 60 == 0, match.group(0)
    # And the alarm widget lists alarm ARNs
    (alarms,) = [w["properties"] for w in widgets if w["type"] == "alarm"]
    assert all(a.startswith("arn:aws:cloudwatch:us-east-1:123456789012:alarm:") for a in alarms["alarms"])


def test_every_aws_metric_is_about_a_resource_of_the_template_of_the_right_kind() -> None:
    # Given the AWS metrics on the dashboard, and the API's name and stage as the template sets them
    body = dashboard_body()
    api = RESOURCES["PredictionApi"]["Properties"]
    api_name = SUBSTITUTION.sub(lambda m: PSEUDO[m.group(1)], api["Name"]["Fn::Sub"])
    kinds = {
        "AWS/Lambda": ("FunctionName", of_type(SERVERLESS_FUNCTION)),
        "AWS/States": ("StateMachineArn", of_type(SERVERLESS_STATE_MACHINE)),
        "AWS/Firehose": ("DeliveryStreamName", of_type("AWS::KinesisFirehose::DeliveryStream")),
    }
    rows = [row for row in metric_rows(body) if row[0].startswith("AWS/")]
    assert {row[0] for row in rows} == {"AWS/ApiGateway", *kinds}
    for namespace, metric, dimensions, _ in rows:
        if namespace == "AWS/ApiGateway":
            # Then API metrics are the prediction API's, on its stage
            assert dimensions == {"ApiName": api_name, "Stage": api["StageName"]}, metric
            continue
        # Then every other one names exactly one resource of the kind its namespace is about
        dimension, resources = kinds[namespace]
        assert list(dimensions) == [dimension], (namespace, metric)
        assert dimensions[dimension] in {resource_ref(r) for r in resources}, (namespace, metric, dimensions)
    # And the alarm widget lists alarms of the template
    (widget,) = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
    alarms = {resource_ref(name) for name in of_type("AWS::CloudWatch::Alarm")}
    assert {arn.split(":alarm:", 1)[1] for arn in widget["alarms"]} <= alarms


def test_each_function_state_machine_stream_and_alarm_of_the_template_is_on_it() -> None:
    # Given what the dashboard draws, by (namespace, metric, statistic) and resource
    body = dashboard_body()
    drawn = {
        (ns, metric, options.get("stat"), value)
        for ns, metric, dimensions, options in metric_rows(body)
        for value in dimensions.values()
    }
    # Then each function shows its invocations, errors, throttles and p99 duration
    for function in of_type(SERVERLESS_FUNCTION):
        for metric, stat in (
            ("Invocations", "Sum"),
            ("Errors", "Sum"),
            ("Throttles", "Sum"),
            ("Duration", "p99"),
        ):
            assert ("AWS/Lambda", metric, stat, resource_ref(function)) in drawn, (function, metric)
    # And the prediction function its concurrency
    assert ("AWS/Lambda", "ConcurrentExecutions", "Maximum", resource_ref("PredictFunction")) in drawn
    # And each state machine its executions started, succeeded, failed and timed out
    for machine in of_type(SERVERLESS_STATE_MACHINE):
        for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"):
            assert ("AWS/States", metric, "Sum", resource_ref(machine)) in drawn, (machine, metric)
    # And each capture stream its deliveries to S3 and its throttled records
    for stream in of_type("AWS::KinesisFirehose::DeliveryStream"):
        assert ("AWS/Firehose", "DeliveryToS3.Success", "Average", resource_ref(stream)) in drawn, stream
        assert ("AWS/Firehose", "ThrottledRecords", "Sum", resource_ref(stream)) in drawn, stream
    # And the API its requests, 4xx, 5xx and latency p50 and p99
    api = {
        (metric, options.get("stat"))
        for ns, metric, _, options in metric_rows(body)
        if ns == "AWS/ApiGateway"
    }
    expected = {
        ("Count", "Sum"),
        ("4XXError", "Sum"),
        ("5XXError", "Sum"),
        ("Latency", "p50"),
        ("Latency", "p99"),
    }
    assert api == expected
    # And every alarm of the template is in the alarm widget
    (widget,) = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
    assert {arn.split(":alarm:", 1)[1] for arn in widget["alarms"]} == {
        resource_ref(name) for name in of_type("AWS::CloudWatch::Alarm")
    }


def test_sluice_metrics_are_read_in_the_namespace_and_service_the_functions_write_them() -> None:
    # Given the functions' Powertools settings and the package's own names
    variables = SAM["Globals"]["Function"]["Environment"]["Variables"]
    assert (variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]) == (
        NAMESPACE,
        SERVICE,
    )
    body = dashboard_body()
    # Then every metric drawn by name outside AWS/ is in that namespace, with that service
    custom = [row for row in metric_rows(body) if not row[0].startswith("AWS/")]
    assert custom and all(ns == NAMESPACE and dims.get("service") == SERVICE for ns, _, dims, _ in custom)
    # And every per-model SEARCH is in that namespace and keeps `service` in its schema (in Lambda,
    # Powertools adds it to every metric: a schema without it would match no series)
    series = sluice_series(body)
    assert {name for _, name, _ in series} >= {"Predictions", "DriftShare", "LiveMetric", "CaptureFailures"}
    assert all(ns == NAMESPACE and "service" in dims for ns, _, dims in series), series


def test_an_output_links_the_console_to_the_dashboard() -> None:
    # Given the template's outputs
    output = SAM["Outputs"]["OperationsDashboardUrl"]["Value"]["Fn::Sub"]
    # Then one opens the dashboard, by its name, in the stack's region of the CloudWatch console
    assert "#dashboards/dashboard/${OperationsDashboard}" in output
    assert output.startswith(
        "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
    )
    # And the dashboard is named after the stack
    assert RESOURCES[DASHBOARD]["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-operations"}
