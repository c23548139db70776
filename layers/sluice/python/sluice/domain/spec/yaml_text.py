"""Spec documents as YAML a person reads: flow mappings on one line, comments beside or above what they
explain, wrapped at LINE_WIDTH. `yaml.safe_load` of what these functions write gives back the values."""

from __future__ import annotations

from typing import Any

import yaml

LINE_WIDTH = 100


def yaml_scalar(value: Any) -> str:
    """One value as YAML flow text (quoted when it would otherwise read as another type)."""
    text = yaml.safe_dump([value], default_flow_style=True, width=1_000_000, allow_unicode=True).strip()
    return text[1:-1]


def flow_mapping(mapping: dict[str, Any]) -> str:
    """A mapping as YAML flow text: `{key: value, …}`."""
    items = []
    for key, value in mapping.items():
        text = flow_mapping(value) if isinstance(value, dict) else yaml_scalar(value)
        items.append(f"{key}: {text}")
    return "{" + ", ".join(items) + "}"


def commented_line(line: str, comment: str | None) -> list[str]:
    """The line with its comment after it, or above it when both do not fit in LINE_WIDTH."""
    if not comment:
        return [line]
    beside = f"{line}  # {comment}"
    if len(beside) <= LINE_WIDTH:
        return [beside]
    indent = line[: len(line) - len(line.lstrip())]
    return [*comment_lines(comment, f"{indent}#", f"{indent}#  "), line]


def _wrapped(prefix: str, items: list[str], indent: int) -> list[str]:
    """`prefix[a, b, …]` as a flow sequence wrapped at LINE_WIDTH, continuation lines indented."""
    lines, current = [], prefix + "["
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else "]")
        if len(current) + len(piece) > LINE_WIDTH and not current.endswith("["):
            lines.append(current.rstrip())
            current = " " * indent
        current += piece
    return [*lines, current]


def feature_lines(feature: dict[str, Any], comment: str) -> list[str]:
    """One feature of a spec's `features` list with its comment: a flow mapping on one line, or a block
    whose categories wrap when the line would be longer than LINE_WIDTH."""
    line = f"  - {flow_mapping(feature)}"
    if len(line) <= LINE_WIDTH or feature["type"] != "categorical":
        return [f"{line}  # {comment}"]
    lines = [f"  - name: {yaml_scalar(feature['name'])}  # {comment}", "    type: categorical"]
    if feature.get("nullable"):
        lines.append("    nullable: true")
    return lines + _wrapped("    categories: ", [yaml_scalar(c) for c in feature["categories"]], indent=6)


def comment_lines(text: str, first: str = "#", rest: str = "#  ") -> list[str]:
    """`text` as `#` comment lines wrapped at LINE_WIDTH: the first line starts with `first`, the
    others with `rest`."""
    lines, current = [], first
    for word in text.split():
        if len(current) + 1 + len(word) > LINE_WIDTH and current not in (first, rest):
            lines.append(current)
            current = rest
        current += " " + word
    return [*lines, current]
