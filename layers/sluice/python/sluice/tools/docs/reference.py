"""The documentation site's reference pages, generated from the code and the repository's own files.

`python -m sluice.tools.docs.reference` writes docs/reference/*.md; `--check` writes nothing and exits 1
naming every page that differs from what the code gives (`make lint` and a unit test run it, so a page
cannot go stale). Sources:

- spec.md: the JSON Schema of the spec's pydantic models (sluice.domain.spec.model_spec.ModelSpec), with each key's
  meaning from the comments beside its field and its section's docstring;
- cli.md: the argparse parsers of `sluice` (sluice.tools.cli.build_parser: sluice.entrypoints.cli's commands and the tools'), every command and flag;
- api.md: openapi.json at the repository root (`make openapi` writes it from the API's routes);
- template.md: template.yaml's Parameters and Outputs (read with the SAM translator's YAML loader);
- metrics.md: the metric names the package emits (Powertools `add_metric` / `single_metric`, found in the
  source) and the template's AWS::CloudWatch::Alarm resources;
- docs/index.md, the site's home page: README.md, the repository's front door, with its links made
  relative to docs/ (one text, two doors).

Each page is built by a module of its own in this package (spec_page, cli_page, api_page, template_page,
metrics_page).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sluice.tools.docs.api_page import api_page
from sluice.tools.docs.cli_page import cli_page
from sluice.tools.docs.markdown import REFERENCE, ROOT
from sluice.tools.docs.metrics_page import alarms, emitted_metrics, metrics_page
from sluice.tools.docs.spec_page import spec_page
from sluice.tools.docs.template_page import template_page

__all__ = ["HOME", "PAGES", "alarms", "emitted_metrics", "generate", "main", "stale_pages"]

HOME = Path("docs") / "index.md"


def home_page(root: Path) -> str:
    """README.md as the site's home page: its `docs/…` links made relative to the site."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    note = "<!-- Generated from README.md by `python -m sluice.tools.docs.reference` (make docs): edit the README. -->"
    return readme.replace("](docs/", "](").replace("\n", f"\n\n{note}\n", 1)


PAGES: dict[Path, Callable[[Path], str]] = {
    REFERENCE / "spec.md": spec_page,
    REFERENCE / "cli.md": cli_page,
    REFERENCE / "api.md": api_page,
    REFERENCE / "template.md": template_page,
    REFERENCE / "metrics.md": metrics_page,
    HOME: home_page,
}


def generate(root: Path = ROOT) -> dict[Path, str]:
    """Each generated page's path (relative to the repository root) → its text."""
    return {path: page(root).rstrip() + "\n" for path, page in PAGES.items()}


def stale_pages(root: Path = ROOT) -> list[Path]:
    pages = generate(root)
    return [
        path
        for path, text in pages.items()
        if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sluice.tools.docs.reference",
        description="Write the documentation's generated pages (docs/reference/, docs/index.md) from the code.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every stale page")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.root)
        for path in stale:
            print(
                f"{path} is stale: run `python -m sluice.tools.docs.reference` (make docs)", file=sys.stderr
            )
        return 1 if stale else 0
    for path, text in generate(args.root).items():
        target = args.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
