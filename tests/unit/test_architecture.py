"""The package's shape, checked against the code: the import graph docs/architecture.md shows, module
sizes, and what ships to Lambda. (The import rules themselves are import-linter's, in `make lint`.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sluice.tools.import_graph import module_imports, part_of, render_parts

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "sluice" / "python" / "sluice"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_MODULE_LINES = 420  # "no module over ~400 lines"
SHIPPED = ("domain", "app", "adapters", "entrypoints", "errors", "settings", "observability")


def documented_graph() -> str:
    match = re.search(
        r"<!-- import-graph -->\n```\n(.*?)\n```\n<!-- /import-graph -->", ARCHITECTURE.read_text(), re.S
    )
    assert match, "docs/architecture.md has no import-graph block"
    return match.group(1)


def test_the_documented_import_graph_is_the_code_s() -> None:
    # Given the graph docs/architecture.md shows
    documented = documented_graph()
    # When the graph is read from the code, the way `make import-graph` prints it
    printed = subprocess.run(
        [sys.executable, "-m", "sluice.tools.import_graph"], capture_output=True, text=True, check=True
    ).stdout.strip()
    # Then they are the same, and the shipped parts never import the tools
    assert printed == documented == render_parts(module_imports())
    for line in printed.splitlines():
        part, _, imported = line.partition("→")
        if part.strip() != "tools":
            assert "tools" not in imported, line


def test_the_domain_imports_nothing_but_the_domain_and_errors() -> None:
    # Given every module of sluice.domain
    graph = module_imports()
    domain = {m: imported for m, imported in graph.items() if part_of(m) == "domain"}
    assert len(domain) > 10
    # Then each imports only the domain and sluice.errors
    for module, imported in domain.items():
        outside = {name for name in imported if part_of(name) not in {"domain", "errors"}}
        assert not outside, f"{module} imports {sorted(outside)}"


def test_no_module_is_over_about_400_lines() -> None:
    # Given every Python module of the package, the handlers, the benches and the tests
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "functions").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    files += [*(ROOT / "tests").rglob("*.py")]
    # Then none is longer than the limit
    long = {
        str(f.relative_to(ROOT)): n
        for f in files
        if (n := len(f.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_handler_imports_the_people_s_tools() -> None:
    # Given the Lambda handlers and the shipped part of the package
    shipped = [*(ROOT / "functions").rglob("*.py")]
    shipped += [f for part in SHIPPED for f in (PACKAGE / part).rglob("*.py")]
    shipped += [PACKAGE / f"{part}.py" for part in SHIPPED if (PACKAGE / f"{part}.py").is_file()]
    # Then none of them imports sluice.tools
    offenders = [
        str(f.relative_to(ROOT))
        for f in shipped
        if re.search(
            r"^\s*(from sluice\.tools\b|import sluice\.tools\b|from sluice import tools\b)",
            f.read_text(),
            re.M,
        )
    ]
    assert not offenders, offenders


MAX_FOLDER_MODULES = 15  # "every folder ≤ 15 modules": a feature grows a sub-package before that


def test_no_folder_has_more_than_15_modules() -> None:
    # Given every folder of the package and the Python modules directly in it (its __init__.py left out)
    crowded = {
        str(folder.relative_to(PACKAGE.parent)): n
        for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir())]
        if "__pycache__" not in folder.parts
        and (n := sum(1 for f in folder.glob("*.py") if f.name != "__init__.py")) > MAX_FOLDER_MODULES
    }
    # Then none holds more than the limit (split it by feature)
    assert not crowded, f"folders with more than {MAX_FOLDER_MODULES} modules: {crowded}"
