"""The metrics and alarms reference page: the metric names the package emits (Powertools `add_metric` /
`single_metric`, found in the source) and the template's AWS::CloudWatch::Alarm resources."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from sluice.tools.docs.markdown import HEADER, PACKAGE, ROOT, cell, table
from sluice.tools.docs.template_page import cfn_text, load_template

METRIC_NAME = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")
METRIC_CALLS = ("add_metric", "single_metric")


def _unit(node: ast.expr | None) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Attribute):
        return node.attr
    return "—"


def emitted_metrics(package: Path = PACKAGE) -> dict[str, dict[str, set[str]]]:
    """Metric name → {'units': …, 'where': module.function …}, for every `add_metric`/`single_metric` call in
    the shipped package (tools/ left out). A name given by a variable is resolved to the CamelCase string
    literals of the enclosing function (the tuples and dicts it loops over)."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent)
        if relative.parts[1] == "tools":
            continue
        module = ".".join(relative.with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(function):
                if not isinstance(call, ast.Call):
                    continue
                callee = (
                    call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                )
                if callee not in METRIC_CALLS:
                    continue
                keywords = {k.arg: k.value for k in call.keywords}
                name = keywords.get("name")
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    names = [(name.value, _unit(keywords.get("unit")))]
                else:
                    names = [
                        (node.value, "—")
                        for node in ast.walk(function)
                        if isinstance(node, ast.Constant)
                        and isinstance(node.value, str)
                        and METRIC_NAME.match(node.value)
                    ]
                for metric, unit in names:
                    entry = found.setdefault(metric, {"units": set(), "where": set()})
                    entry["units"].add(unit)
                    entry["where"].add(f"{module}.{function.name}")
    for entry in found.values():
        if len(entry["units"]) > 1:
            entry["units"].discard("—")
    return dict(sorted(found.items()))


def alarms(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    resources = load_template(root).get("Resources", {})
    return {
        name: resource.get("Properties", {})
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
    }


def metrics_page(root: Path = ROOT) -> str:
    from sluice.observability import NAMESPACE

    metrics = emitted_metrics()
    watched = alarms(root)
    watchers: dict[str, list[str]] = {}
    for name, properties in watched.items():
        for metric in [properties.get("MetricName")] + [
            query.get("MetricStat", {}).get("Metric", {}).get("MetricName")
            for query in properties.get("Metrics", [])
        ]:
            if isinstance(metric, str):
                watchers.setdefault(metric, []).append(name)
    lines = [
        HEADER.format(source="the package's add_metric/single_metric calls and template.yaml's alarms"),
        "",
        "# Metrics and alarms reference",
        "",
        f"Sluice's own CloudWatch metrics, in the namespace `{NAMESPACE}` (written as EMF in the functions' logs"
        " by Powertools), and the alarms template.yaml sets. [Monitoring](../concepts/monitoring.md) shows the"
        " dashboard that draws them.",
        "",
        "## Metrics the code emits",
        "",
    ]
    rows = [
        [
            f"`{metric}`",
            ", ".join(sorted(entry["units"])),
            "<br>".join(f"`{where}`" for where in sorted(entry["where"])),
            ", ".join(f"`{alarm}`" for alarm in watchers.get(metric, [])),
        ]
        for metric, entry in metrics.items()
    ]
    lines += table(["metric", "unit", "emitted in", "alarms on it"], rows)
    lines += ["", "## Alarms (AWS::CloudWatch::Alarm in template.yaml)", ""]
    rows = []
    for name, properties in watched.items():
        metric = properties.get("MetricName") or "metric math: " + ", ".join(
            str(q.get("MetricStat", {}).get("Metric", {}).get("MetricName", q.get("Expression", "")))
            for q in properties.get("Metrics", [])
        )
        rule = " ".join(
            cfn_text(properties[key])
            for key in ("Statistic", "ComparisonOperator", "Threshold")
            if key in properties
        )
        periods = f"{cfn_text(properties.get('EvaluationPeriods', ''))} × {cfn_text(properties.get('Period', ''))} s"
        rows.append(
            [
                f"`{name}`",
                f"`{cell(metric)}` ({cell(cfn_text(properties.get('Namespace', '')))})",
                cell(rule),
                cell(periods),
                cell(cfn_text(properties.get("AlarmDescription", ""))),
            ]
        )
    lines += [*table(["alarm", "metric (namespace)", "fires when", "periods", "meaning"], rows), ""]
    return "\n".join(lines)
