"""The CLI's reference page: every command and flag of `sluice`, from its argparse parsers."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

from sluice.tools.docs.markdown import HEADER, ROOT, cell, inline_code, table


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, sub, helps.get(name, "")


def _flag_rows(parser: argparse.ArgumentParser) -> list[list[str]]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        positional = action.metavar or action.dest
        name = ", ".join(action.option_strings) or (
            " ".join(positional) if isinstance(positional, tuple) else positional
        )
        if action.option_strings and action.nargs != 0:
            metavar = action.metavar or action.dest.upper()
            name += f" {' '.join(metavar) if isinstance(metavar, tuple) else metavar}"
        default = ""
        if action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0:
            default = inline_code(str(action.default))
        help_text = (action.help or "") % {"default": action.default} if action.help else ""
        if action.choices and not isinstance(action.choices, dict):
            help_text += f" (one of: {', '.join(str(c) for c in action.choices)})"
        rows.append([f"`{cell(name)}`", default, cell(help_text)])
    return rows


def _command_section(path: list[str], parser: argparse.ArgumentParser, summary: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{' '.join(path)}`", ""]
    description = summary or parser.description or ""
    if description:
        lines += [cell(description), ""]
    usage = " ".join(parser.format_usage().split())
    lines += ["```", usage.removeprefix("usage: "), "```", ""]
    rows = _flag_rows(parser)
    if rows:
        lines += [*table(["argument", "default", "help"], rows), ""]
    for name, sub, sub_help in _subparsers(parser):
        lines += _command_section([*path, name], sub, sub_help, min(level + 1, 4))
    return lines


def cli_page(root: Path = ROOT) -> str:
    from sluice.tools.cli import build_parser

    # Defaults read from the environment (SLUICE_API_KEY, ...) are the reader's, not the page's: build the
    # parser without them.
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("SLUICE_")}
    try:
        parser = build_parser()
    finally:
        os.environ.update(saved)
    parser.prog = "sluice"
    lines = [
        HEADER.format(source="the argparse parsers of sluice.tools.cli"),
        "",
        "# CLI reference",
        "",
        "Every `sluice` command and flag, as `sluice COMMAND --help` shows them. The command honours"
        " `AWS_ENDPOINT_URL` like boto3 (the local stack: `http://127.0.0.1:4566`).",
        "",
    ]
    for name, sub, sub_help in _subparsers(parser):
        lines += _command_section(["sluice", name], sub, sub_help, 2)
    return "\n".join(lines)
