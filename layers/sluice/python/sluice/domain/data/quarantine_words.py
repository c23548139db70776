"""A quarantined upload's report in words a business user reads: one sentence saying which rows of which
file cannot be used and why ("3 rows of loans.csv cannot be used: column "age" has text where a number
is expected in rows 2, 7 and 9."), and a row / column / problem table. Built from the report ingestion
writes beside the quarantined file (app/ingest/upload.py: `reason`, `message` and, for a file that
failed validation, the structured ValidationReport of domain/data/validation.py, read here as its JSON
form). Pure, and no numpy: the console imports it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SENTENCE_PROBLEMS = 3  # problems the sentence names; the table lists the rest
TABLE_ROWS = 50  # rows of the problem table


@dataclass(frozen=True)
class QuarantineWords:
    summary: str  # one sentence
    problems: list[dict[str, Any]]  # {"row": 1-based data row or None (the whole file), "column", "message"}


def file_label(key: str) -> str:
    """The name the user gave the file: the key's last part without the console's time prefix."""
    name = key.rsplit("/", 1)[-1]
    return re.sub(r"^\d{8}T\d{6}-\d{6}-", "", name)


def _quoted(value: object) -> str:
    text = str(value)
    return f'"{text[:40]}…"' if len(text) > 40 else f'"{text}"'


def _listed(numbers: list[int], total: int) -> str:
    words = [str(n) for n in numbers]
    more = total - len(numbers)
    if more > 0:
        return ", ".join(words) + f" and {more} more"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _where(problem: dict[str, Any]) -> str:
    rows = [r for r in problem.get("rows") or [] if isinstance(r, int)]
    if not rows:
        return ""
    total = max(int(problem.get("count") or 0), len(rows))
    return f" in row {rows[0]}" if total == 1 else f" in rows {_listed(rows, total)}"


def _what(problem: dict[str, Any]) -> str:
    """What is wrong, without where: "has text where a number is expected"."""
    check, message = problem.get("check"), str(problem.get("message") or "")
    example = problem.get("example")
    if check == "type" or message.endswith("is not a number"):
        return "has text where a number is expected" + (f" (such as {_quoted(example)})" if example else "")
    if check == "nullable" or message == "the target is missing":
        return "is empty where a value is required"
    if check == "range":
        return "has values " + message  # "below the minimum 18"
    if check == "category":
        return "has a value the model does not know" + (f", such as {_quoted(example)}" if example else "")
    if message.startswith("a binary target must be"):
        return "must hold 0 or 1" + (f", not {_quoted(example)}" if example else "")
    if message.startswith("the target has a single class"):
        return "holds a single value; a model needs two or more to learn from"
    if message.startswith("required column is missing"):
        return "is missing from the file"
    if message.startswith("column is not in the spec"):
        return "is not one the model knows"
    if message.startswith("the header names this column twice"):
        return "appears twice in the header"
    return message


def _clause(problem: dict[str, Any], target: str | None) -> str:
    column = problem.get("column")
    if column is None:
        return str(problem.get("message") or "the file cannot be read")
    name = f"the column to predict, {_quoted(column)}," if column == target else f"column {_quoted(column)}"
    return f"{name} {_what(problem)}{_where(problem)}"


def _target(report: dict[str, Any]) -> str | None:
    columns = report.get("columns") if isinstance(report.get("columns"), dict) else {}
    return next(
        (n for n, p in (columns or {}).items() if isinstance(p, dict) and p.get("role") == "target"), None
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _invalid(file: str, report: dict[str, Any]) -> QuarantineWords:
    found = [p for p in report.get("problems") or [] if isinstance(p, dict)]
    target = _target(report)
    clauses = [_clause(p, target) for p in found[:SENTENCE_PROBLEMS]]
    if len(found) > SENTENCE_PROBLEMS:
        clauses.append(f"and {len(found) - SENTENCE_PROBLEMS} more problems are listed below")
    with_rows = [p for p in found if p.get("rows")]
    if not found:
        lead = f"the file {file} did not pass its checks"
    elif len(with_rows) < len(found):  # a problem of the whole file (a column missing, no rows)
        lead = f"the file {file} cannot be used"
    else:
        listed = {r for p in with_rows for r in p["rows"] if isinstance(r, int)}
        complete = all(int(p.get("count") or 0) <= len(p["rows"]) for p in with_rows)
        n = len(listed) if complete else max([len(listed), *(int(p.get("count") or 0) for p in with_rows)])
        lead = f"{'' if complete else 'at least '}{n} {'row' if n == 1 else 'rows'} of {file} cannot be used"
    table: list[dict[str, Any]] = []
    for problem in found:
        what = _what(problem) if problem.get("column") is not None else str(problem.get("message"))
        rows: list[int | None] = [r for r in problem.get("rows") or [] if isinstance(r, int)]
        for row in rows or [None]:
            table.append({"row": row, "column": problem.get("column"), "message": what})
    return QuarantineWords(
        _sentence(lead + (": " + "; ".join(clauses) if clauses else "")), table[:TABLE_ROWS]
    )


def quarantine_words(key: str, stored: dict[str, Any]) -> QuarantineWords:
    """The words for the quarantine report `stored` (the JSON beside `quarantine/<key>`)."""
    file = file_label(key)
    reason = stored.get("reason")
    message = str(stored.get("message") or "").removeprefix(f"{key}: ")
    report = stored.get("report")
    if reason == "invalid" and isinstance(report, dict):
        return _invalid(file, report)
    whole = {
        "too_large": f"the file {file} was not read: {message}",
        "unreadable": f"the file {file} cannot be read: {message}",
        "no_spec": f"the file {file} was not used: {message}",
        "init_failed": f"No model could be made from {file}: {message}",
    }
    fallback = (
        f"the file {file} was not accepted: {message}" if message else f"the file {file} failed its checks"
    )
    problem = {"row": None, "column": None, "message": message} if message else None
    return QuarantineWords(_sentence(whole.get(str(reason), fallback)), [problem] if problem else [])
