"""The reference pages under docs/reference/ are generated from the code (sluice.tools.docs.reference): the
committed pages must be what the generator writes today, and must state the facts they are generated from."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from sluice.domain.spec.model_spec import ModelSpec
from sluice.tools.cli import build_parser
from sluice.tools.docs import reference as docs_reference
from sluice.tools.local.template import load_sam

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"


def page(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def commands_of(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("sluice",)
) -> list[tuple[str, ...]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*path, name))
                found += commands_of(sub, (*path, name))
    return found


def test_the_committed_reference_pages_are_what_the_code_generates() -> None:
    # Given what the generator writes from today's code, template and OpenAPI document
    generated = docs_reference.generate()

    # Then every committed page is exactly that (run `make docs` or `python -m sluice.tools.docs.reference`)
    assert sorted(p.name for p in REFERENCE.glob("*.md")) == sorted(
        p.name for p in generated if ROOT / p.parent == REFERENCE
    )
    for path, text in generated.items():
        assert (ROOT / path).read_text(encoding="utf-8") == text, f"{path} is stale: run make docs"


def test_check_names_a_stale_page_and_passes_a_fresh_tree(tmp_path: Path, capsys) -> None:
    # Given a copy of the repository's sources of the pages, with the pages written by the generator
    for name in ("template.yaml", "openapi.json", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    assert docs_reference.main(["--root", str(tmp_path)]) == 0
    assert docs_reference.main(["--check", "--root", str(tmp_path)]) == 0

    # When the OpenAPI document gains a route the API page does not show
    document = json.loads((tmp_path / "openapi.json").read_text())
    document["paths"]["/models/{model}/brand-new"] = {"get": {"summary": "New", "responses": {"200": {}}}}
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    capsys.readouterr()
    code = docs_reference.main(["--check", "--root", str(tmp_path)])

    # Then --check fails naming that page only, and writes nothing
    assert code == 1
    err = capsys.readouterr().err
    assert "docs/reference/api.md is stale" in err
    assert "spec.md" not in err and "template.md" not in err
    assert "brand-new" not in (tmp_path / "docs" / "reference" / "api.md").read_text()


def test_the_template_page_names_every_parameter_and_output() -> None:
    # Given template.yaml as the SAM translator reads it
    template = load_sam(ROOT / "template.yaml")

    # Then each parameter and output has its row, with its default
    text = page("template.md")
    for name, parameter in template["Parameters"].items():
        assert f"| `{name}` |" in text, name
        if "Default" in parameter and isinstance(parameter["Default"], str | int):
            assert f"`{parameter['Default'] or chr(34) * 2}`" in text, name
    for name in template["Outputs"]:
        assert f"| `{name}` |" in text, name


def test_the_cli_page_shows_every_command_and_flag() -> None:
    # Given the `sluice` parser with every subcommand (nested ones too: models list, local up)
    parser = build_parser()
    commands = commands_of(parser)
    assert ("sluice", "models", "approve") in commands and ("sluice", "local", "up") in commands

    # Then each has its section, and each of its flags and their help is in the page
    text = page("cli.md")
    for command in commands:
        assert f"`{' '.join(command)}`" in text, command
    sub = {
        name: p
        for a in parser._actions
        if isinstance(a, argparse._SubParsersAction)
        for name, p in a.choices.items()
    }
    for action in sub["train"]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            assert f"`{option}" in text or f", {option}" in text, option
        if action.help:
            assert " ".join(action.help.split()) in text, action.help


def test_the_spec_page_shows_every_key_with_its_type_and_default() -> None:
    # Given the spec's pydantic models
    schema = ModelSpec.model_json_schema()

    # Then every top-level key and every section's key has a row, and every top-level key a meaning
    text = page("spec.md")
    for key in ModelSpec.model_fields:
        assert f"| `{key}` |" in text, key
    for name, section in schema["$defs"].items():
        for key in section.get("properties", {}):
            assert f"| `{key}` |" in text, (name, key)
    top = text.split("## The spec (top level)")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in top.splitlines() if line.startswith("| `")]
    assert rows and all(row[3].strip(" |") for row in rows), [
        row[0] for row in rows if not row[3].strip(" |")
    ]
    assert "| `min_requests` | integer | `1000` |" in text  # RolloutSpec's default, from the schema


def test_the_api_page_shows_every_route_and_schema() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    text = page("api.md")
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"`{method.upper()} {path}`" in text
    for name in document["components"]["schemas"]:
        assert f"### {name}" in text


def test_the_metrics_page_shows_every_emitted_metric_and_every_alarm() -> None:
    # Given the metric names the shipped package emits and the template's alarms
    emitted = docs_reference.emitted_metrics()
    alarms = docs_reference.alarms()
    assert {"Predictions", "DatasetDrift", "CaptureFailures", "RolloutGuardrailBreached"} <= set(emitted)

    # Then each has its row
    text = page("metrics.md")
    for metric in emitted:
        assert f"| `{metric}` |" in text
    for alarm in alarms:
        assert f"| `{alarm}` |" in text

    # and every alarm on Sluice's own namespace watches a metric the code emits
    from sluice.observability import NAMESPACE

    for alarm, properties in alarms.items():
        if properties.get("Namespace") == NAMESPACE:
            assert properties["MetricName"] in emitted, alarm


@pytest.mark.parametrize("name", sorted(p.name for p in docs_reference.PAGES if ROOT / p.parent == REFERENCE))
def test_each_page_says_it_is_generated(name: str) -> None:
    assert page(name).startswith("<!-- Generated by `python -m sluice.tools.docs.reference`")


def test_the_sites_home_page_is_the_readme_with_links_into_the_site() -> None:
    # Given the README, the repository's front door, and the site's home page
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    home = (ROOT / docs_reference.HOME).read_text(encoding="utf-8")

    # Then the home page says it is generated, and is the README line for line with docs/ links relative
    assert "Generated from README.md" in home.splitlines()[2]
    body = [line for line in home.splitlines() if "Generated from README.md" not in line]
    assert body[0] == readme.splitlines()[0] and len(body) == len(readme.splitlines()) + 1
    assert "](docs/" in readme and "](docs/" not in home
