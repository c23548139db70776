"""What every subcommand shares: exit codes, reading a spec and a data file, printing results."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from sluice.domain.spec.model_spec import ModelSpec, load_spec
from sluice.errors import SpecError

EXIT_OK = 0
EXIT_FAILED = 1  # the input was read and judged: data invalid, drift found, model not servable
EXIT_UNREADABLE = 2  # the input could not be read at all

# Where `sluice local up` writes its ready document (endpoint, outputs, API URL, credentials); the
# commands read it to find a running local stack when no stack is named.
STATE_FILE = Path(".sluice") / "local.json"


class CommandError(Exception):
    """Stops a command with a message for stderr and an exit code (never a traceback)."""

    def __init__(self, message: str, exit_code: int = EXIT_UNREADABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def read_spec(path: Path) -> ModelSpec:
    try:
        return load_spec(path)
    except SpecError as exc:
        raise CommandError(str(exc)) from exc


def require_file(path: Path) -> Path:
    """The path, if it names a readable file; otherwise stop with exit code 2."""
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise CommandError(f"{path}: cannot open file ({exc.strerror})") from exc
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def print_json(document: Any) -> None:
    """Exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")


def progress(message: str) -> None:
    """Progress for people goes to stderr, so stdout stays machine-readable."""
    print(f"sluice: {message}", file=sys.stderr, flush=True)


def cloudformation_outputs(stack_name: str) -> dict[str, str]:
    """A deployed stack's Outputs (the caller's AWS credentials and region; AWS_ENDPOINT_URL honoured)."""
    from sluice.adapters import client

    try:
        stack = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except Exception as exc:
        raise CommandError(f"cannot read stack {stack_name}: {exc}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
