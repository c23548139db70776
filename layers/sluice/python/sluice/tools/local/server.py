"""`sluice local up`: the local stack behind moto's HTTP server on 127.0.0.1, so boto3, the AWS CLI
and `sluice` reach it through AWS_ENDPOINT_URL. Handlers still run in this process."""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sluice.adapters import clear_clients
from sluice.adapters.prediction_api import API_KEY
from sluice.tools.local.console.s3_cors import s3_cors_as_aws
from sluice.tools.local.deploy import ACCOUNT_ID, DEFAULT_REGION, DEFAULT_STACK_NAME
from sluice.tools.local.distributed_map import distributed_map_patches
from sluice.tools.local.events import moto_patches, moto_settings
from sluice.tools.local.faults import FaultInjector
from sluice.tools.local.iam.enforcement import Enforcer, trace_path_from_env
from sluice.tools.local.iam.hooks import iam_enforced
from sluice.tools.local.lambda_runtime.runtime import RUNTIME_ENV, load_env_overrides
from sluice.tools.local.latency import AwsLatency, active_latency, injecting_and_delaying
from sluice.tools.local.stack import LocalStack, deployed


class PortInUse(OSError):
    """A port `sluice local up` needs is taken (or cannot be bound)."""


# How long `sluice local up` may take to stop once SIGTERM arrived (it usually takes a second or two).
SHUTDOWN_GRACE_SECONDS = 45


class Terminated(BaseException):
    """SIGTERM arrived: unwinds whatever phase is running (a BaseException, so no `except Exception`
    on the way swallows it), then everything started is stopped."""


def ready_document(
    stack: LocalStack,
    api_url: str | None = None,
    auth: str | None = None,
    faults: FaultInjector | None = None,
    latency: AwsLatency | None = None,
) -> dict[str, Any]:
    """The JSON line `sluice local up` prints when ready: endpoints, outputs, how to authenticate to
    the API (`auth` AWS_IAM: sign with `credentials`; API_KEY: send `api_key` in x-api-key), and the
    console's URL and users (an operator and a viewer, with their passwords)."""
    document: dict[str, Any] = {
        "endpoint_url": stack.endpoint_url,
        "stack_name": stack.stack_name,
        "outputs": stack.outputs,
        "iam": "enforced" if stack.enforcer is not None else "off",
        "aws_latency": latency.document() if latency is not None else None,
    }
    if faults is not None:
        document["faults"] = {"rate": faults.rate, "seed": faults.seed}
    if api_url is not None:
        mode = auth or stack.api_auth
        document.update(api_url=api_url, auth=mode, credentials=dict(stack.credentials))
        if mode == API_KEY:
            document["api_key"] = stack.api_key
        if "ConsoleUserPool" in stack.physical:
            document["console"] = {"url": f"{api_url}/console", "users": stack.console_users()}
    return document


def latency_summary(latency: AwsLatency) -> dict[str, Any]:
    """What `sluice local up` writes of AWS-like latency when it stops: its seed, the calls delayed and
    the time they added, by principal (a role's short name) and operation."""
    from sluice.tools.local.faults import short_name

    table = latency.table(short_name)
    return {
        "aws_latency": latency.document(),
        "calls_delayed": sum(row["calls"] for row in table),
        "added_ms": round(sum(row["added_ms"] for row in table), 1),
        "table": table,
    }


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM unwinds the block (raising Terminated once: a second SIGTERM does not
    interrupt the cleanup of the first) and the block ends normally; the previous handler is restored."""
    terminated = False

    def on_sigterm(*_: Any) -> None:
        nonlocal terminated
        if not terminated:
            terminated = True
            # A stop that hangs dumps every thread's stack to stderr (the stack's log) and exits 1,
            # rather than waiting for a SIGKILL that would say nothing of where it hung.
            faulthandler.dump_traceback_later(SHUTDOWN_GRACE_SECONDS, exit=True, file=sys.stderr)
            raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail at once when `port` is taken (moto's server would wait forever for a socket it never gets)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"{what} port {host}:{port} is not available ({exc.strerror or exc}); "
                f"stop what uses it or choose another with {'--port' if what == 'AWS endpoint' else '--api-port'}"
            ) from exc


@contextlib.contextmanager
def running_server(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4566,
    stack_name: str = DEFAULT_STACK_NAME,
    parameters: dict[str, str] | None = None,
    iam: bool = True,
    faults: FaultInjector | None = None,
    aws_latency: AwsLatency | None = None,
) -> Iterator[LocalStack]:
    """Start moto's server, deploy the stack into it (template `parameters` overridden, IAM enforced
    per principal unless `iam` is False, `faults` injected once deployed, calls delayed as AWS would by
    `aws_latency`, else as SLUICE_AWS_LATENCY says), and stop both on exit; the faults injected and the
    delays are summed up on stderr. S3 answers browsers' cross-origin requests as its CORS rules say
    (`console.s3_cors`). A taken port is a PortInUse at once."""
    with (
        moto_settings(),
        s3_cors_as_aws(),
        _running_server(root, host, port, stack_name, parameters, iam, faults, aws_latency) as stack,
    ):
        yield stack


@contextlib.contextmanager
def _running_server(
    root: Path,
    host: str,
    port: int,
    stack_name: str,
    parameters: dict[str, str] | None,
    iam: bool,
    faults: FaultInjector | None,
    aws_latency: AwsLatency | None,
) -> Iterator[LocalStack]:
    from moto.server import ThreadedMotoServer

    # moto's ASL engine calls Lambda through http://localhost:$MOTO_PORT when no mock is active.
    os.environ["MOTO_PORT"] = str(port)
    os.environ.update(RUNTIME_ENV)
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    endpoint = f"http://{host}:{port}"
    check_port_free(host, port, "AWS endpoint")
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    enforcer = (
        Enforcer(ACCOUNT_ID, DEFAULT_REGION, trace_path=trace_path_from_env(), endpoint_url=endpoint)
        if iam
        else None
    )
    stack = LocalStack(
        root,
        stack_name=stack_name,
        endpoint_url=endpoint,
        env_overrides=load_env_overrides(root / "env.json"),
        parameters=parameters,
        enforcer=enforcer,
    )
    latency: AwsLatency | None = None
    try:
        with moto_patches(), distributed_map_patches(), iam_enforced(enforcer), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with (
                deployed(stack),
                injecting_and_delaying(faults, aws_latency, enforcer, endpoint) as latency,
            ):
                yield stack
    finally:
        server.stop()
        clear_clients()
        if faults is not None:  # the stack's log: what was injected, and how each was survived
            sys.stderr.write(
                json.dumps({"faults_injected": len(faults.faults), "table": faults.table()}) + "\n"
            )
        if latency is not None:  # and the time AWS-like latency added, by principal and operation
            sys.stderr.write(json.dumps(latency_summary(latency)) + "\n")


def serve(
    root: Path,
    *,
    host: str,
    port: int,
    api_port: int,
    state_file: Path,
    announce: Callable[[str], None],
    parameters: dict[str, str] | None = None,
    iam: bool = True,
    faults: FaultInjector | None = None,
    aws_latency: AwsLatency | None = None,
) -> None:
    """Deploy, serve the API on `api_port`, announce readiness (one JSON line), then serve until
    SIGINT or SIGTERM, which stop it in any phase (deploying included)."""
    if api_port != 0 and api_port == port:
        raise PortInUse(f"--api-port {api_port} is the AWS endpoint's port too")
    check_port_free(host, port, "AWS endpoint")
    if api_port:
        check_port_free(host, api_port, "API")
    else:
        from sluice.tools.local import free_port

        api_port = free_port()
    # The console is served by the local API: the raw bucket takes browser uploads from its origin only.
    parameters = {"ConsoleOrigin": f"http://{host}:{api_port}"} | dict(parameters or {})
    try:
        with (
            stop_on_sigterm(),
            running_server(
                root,
                host=host,
                port=port,
                parameters=parameters,
                iam=iam,
                faults=faults,
                aws_latency=aws_latency,
            ) as stack,
        ):
            api = stack.serve_api(api_port, host=host)
            document = json.dumps(
                ready_document(stack, api.url, faults=faults, latency=active_latency()), sort_keys=True
            )
            state_file.parent.mkdir(parents=True, exist_ok=True)
            state_file.write_text(document + "\n", encoding="utf-8")
            announce(document)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()  # until a signal unwinds it
    finally:
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
