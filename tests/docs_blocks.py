"""The shell code blocks of the documentation, as commands the tests run: the README's and Getting started's
blocks are read from the pages themselves, so a page cannot show a command no test runs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GETTING_STARTED_LOCAL = ROOT / "docs" / "getting-started" / "local.md"
GETTING_STARTED_AWS = ROOT / "docs" / "getting-started" / "aws.md"
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def code_blocks(page: Path, language: str | None = None) -> list[Block]:
    """The page's fenced blocks (of one language when given), in order."""
    blocks: list[Block] = []
    opened: tuple[int, str] | None = None
    lines: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line.strip())
        if opened is None and match:
            opened, lines = (number, match.group(1)), []
        elif opened is not None and line.strip() == "```":
            if language is None or opened[1] == language:
                blocks.append(Block(page, opened[0], opened[1], "\n".join(lines)))
            opened = None
        elif opened is not None:
            lines.append(line)
    return blocks


def commands(block: Block) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines left out."""
    joined = block.text.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            found.append(shlex.join(words))
    return found


def words(command: str) -> list[str]:
    return shlex.split(command)
