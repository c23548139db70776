"""The local runtime's Extensions API, as Lambda runs external extensions: the Init phase waits for
every extension to register and ask for its next event, each invocation hands them INVOKE and the next
one waits until they are done, SHUTDOWN comes once they are idle, and an extension that does not exit
by the deadline is killed. The extension here is a small script that writes each event it gets to a
file, as a real one would act on it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sluice.tools.local.deploy import LocalStackError
from sluice.tools.local.function_logs import FunctionLogs
from sluice.tools.local.lambda_runtime.extensions import ExtensionsEnvironment, extension_executables

EXTENSION = f"""#!{sys.executable}
import json, os, sys, time, urllib.request
mode = os.environ["MODE"]
events = open(os.environ["EVENTS_FILE"], "a")
if mode == "exits":
    sys.exit(3)
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
request = urllib.request.Request(base + "/register", data=json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}).encode(),
                                 headers={{"Lambda-Extension-Name": "recorder"}}, method="POST")
identifier = urllib.request.urlopen(request).headers["Lambda-Extension-Identifier"]
print("registered", flush=True)
while True:
    ask = urllib.request.Request(base + "/event/next", headers={{"Lambda-Extension-Identifier": identifier}})
    event = json.loads(urllib.request.urlopen(ask).read())
    events.write(json.dumps(event) + "\\n"); events.flush()
    if event["eventType"] == "SHUTDOWN":
        if mode == "stubborn":
            time.sleep(60)
        sys.exit(0)
    time.sleep(0.2)  # works after the handler's answer, before asking again
    events.write(json.dumps({{"done": event["requestId"]}}) + "\\n"); events.flush()
"""


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    """A layer folder whose extensions/ holds the recording extension (and a file that is not one)."""
    folder = tmp_path / "layer"
    (folder / "extensions").mkdir(parents=True)
    script = folder / "extensions" / "recorder"
    script.write_text(EXTENSION)
    script.chmod(0o755)
    (folder / "extensions" / "README").write_text("not executable")
    return folder


def _environment(layer: Path, tmp_path: Path, mode: str, logs: FunctionLogs) -> ExtensionsEnvironment:
    return ExtensionsEnvironment(
        "PredictFunction",
        extension_executables([layer, tmp_path / "no-such-layer"]),
        {"MODE": mode, "EVENTS_FILE": str(tmp_path / "events.jsonl"), "PATH": "/usr/bin:/bin"},
        logs,
        function_name="sluice-predict",
        shutdown_deadline=0.5,
    )


def _events(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]


@pytest.fixture
def logs() -> FunctionLogs:
    return FunctionLogs()


def test_invocations_hand_invoke_in_turn_and_shutdown_ends_the_extension(
    layer: Path, tmp_path: Path, logs: FunctionLogs
) -> None:
    # Given the layer's one executable extension, started (Init)
    environment = _environment(layer, tmp_path, "normal", logs)
    assert [p.name for p in environment.executables] == ["recorder"]
    environment.start()
    # When two invocations start, one after the other
    environment.invoke("r-1", 1_000, "arn:aws:lambda:us-east-1:123456789012:function:sluice-predict")
    environment.invoke("r-2", 2_000, "arn:aws:lambda:us-east-1:123456789012:function:sluice-predict")
    # And the environment shuts down
    environment.shutdown()
    # Then the extension got INVOKE r-1, finished it before INVOKE r-2, then SHUTDOWN (spindown), and exited
    events = _events(tmp_path)
    assert [e.get("eventType") or f"done {e['done']}" for e in events] == [
        "INVOKE",
        "done r-1",
        "INVOKE",
        "done r-2",
        "SHUTDOWN",
    ]
    assert (events[0]["requestId"], events[0]["deadlineMs"]) == ("r-1", 1_000)
    assert events[4]["shutdownReason"] == "spindown"
    # And what it printed is in the function's log
    assert "registered" in logs.lines("PredictFunction")


def test_an_extension_that_exits_at_init_fails_it(layer: Path, tmp_path: Path, logs: FunctionLogs) -> None:
    # Given an extension that exits before registering / When the environment starts / Then Init fails
    environment = _environment(layer, tmp_path, "exits", logs)
    with pytest.raises(LocalStackError, match=r"Extension\.InitError: an extension exited"):
        environment.start()


def test_an_extension_still_running_after_the_shutdown_deadline_is_killed(
    layer: Path, tmp_path: Path, logs: FunctionLogs
) -> None:
    # Given an extension that ignores SHUTDOWN
    environment = _environment(layer, tmp_path, "stubborn", logs)
    environment.start()
    # When the environment shuts down / Then the process is gone after the deadline
    environment.shutdown("timeout")
    assert all(process.poll() is not None for process in environment._processes)
    assert _events(tmp_path)[-1] == {
        "eventType": "SHUTDOWN",
        "shutdownReason": "timeout",
        "deadlineMs": _events(tmp_path)[-1]["deadlineMs"],
    }
