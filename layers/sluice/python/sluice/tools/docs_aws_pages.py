"""The reference pages generated from the repository's AWS documents and the metrics the code emits: the REST
API (openapi.json), the template's parameters and outputs (template.yaml) and the metrics and alarms (the
package's Powertools add_metric/single_metric calls and the template's AWS::CloudWatch::Alarm resources).
See sluice.tools.docs_reference."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from sluice.tools.docs_markdown import HEADER, PACKAGE, ROOT, cell, inline_code, schema_type, table


# ------------------------------------------------------------------------------------------- REST API
def api_page(root: Path = ROOT) -> str:
    document = json.loads((root / "openapi.json").read_text(encoding="utf-8"))
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    lines = [
        HEADER.format(source="openapi.json"),
        "",
        "# REST API reference",
        "",
        f"{document['info']['title']}, version {document['info']['version']} (OpenAPI"
        f" {document['openapi']}; the document itself is served at `GET /openapi.json`). Every route but"
        " `/openapi.json` and `/dashboard` needs SigV4 or an API key: see"
        " [Serving predictions](../guides/serving.md).",
        "",
        "## Routes",
        "",
    ]
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            rows.append(
                [
                    f"`{method.upper()} {path}`",
                    cell(operation.get("summary", "")),
                    ", ".join(operation.get("responses", {})),
                ]
            )
    lines += [*table(["route", "what", "status codes"], rows), ""]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            lines += [f"### `{method.upper()} {path}`", ""]
            if operation.get("description"):
                lines += [cell(operation["description"]), ""]
            for parameter in operation.get("parameters", []):
                lines.append(
                    f"- {parameter['in']} parameter `{parameter['name']}`"
                    f" ({schema_type(parameter.get('schema', {}), schemas)})"
                    + (": required" if parameter.get("required") else "")
                )
            body = operation.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                lines.append(f"- body `{media}`: {schema_type(content.get('schema', {}), schemas)}")
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                shapes = ", ".join(schema_type(c.get("schema", {}), schemas) for c in content.values())
                lines.append(
                    f"- **{status}** {cell(response.get('description', ''))}"
                    + (f" → {shapes}" if shapes else "")
                )
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in schemas.items():
        lines += [f"### {name}", ""]
        if schema.get("description"):
            lines += [cell(schema["description"]), ""]
        required = set(schema.get("required", []))
        rows = [
            [
                f"`{key}`",
                cell(schema_type(prop, schemas)),
                "yes" if key in required else "",
                cell(prop.get("description", "")),
            ]
            for key, prop in schema.get("properties", {}).items()
        ]
        if rows:
            lines += table(["field", "type", "required", "meaning"], rows)
        else:
            lines.append(f"type `{schema_type(schema, schemas)}`")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- template
def _intrinsic(value: Any) -> str:
    """CloudFormation values as written: {'Ref': 'X'} → !Ref X, {'Fn::Sub': '…'} → !Sub '…'."""
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), *_ = value.items()
        if key == "Ref":
            return f"!Ref {inner}"
        if key.startswith("Fn::"):
            return f"!{key[4:]} {_intrinsic(inner) if not isinstance(inner, str) else inner}"
    if isinstance(value, list):
        return "[" + ", ".join(_intrinsic(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_intrinsic(v)}" for k, v in value.items()) + "}"
    return str(value)


def _template(root: Path) -> dict[str, Any]:
    from sluice.tools.local.template import load_sam

    return load_sam(root / "template.yaml")


def template_page(root: Path = ROOT) -> str:
    template = _template(root)
    lines = [
        HEADER.format(source="template.yaml"),
        "",
        "# Template reference",
        "",
        "The parameters `sam deploy` asks for and the outputs the stack gives, from template.yaml. The"
        " guide [Deploy and operate on AWS](../guides/aws.md) says when to change them.",
        "",
        "## Parameters",
        "",
    ]
    rows = []
    for name, parameter in template.get("Parameters", {}).items():
        allowed = []
        if "AllowedValues" in parameter:
            allowed.append("one of " + ", ".join(f"`{v}`" for v in parameter["AllowedValues"]))
        for key, text in (("MinValue", "≥ {}"), ("MaxValue", "≤ {}"), ("AllowedPattern", "matches `{}`")):
            if key in parameter:
                allowed.append(text.format(parameter[key]))
        meaning = "; ".join([cell(parameter.get("Description", "")).rstrip("."), *allowed])
        if "Default" not in parameter:
            default = "required"
        else:
            default = (
                inline_code(_intrinsic(parameter["Default"]))
                if parameter["Default"] != ""
                else '`""` (empty)'
            )
        rows.append([f"`{name}`", cell(parameter.get("Type", "")), default, meaning.strip("; ")])
    lines += [*table(["parameter", "type", "default", "meaning"], rows), "", "## Outputs", ""]
    rows = []
    for name, output in template.get("Outputs", {}).items():
        condition = f" (when `{output['Condition']}`)" if "Condition" in output else ""
        rows.append(
            [
                f"`{name}`",
                cell(output.get("Description", "")) + condition,
                inline_code(_intrinsic(output.get("Value"))),
            ]
        )
    lines += [*table(["output", "meaning", "value"], rows), ""]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- metrics
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
    resources = _template(root).get("Resources", {})
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
            _intrinsic(properties[key])
            for key in ("Statistic", "ComparisonOperator", "Threshold")
            if key in properties
        )
        periods = f"{_intrinsic(properties.get('EvaluationPeriods', ''))} × {_intrinsic(properties.get('Period', ''))} s"
        rows.append(
            [
                f"`{name}`",
                f"`{cell(metric)}` ({cell(_intrinsic(properties.get('Namespace', '')))})",
                cell(rule),
                cell(periods),
                cell(_intrinsic(properties.get("AlarmDescription", ""))),
            ]
        )
    lines += [*table(["alarm", "metric (namespace)", "fires when", "periods", "meaning"], rows), ""]
    return "\n".join(lines)
