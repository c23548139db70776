"""The local stack: template.yaml deployed into moto, handlers in-process (a tool for people, never
shipped to Lambda)."""

from pathlib import Path

# Where `sluice local up` writes its ready document (endpoint, outputs, API URL, credentials); the CLI
# commands read it to find a running local stack.
STATE_FILE = Path(".sluice") / "local.json"
