"""The README is a front door and the documentation a site: the README stays short and links only to pages
that exist, the site builds with no warning (a broken link or anchor fails), and every `sluice` command
the README and Getting started show is one the CLI accepts. (tests/integration/test_getting_started.py
runs them.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sluice.tools.cli import build_parser
from tests.docs_blocks import (
    GETTING_STARTED_AWS,
    GETTING_STARTED_LOCAL,
    README,
    ROOT,
    code_blocks,
    commands,
    words,
)

README_LIMIT = 200
PAGES_WITH_COMMANDS = (README, GETTING_STARTED_LOCAL, GETTING_STARTED_AWS)


def test_the_readme_is_a_short_front_door() -> None:
    # Given the README
    text = README.read_text(encoding="utf-8")

    # Then it is short, draws the loop, shows the two commands and links into the documentation
    assert len(text.splitlines()) <= README_LIMIT
    assert "```mermaid" in text
    assert commands(code_blocks(README, "bash")[0]) == ["make demo", "make test"]
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", text)
    assert {"docs/getting-started/local.md", "docs/reference/cli.md", "docs/CHANGELOG.md"} <= set(links)
    for link in links:
        assert (ROOT / link).is_file(), link


def test_the_readme_keeps_no_history_and_no_timings_of_one_machine() -> None:
    # Then what changed when is the changelog's, and measured times are the benchmarks'
    text = README.read_text(encoding="utf-8")
    assert not re.search(r"\b\d+(\.\d+)? ?(s|ms|min)\b", text), "a timing: it belongs in docs/benchmarks.md"
    for phrase in ("this machine", "2-core", "vCPU", "It was", "no longer", "before "):
        assert phrase not in text, phrase


def test_every_page_on_disk_is_in_the_site(tmp_path: Path) -> None:
    # When the site is built as `make lint` builds it: strict, into a folder of its own
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.fail("mkdocs is not installed: make install (pyproject's dev extra pins it)")
    site = tmp_path / "site"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )

    # Then it builds with no warning (no page left out of the nav, no broken link or anchor)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (site / "index.html").is_file() and (site / "reference" / "cli" / "index.html").is_file()
    shutil.rmtree(site)


@pytest.mark.parametrize("page", PAGES_WITH_COMMANDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_sluice_command_shown_is_one_the_cli_accepts(page: Path) -> None:
    # Given the `sluice` parser
    parser = build_parser()

    # Then each `sluice` command of the page's shell blocks parses (an unknown flag or command exits 2)
    shown = [c for block in code_blocks(page, "bash") for c in commands(block) if c.startswith("sluice ")]
    assert shown, page
    for command in shown:
        try:
            parser.parse_args(words(command)[1:])
        except SystemExit as exc:
            pytest.fail(f"{page.name}: {command!r} is refused by the CLI (exit {exc.code})")
