"""`sluice local up`: the local stack behind moto's HTTP server on 127.0.0.1, so boto3, the AWS CLI
and `sluice` reach it through AWS_ENDPOINT_URL. Handlers still run in this process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sluice.adapters import clear_clients
from sluice.local.stack import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    MOTO_CONFIG,
    RUNTIME_ENV,
    LocalStack,
    deployed,
    load_env_overrides,
    moto_patches,
)

STATE_FILE = Path(".sluice") / "local.json"


def ready_document(stack: LocalStack, api_url: str | None = None) -> dict[str, Any]:
    document = {"endpoint_url": stack.endpoint_url, "stack_name": stack.stack_name, "outputs": stack.outputs}
    if api_url is not None:
        document["api_url"] = api_url
    return document


@contextlib.contextmanager
def running_server(
    root: Path, *, host: str = "127.0.0.1", port: int = 4566, stack_name: str = DEFAULT_STACK_NAME
) -> Iterator[LocalStack]:
    """Start moto's server, deploy the stack into it, and stop both on exit."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    for service, values in MOTO_CONFIG.items():
        default_user_config.setdefault(service, {}).update(values)  # type: ignore[misc]
    # moto's ASL engine calls Lambda through http://localhost:$MOTO_PORT when no mock is active.
    os.environ["MOTO_PORT"] = str(port)
    os.environ.update(RUNTIME_ENV)
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    endpoint = f"http://{host}:{port}"
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    stack = LocalStack(
        root,
        stack_name=stack_name,
        endpoint_url=endpoint,
        env_overrides=load_env_overrides(root / "env.json"),
    )
    try:
        with moto_patches(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with deployed(stack):
                yield stack
    finally:
        server.stop()
        clear_clients()


def serve(
    root: Path, *, host: str, port: int, api_port: int, state_file: Path, announce: Callable[[str], None]
) -> None:
    """Deploy, serve the API on `api_port`, announce readiness (one JSON line), then serve until
    SIGINT or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with running_server(root, host=host, port=port) as stack:
            api = stack.serve_api(api_port, host=host)
            document = json.dumps(ready_document(stack, api.url), sort_keys=True)
            state_file.parent.mkdir(parents=True, exist_ok=True)
            state_file.write_text(document + "\n", encoding="utf-8")
            announce(document)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(0.5):
                    pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
