"""Lambda's external extensions, run as Lambda runs them: each executable in a function's layers'
`extensions/` folder (/opt/extensions on Lambda) is a process of the function's execution environment,
with the function's variables and credentials, that talks to the Extensions API.

The lifecycle it relies on, emulated here (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html):
- Init: every extension starts, registers (`POST /2020-01-01/extension/register`, with the events it
  wants) and asks for its next event (`GET /2020-01-01/extension/event/next`); the environment's first
  invocation waits for that (an extension that exits or does not register in time fails the init).
- Invoke: each extension registered for INVOKE gets the event when the invocation starts, alongside the
  handler. The invocation's response goes to its caller when the handler returns; the environment is
  busy until every extension asks for its next event again, so the next invocation waits for that.
- Shutdown (the environment spun down — `recycle`, the stack closing — or failed): each extension
  registered for SHUTDOWN gets it once it is idle, and has until the deadline (2,000 ms with external
  extensions) to exit; then it is killed, as Lambda kills it.
What an extension writes on stdout and stderr goes to the function's log, as on Lambda.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sluice.tools.local.deploy import LocalStackError
from sluice.tools.local.function_logs import FunctionLogs

API = "/2020-01-01/extension"
INIT_TIMEOUT_SECONDS = 20.0  # Lambda's Init phase is 10 s; a loaded test machine gets more
SHUTDOWN_DEADLINE_SECONDS = 2.0  # what Lambda gives external extensions to exit after SHUTDOWN
SHUTDOWN_POLL_SECONDS = 0.05  # how often a local HTTP server (this API, the API front) looks at shutdown()


def extension_executables(layer_folders: list[Path]) -> list[Path]:
    """The executables a function's layers put in /opt/extensions, in layer order."""
    found: list[Path] = []
    for folder in layer_folders:
        extensions = folder / "extensions"
        if extensions.is_dir():
            found += sorted(p for p in extensions.iterdir() if p.is_file() and os.access(p, os.X_OK))
    return found


def outside_process_env(endpoint_url: str, credentials: dict[str, str]) -> dict[str, str]:
    """What a process of a function's environment started outside this one needs beside the function's
    variables: the stack's `endpoint_url`, the role's `credentials`, this Python first on PATH (Lambda's
    python3) and the sluice package on PYTHONPATH (the sluice layer's /opt/python)."""
    import sluice

    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": str(Path(sluice.__file__).resolve().parents[1]),
        **credentials,
    }


@dataclass
class _Extension:
    name: str
    identifier: str
    events: frozenset[str]
    inbox: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    waiting: bool = False  # asked for its next event and has not got it yet


class ExtensionsEnvironment:
    """One execution environment's external extensions and the Extensions API they talk to."""

    def __init__(
        self,
        logical_id: str,
        executables: list[Path],
        env: dict[str, str],
        logs: FunctionLogs,
        *,
        function_name: str,
        init_timeout: float = INIT_TIMEOUT_SECONDS,
        shutdown_deadline: float = SHUTDOWN_DEADLINE_SECONDS,
    ) -> None:
        self.logical_id = logical_id
        self.init_timeout = init_timeout
        self.shutdown_deadline = shutdown_deadline
        self.executables = executables
        self.function_name = function_name
        self._logs = logs
        self._env = env
        self._changed = threading.Condition()
        self._registered: dict[str, _Extension] = {}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._readers: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _api_handler(self))
        self._server.daemon_threads = True
        # serve_forever looks at shutdown() every poll interval: its 0.5 s default made every spin-down
        # (each configuration change, each flush of the streams) wait that long for it.
        self._serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=f"{logical_id}-extensions-api",
            daemon=True,
        )
        self.shut_down = False

    @property
    def runtime_api(self) -> str:
        return f"127.0.0.1:{self._server.server_port}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """The Init phase: start every extension and wait until each has registered and asked for its
        next event. Raises LocalStackError (Lambda's Extension.InitError) when one exits or is late."""
        self._serving.start()
        for executable in self.executables:
            process = subprocess.Popen(
                [str(executable)],
                env={**self._env, "AWS_LAMBDA_RUNTIME_API": self.runtime_api},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            self._processes.append(process)
            reader = threading.Thread(target=self._copy_output, args=(process,), daemon=True)
            reader.start()
            self._readers.append(reader)
        deadline = time.monotonic() + self.init_timeout
        failure = None
        with self._changed:
            while not self._all_waiting(len(self.executables)):
                if any(p.poll() is not None for p in self._processes):
                    failure = "an extension exited"
                elif time.monotonic() > deadline:
                    failure = f"an extension did not register within {self.init_timeout:.0f} s"
                if failure:
                    break
                self._changed.wait(0.05)
        if failure:
            self.shutdown()
            raise LocalStackError(f"{self.logical_id}: Extension.InitError: {failure}")

    def invoke(self, request_id: str, deadline_ms: int, function_arn: str) -> None:
        """An invocation starts: wait until the environment is free (every extension asked for its
        next event), then hand INVOKE to those registered for it."""
        with self._changed:
            self._wait_all_waiting()
            for extension in self._registered.values():
                if "INVOKE" in extension.events:
                    extension.waiting = False
                    extension.inbox.put(
                        {
                            "eventType": "INVOKE",
                            "deadlineMs": deadline_ms,
                            "requestId": request_id,
                            "invokedFunctionArn": function_arn,
                            "tracing": {},
                        }
                    )

    def shutdown(self, reason: str = "spindown") -> None:
        """The Shutdown phase: once the extensions are idle, SHUTDOWN to those registered for it; each
        process has until the deadline to exit, then is killed. Idempotent."""
        if self.shut_down:
            return
        self.shut_down = True
        deadline = time.monotonic() + self.shutdown_deadline
        with self._changed:
            self._wait_all_waiting(timeout=self.shutdown_deadline)
            for extension in self._registered.values():
                if "SHUTDOWN" in extension.events:
                    extension.inbox.put(
                        {
                            "eventType": "SHUTDOWN",
                            "shutdownReason": reason,
                            "deadlineMs": int(deadline * 1000),
                        }
                    )
        for process in self._processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for reader in self._readers:
            reader.join(timeout=1.0)
        self._server.shutdown()
        self._server.server_close()

    def running(self) -> int:
        """How many of the extensions' processes are still running."""
        return sum(1 for process in self._processes if process.poll() is None)

    # ------------------------------------------------------------------ the API's side
    def register(self, name: str, events: list[str]) -> _Extension:
        extension = _Extension(name=name, identifier=str(uuid.uuid4()), events=frozenset(events))
        with self._changed:
            self._registered[extension.identifier] = extension
            self._changed.notify_all()
        return extension

    def knows(self, identifier: str) -> bool:
        """Whether `identifier` is a registered extension's."""
        with self._changed:
            return identifier in self._registered

    def next_event(self, identifier: str) -> dict[str, Any]:
        """Block until the extension's next event (it is idle meanwhile)."""
        with self._changed:
            extension = self._registered[identifier]
            extension.waiting = True
            self._changed.notify_all()
        return extension.inbox.get()

    def _all_waiting(self, expected: int) -> bool:
        return len(self._registered) >= expected and all(e.waiting for e in self._registered.values())

    def _wait_all_waiting(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._all_waiting(len(self._registered)):
            if any(p.poll() is not None for p in self._processes):
                return  # a crashed extension never asks again (Lambda resets the environment)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            self._changed.wait(0.05 if remaining is None else min(0.05, remaining))

    def _copy_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._logs.append(self.logical_id, [raw.decode(errors="replace").rstrip("\n")])


def _api_handler(environment: ExtensionsEnvironment) -> type[BaseHTTPRequestHandler]:
    class ExtensionsApiHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return  # no line per request on stderr

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == f"{API}/register":
                name = self.headers.get("Lambda-Extension-Name") or ""
                events = [str(e) for e in body.get("events", [])]
                unknown = sorted(set(events) - {"INVOKE", "SHUTDOWN"})
                if not name or unknown:
                    self._answer(
                        400,
                        {"errorType": "InvalidRequest", "errorMessage": f"name {name!r}, events {unknown}"},
                    )
                    return
                extension = environment.register(name, events)
                self._answer(
                    200,
                    {
                        "functionName": environment.function_name,
                        "functionVersion": "$LATEST",
                        "handler": "app.lambda_handler",
                    },
                    {"Lambda-Extension-Identifier": extension.identifier},
                )
            elif self.path in (f"{API}/init/error", f"{API}/exit/error"):
                self._answer(202, {"status": "OK"})
            else:
                self._answer(404, {"errorType": "NotFound", "errorMessage": self.path})

        def do_GET(self) -> None:
            identifier = self.headers.get("Lambda-Extension-Identifier") or ""
            if self.path != f"{API}/event/next" or not environment.knows(identifier):
                self._answer(403, {"errorType": "Extension.Unknown", "errorMessage": "register first"})
                return
            self._answer(200, environment.next_event(identifier))

    return ExtensionsApiHandler


@contextlib.contextmanager
def started(environment: ExtensionsEnvironment) -> Iterator[ExtensionsEnvironment]:
    """An environment's extensions for the length of a block (tests)."""
    environment.start()
    try:
        yield environment
    finally:
        environment.shutdown()
