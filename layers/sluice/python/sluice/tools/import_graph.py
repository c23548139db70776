"""Print sluice's import graph as the code has it (`make import-graph`): which part of the package imports
which, read from the import statements (including those inside functions and under TYPE_CHECKING).

    python -m sluice.tools.import_graph            # between the parts: domain, app, adapters, ...
    python -m sluice.tools.import_graph --modules  # between modules, one line per importer

docs/architecture.md shows the first output, and a test regenerates it and compares, so the document
cannot drift from the code. `make imports` (import-linter) enforces the rules; this only shows them."""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# The parts of the package, top of the picture first (what may import what is the docs' business).
PARTS = ("tools", "entrypoints", "app", "adapters", "domain", "errors", "settings", "observability")


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def module_imports() -> dict[str, set[str]]:
    """Every sluice module and the sluice modules (or packages) it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        importer = module_name(path)
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(importer, path.name == "__init__.py", node)
                imported.add(source)
                # `from sluice.app.training import steps` imports the module sluice.app.training.steps
                imported.update(f"{source}.{alias.name}" for alias in node.names)
        graph[importer] = {
            name for name in imported if name.startswith("sluice.") and _exists(name) and name != importer
        }
    return graph


def _exists(name: str) -> bool:
    path = PACKAGE_ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sluice"


def part_imports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the parts of the package (imports inside a part left out)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for importer, imported in graph.items():
        for name in imported:
            if part_of(name) != part_of(importer):
                edges[part_of(importer)].add(part_of(name))
    return edges


def _order(part: str) -> tuple[int, str]:
    return (PARTS.index(part) if part in PARTS else len(PARTS), part)


def render_parts(graph: dict[str, set[str]]) -> str:
    edges = part_imports(graph)
    return "\n".join(
        f"{part:<13} → {', '.join(sorted(edges[part], key=_order)) or '(nothing)'}"
        for part in sorted({part_of(m) for m in graph} - {"sluice"}, key=_order)
    )


def render_modules(graph: dict[str, set[str]]) -> str:
    return "\n".join(
        f"{module} → {', '.join(sorted(imported)) or '(nothing)'}"
        for module, imported in sorted(graph.items())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sluice.tools.import_graph", description=__doc__)
    parser.add_argument("--modules", action="store_true", help="module by module instead of part by part")
    args = parser.parse_args(argv)
    graph = module_imports()
    print(render_modules(graph) if args.modules else render_parts(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
