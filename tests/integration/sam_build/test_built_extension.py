"""The capture extension as `sam build` builds it: CaptureExtensionLayer holds one executable,
extensions/sluice-capture, which Lambda runs from /opt/extensions with the function's Python and the
layers' packages. Run here as the local runtime runs extensions (the Extensions API's Init, INVOKE and
SHUTDOWN), on python3.12 outside any venv with only the built sluice layer and the runtime's boto3 on
its path, it takes captured requests from the handler's socket and delivers every one at SHUTDOWN."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.adapters.capture_relay import RelayedCapture
from sluice.adapters.firehose import FirehoseTraffic
from sluice.domain.monitoring.capture_frame import SOCKET_NAME
from sluice.tools.local.fargate import process_endpoint
from sluice.tools.local.function_logs import FunctionLogs
from sluice.tools.local.in_process import in_process_stack
from sluice.tools.local.lambda_runtime.extensions import (
    ExtensionsEnvironment,
    extension_executables,
    outside_process_env,
)
from sluice.tools.local.lambda_runtime.runtime import invocation_environment
from sluice.tools.local.stack import LocalStack
from tests.integration.local_api import delivered
from tests.integration.sam_build.conftest import ROOT
from tests.integration.sam_build.test_built_handlers import RUNTIME_PYTHON, runtime_folder


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """A stack of its own, in this process (its Firehose streams are what the extension writes to)."""
    with in_process_stack(ROOT) as local:
        yield local


def test_the_built_extension_delivers_what_it_took_at_shutdown(
    build: Path, local_stack: LocalStack, tmp_path: Path
) -> None:
    stack = local_stack
    # Given the built layer's one executable extension
    [executable] = extension_executables([build / "CaptureExtensionLayer"])
    assert executable.name == "sluice-capture" and executable.stat().st_mode & stat.S_IXUSR
    # And PredictFunction's environment as Lambda gives it to its extensions: python3 is the runtime's
    # (no venv), /opt/python is the built sluice layer plus the runtime's boto3
    config = stack.function_configuration("PredictFunction")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(RUNTIME_PYTHON)
    assert stack.enforcer is not None
    role = stack.enforcer.out_of_process_credentials(config["Role"], "built-extension")
    env = {
        **invocation_environment(
            config, stack.function_environment("PredictFunction"), region=stack.region, endpoint_url=None
        ),
        **outside_process_env(process_endpoint(None), role),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(build / "SluiceLayer" / "python"), str(runtime_folder(tmp_path))]),
        "PYTHONNOUSERSITE": "1",
        "TMPDIR": str(tmp_path),
    }
    logs = FunctionLogs()
    environment = ExtensionsEnvironment(
        "PredictFunction", [executable], env, logs, function_name=config["FunctionName"]
    )
    environment.start()
    try:
        # When an invocation captures two requests through the socket
        environment.invoke("r-1", 60_000, config["FunctionArn"])
        sink = RelayedCapture(
            FirehoseTraffic(env["CAPTURE_STREAM"], env["FEEDBACK_STREAM"], firehose=object()),
            str(tmp_path / SOCKET_NAME),
        )
        sink.write("built", "r-1", [{"model": "built", "request_id": "r-1", "instance": 0}])
        sink.write("built", "r-2", [{"model": "built", "request_id": "r-2", "instance": 0}])
        sink.close()
    finally:
        # And the environment shuts down
        environment.shutdown()
    # Then the extension exited, and both requests arrive through Firehose
    assert environment.running() == 0, logs.lines("PredictFunction")
    stack.flush_streams()
    records = [r for objects in delivered(stack, "capture/built/").values() for r in objects]
    assert sorted(r["request_id"] for r in records) == ["r-1", "r-2"], logs.lines("PredictFunction")
