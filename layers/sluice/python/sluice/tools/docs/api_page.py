"""The REST API's reference page, from openapi.json (`make openapi` writes it from the API's routes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sluice.tools.docs.markdown import HEADER, ROOT, cell, schema_type, table


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
