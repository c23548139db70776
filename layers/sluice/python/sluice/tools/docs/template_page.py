"""The template's reference page: template.yaml's Parameters and Outputs (read with the SAM translator's
YAML loader); also how a CloudFormation value reads as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sluice.tools.docs.markdown import HEADER, ROOT, cell, inline_code, table


def cfn_text(value: Any) -> str:
    """CloudFormation values as written: {'Ref': 'X'} → !Ref X, {'Fn::Sub': '…'} → !Sub '…'."""
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), *_ = value.items()
        if key == "Ref":
            return f"!Ref {inner}"
        if key.startswith("Fn::"):
            return f"!{key[4:]} {cfn_text(inner) if not isinstance(inner, str) else inner}"
    if isinstance(value, list):
        return "[" + ", ".join(cfn_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {cfn_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def load_template(root: Path) -> dict[str, Any]:
    from sluice.tools.local.template import load_sam

    return load_sam(root / "template.yaml")


def template_page(root: Path = ROOT) -> str:
    template = load_template(root)
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
                inline_code(cfn_text(parameter["Default"])) if parameter["Default"] != "" else '`""` (empty)'
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
                inline_code(cfn_text(output.get("Value"))),
            ]
        )
    lines += [*table(["output", "meaning", "value"], rows), ""]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- metrics
