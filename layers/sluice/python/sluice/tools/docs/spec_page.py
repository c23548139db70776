"""The spec's reference page: its pydantic models' JSON Schema, each key's meaning from the comments
beside its field (or its section's docstring)."""

from __future__ import annotations

import ast
import inspect
import io
import sys
import tokenize
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sluice.tools.docs.markdown import HEADER, ROOT, cell, inline_code, schema_type, table


def _field_comments(module_files: Sequence[Path]) -> dict[tuple[str, str], str]:
    """(class, field) → the comment on the field's line, or the comment lines just above it."""
    comments: dict[tuple[str, str], str] = {}
    for path in module_files:
        source = path.read_text(encoding="utf-8")
        by_line: dict[int, str] = {}
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                by_line[token.start[0]] = token.string.lstrip("#").strip()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                    continue
                parts = [by_line[item.end_lineno or item.lineno]] if (item.end_lineno or 0) in by_line else []
                above: list[str] = []
                line = item.lineno - 1
                while line in by_line and lines[line - 1].lstrip().startswith("#"):
                    above.insert(0, by_line[line])
                    line -= 1
                text = " ".join(above + parts).strip()
                if text:
                    comments[(node.name, item.target.id)] = text
    return comments


CONSTRAINTS = {
    "minimum": "≥ {}",
    "exclusiveMinimum": "> {}",
    "maximum": "≤ {}",
    "exclusiveMaximum": "< {}",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "minItems": "at least {} item(s)",
    "maxItems": "at most {} item(s)",
    "pattern": "matches `{}`",
}


def _constraints(schema: dict[str, Any]) -> list[str]:
    found = [text.format(schema[key]) for key, text in CONSTRAINTS.items() if key in schema]
    for option in schema.get("anyOf", []):
        found += _constraints(option)
    return found


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if "$ref" in schema:
            yield schema["$ref"].rsplit("/", 1)[-1]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


# What the spec's page says of keys whose fields carry no comment in the code (or one that reads only
# beside its neighbours); a test requires a meaning for every top-level key.
KEY_MEANINGS = {
    ("ModelSpec", "name"): "the model's name: registry key, S3 prefix and API path",
    ("ModelSpec", "task"): "what is predicted",
    ("ModelSpec", "target"): "the column to predict (binary targets are 0/1)",
    ("ModelSpec", "features"): "the model's inputs, in order: numeric or categorical",
    (
        "ModelSpec",
        "sensitive",
    ): "a column used for fairness metrics only, never an input (or `fairness.sensitive`)",
    (
        "ModelSpec",
        "algorithm",
    ): "one estimator: its name and scikit-learn parameters (or `candidates`, a search)",
    ("ModelSpec", "drift"): "the drift check's methods and thresholds, per column, and the dataset's share",
    ("ModelSpec", "metric"): "the primary metric; its direction (higher or lower is better) is known",
    ("ModelSpec", "fairness"): "the sensitive attribute and bias mitigation",
    (
        "ModelSpec",
        "retrain_on_drift",
    ): "the scheduled drift check starts a retraining when the dataset drifts",
    ("ModelSpec", "retraining"): "what a retraining trains on (absent: the latest accepted upload alone)",
    ("NumericFeature", "name"): "the column's name",
    ("NumericFeature", "min"): "the smallest valid value",
    ("NumericFeature", "max"): "the largest valid value",
    ("NumericFeature", "nullable"): "whether a cell may be missing",
    ("CategoricalFeature", "name"): "the column's name",
    ("CategoricalFeature", "categories"): "every valid value; another is an error",
    ("CategoricalFeature", "nullable"): "whether a cell may be missing",
    ("DriftSpec", "share_threshold"): "the dataset drifts when this share of the columns drifted",
    ("DriftSpec", "columns"): "a method and threshold per column",
}


def _model_modules(model: type) -> list[str]:
    """`model`'s module and the modules of every pydantic model it names (its sections), by name."""
    from pydantic import BaseModel

    module = sys.modules[model.__module__]
    classes = [
        value for value in vars(module).values() if isinstance(value, type) and issubclass(value, BaseModel)
    ]
    names = {c.__module__ for c in classes if c.__module__.startswith("sluice.")}
    return [model.__module__, *sorted(names - {model.__module__})]


def _model_files(model: type) -> list[Path]:
    return [Path(inspect.getfile(sys.modules[name])) for name in _model_modules(model)]


def spec_page(root: Path = ROOT) -> str:
    from sluice.domain.spec.model_spec import ModelSpec

    schema = ModelSpec.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    comments = _field_comments(_model_files(ModelSpec))
    lines = [
        HEADER.format(source=f"the spec's pydantic models ({', '.join(_model_modules(ModelSpec))})"),
        "",
        "# Spec reference",
        "",
        "Every key a model spec (YAML) may hold, from the JSON Schema of the pydantic models that validate it."
        " A key not listed is refused, naming it. *Meaning* is the comment beside the field in the code and"
        " the bounds the schema enforces; the sections' own documentation is under each section's table."
        " [The model spec](../concepts/spec.md) explains the spec with examples.",
        "",
    ]
    order = ["ModelSpec"]
    for name in order:  # breadth-first over the sections the spec refers to, in the order it names them
        for ref in _refs(defs.get(name, schema) if name != "ModelSpec" else schema["properties"]):
            if ref not in order and "properties" in defs.get(ref, {}):
                order.append(ref)
    for name in order:
        model = schema if name == "ModelSpec" else defs[name]
        required = set(model.get("required", []))
        title = "The spec (top level)" if name == "ModelSpec" else f"`{name}`"
        lines += [f"## {title}", ""]
        rows = []
        for key, prop in model.get("properties", {}).items():
            meaning = [
                KEY_MEANINGS.get((name, key), "") or comments.get((name, key), ""),
                *_constraints(prop),
            ]
            for ref in _refs(prop):
                section = defs.get(ref, {})
                if "enum" in section:
                    meaning.append("one of " + ", ".join(f"`{v}`" for v in section["enum"]))
                elif section.get("description") and not meaning[0]:
                    meaning[0] = f"see `{ref}`: " + section["description"].split(". ")[0].rstrip(".")
            if key in required:
                default = "required"
            elif "default" in prop:
                default = inline_code(prop["default"])
            else:
                default = "each key's default"
            rows.append(
                [
                    f"`{key}`",
                    cell(schema_type(prop, defs)),
                    default,
                    cell("; ".join(m.rstrip(".") for m in meaning if m)),
                ]
            )
        lines += table(["key", "type", "default", "meaning"], rows)
        description = model.get("description")
        if description:
            lines += ["", cell(description)]
        lines.append("")
    enums = [name for name, value in defs.items() if "enum" in value]
    if enums:
        lines += ["## Enumerations", ""]
        rows = [[f"`{name}`", ", ".join(f"`{v}`" for v in defs[name]["enum"])] for name in sorted(enums)]
        lines += [*table(["name", "values"], rows), ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- CLI
