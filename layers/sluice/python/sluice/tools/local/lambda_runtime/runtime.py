"""The in-process Lambda runtime: a function's handler imported from its folder and run in this
process, with the function's environment as moto resolved it (so `!Ref` and `!GetAtt` values are the
stack's physical names), env.json overrides on top, and a context like Lambda's. An exception becomes
a FunctionError whose errorType is the exception's class name, so a state machine's Retry and Catch
see domain errors. What a handler writes goes to its function's log (`function_logs`), as on Lambda,
not to the invoker's stdout. With faults injected (`faults`), an invocation may be stopped as Lambda
stops one at its timeout: it answers `Sandbox.Timedout`, and the next one starts cold.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sluice.tools.local.deploy import LocalStackError
from sluice.tools.local.environ import invocation_environ
from sluice.tools.local.executions import ACTIVITY
from sluice.tools.local.faults import TIMED_OUT, InvocationKilled, timed_out, watch_invocation
from sluice.tools.local.function_logs import FunctionLogs
from sluice.tools.local.lambda_runtime.extensions import ExtensionsEnvironment
from sluice.tools.local.template import FunctionCode

# Variables every in-process invocation gets, like the Lambda runtime sets them.
RUNTIME_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
}


# The role's temporary credentials: they change with each session, not with the configuration
CREDENTIALS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


@dataclass
class LambdaContext:
    """What a handler's `context` argument offers (the parts Powertools and handlers use)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_seconds: int = 3
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, configuration: dict[str, Any]) -> LambdaContext:
        """The context of one invocation of the function Lambda's `configuration` describes."""
        return cls(
            function_name=configuration["FunctionName"],
            invoked_function_arn=configuration["FunctionArn"],
            memory_limit_in_mb=int(configuration.get("MemorySize", 128)),
            timeout_seconds=int(configuration.get("Timeout", 3)),
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


@dataclass
class Invocation:
    """The result of one in-process invocation."""

    payload: Any
    error: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def timed_out(self) -> bool:
        return self.error is not None and self.error.get("errorType") == TIMED_OUT


def invocation_environment(
    configuration: dict[str, Any], variables: dict[str, str], *, region: str, endpoint_url: str | None
) -> dict[str, str]:
    """What os.environ holds while the function runs: RUNTIME_ENV, its `variables`, and what Lambda
    sets from its `configuration` (plus AWS_ENDPOINT_URL when the stack is behind one)."""
    env = {**RUNTIME_ENV, **variables}
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": configuration["FunctionName"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
        }
    )
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def load_env_overrides(path: Path) -> dict[str, dict[str, str]]:
    """An env.json (the `sam local invoke --env-vars` file): {LogicalId: {VAR: value}} plus optional
    "Parameters" applied to every function. A missing file means no overrides."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    shared = {k: str(v) for k, v in data.get("Parameters", {}).items()}
    return {
        key: {**shared, **{k: str(v) for k, v in values.items()}}
        for key, values in data.items()
        if key != "Parameters" and isinstance(values, dict)
    }


@dataclass
class ExecutionEnvironment:
    """What a function's execution environment holds beside its handler's module, for a function with
    external extensions: its own /tmp (TMPDIR, shared by the handler and the extensions, as /tmp is on
    Lambda) and the extensions' processes."""

    tmp: Path
    extensions: ExtensionsEnvironment

    def close(self, reason: str) -> None:
        try:
            self.extensions.shutdown(reason)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


class HandlerRuntime:
    """Runs handlers in this process, one at a time (each sets os.environ to its function's), except
    invocations of a `concurrent` function (one a Map state fans out to), which run together when they
    overlap, as Lambda runs them in environments of their own (their os.environ is the same). A
    function's module is imported on its first invocation and kept, as a warm Lambda keeps it, until
    `recycle`. What a handler writes goes to its function's log (`logs`, see `function_logs`), which
    with `output_to_stderr` is also written to stderr, each line prefixed with the function."""

    def __init__(self, *, output_to_stderr: bool, concurrent: frozenset[str] = frozenset()) -> None:
        self.logs = FunctionLogs(echo=output_to_stderr)
        self.concurrent = concurrent
        self._modules: dict[str, ModuleType] = {}
        self._environments: dict[str, ExecutionEnvironment] = {}
        self._configurations: dict[str, frozenset[tuple[str, str]]] = {}  # what each was started with
        self._import_lock = threading.Lock()
        self._gate = _EnvironmentGate()

    def most_at_once(self, logical_id: str) -> int:
        """The most invocations of a function a Map fans out to (`concurrent`) that have run together so
        far: up to the Map's MaxConcurrency, as Lambda would run them in environments of their own."""
        return self._gate.most_at_once.get(logical_id, 0)

    def run(
        self,
        code: FunctionCode,
        event: Any,
        env: dict[str, str],
        context: LambdaContext,
        *,
        extensions: list[Path] | None = None,
        process_env: Callable[[], dict[str, str]] | None = None,
    ) -> Invocation:
        """Invoke the handler once with `event` (as JSON would carry it) inside `env`; whatever it
        raises, importing included, is the Invocation's error. A function with `extensions` (the
        executables of its layers' extensions/) runs them beside it (`extensions.py`), started on the
        environment's first invocation with `env` and `process_env()` (what a process outside this one
        needs to reach the stack: its endpoint, its role's credentials)."""
        shared = code.logical_id if code.logical_id in self.concurrent else None
        with self._gate.entered(env, shared):
            configuration = frozenset((k, v) for k, v in env.items() if k not in CREDENTIALS)
            if self._configurations.setdefault(code.logical_id, configuration) != configuration:
                self.recycle(code.logical_id)  # a configuration change: Lambda starts new environments
                self._configurations[code.logical_id] = configuration
            if extensions:
                try:
                    environment = self._environment(code, env, context, extensions, process_env)
                except LocalStackError as exc:  # Lambda fails the invocation and resets the environment
                    self.recycle(code.logical_id, "failure")
                    return Invocation(
                        payload=None, error={"errorType": "Extension.InitError", "errorMessage": str(exc)}
                    )
                env = {**env, "TMPDIR": str(environment.tmp)}
                environment.extensions.invoke(
                    context.aws_request_id,
                    int((time.time() + context.get_remaining_time_in_millis() / 1000) * 1000),
                    context.invoked_function_arn,
                )
            return self._run(code, event, env, context)

    def _run(self, code: FunctionCode, event: Any, env: dict[str, str], context: LambdaContext) -> Invocation:
        with (
            invocation_environ(env),  # this invocation's variables, seen by its threads only
            self.logs.invocation(code.logical_id, context.aws_request_id),  # what it writes: its log
            watch_invocation(code.logical_id, context) as watch,  # faults, when injected
        ):
            try:
                invocation = watch.ended(self._call(code, event, context))
            finally:
                ACTIVITY.notify()  # whoever waits for a change in the stack's state looks again
        if invocation.timed_out:  # Lambda starts the next invocation in a new environment
            self.recycle(code.logical_id, "timeout")
        return invocation

    def _environment(
        self,
        code: FunctionCode,
        env: dict[str, str],
        context: LambdaContext,
        executables: list[Path],
        process_env: Callable[[], dict[str, str]] | None,
    ) -> ExecutionEnvironment:
        """The function's execution environment; a new one (its extensions started: Init) when it has
        none yet."""
        environment = self._environments.get(code.logical_id)
        if environment is None:
            self._modules.pop(code.logical_id, None)  # a new environment imports the handler afresh
            tmp = Path(tempfile.mkdtemp(prefix=f"sluice-{code.logical_id[:24]}-"))
            extensions = ExtensionsEnvironment(
                code.logical_id,
                executables,
                {**env, **(process_env() if process_env else {}), "TMPDIR": str(tmp)},
                self.logs,
                function_name=context.function_name,
            )
            environment = ExecutionEnvironment(tmp, extensions)
            try:
                extensions.start()
            except LocalStackError:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._environments[code.logical_id] = environment
        return environment

    def _call(self, code: FunctionCode, event: Any, context: LambdaContext) -> Invocation:
        try:
            handler = self._handler(code)
            payload = handler(json.loads(json.dumps(event)), context)
        except InvocationKilled:  # stopped as Lambda stops a handler at its timeout
            return Invocation(payload=None, error=timed_out(context))
        except Exception as exc:  # every failure becomes a FunctionError, as in Lambda
            return Invocation(
                payload=None,
                error={
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_exception(exc)[-8:],
                },
            )
        return Invocation(payload=payload)

    def recycle(self, logical_id: str, reason: str = "spindown") -> None:
        """Forget the function's loaded module, so its next invocation is a cold start (as when Lambda
        starts a new execution environment); its extensions get SHUTDOWN with `reason` first."""
        self._modules.pop(logical_id, None)
        environment = self._environments.pop(logical_id, None)
        if environment is not None:
            environment.close(reason)

    def spin_down_extended(self) -> list[str]:
        """Shut down every environment that runs extensions (as Lambda spins idle ones down); the
        functions it recycled."""
        recycled = sorted(self._environments)
        for logical_id in recycled:
            self.recycle(logical_id)
        return recycled

    def _handler(self, code: FunctionCode) -> Callable[[Any, Any], Any]:
        with self._import_lock:
            return self._imported_handler(code)

    def _imported_handler(self, code: FunctionCode) -> Callable[[Any, Any], Any]:
        module = self._modules.get(code.logical_id)
        if module is None:
            spec = importlib.util.spec_from_file_location(
                f"sluice_local_fn_{code.logical_id}", code.module_file
            )
            if spec is None or spec.loader is None:
                raise LocalStackError(f"{code.logical_id}: cannot import {code.module_file}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._modules[code.logical_id] = module
        handler: Callable[[Any, Any], Any] = getattr(module, code.function_name)
        return handler


class _EnvironmentGate:
    """One invocation at a time, or several invocations of the same `shared` function (which Lambda
    would run in environments of their own: a Map's fan-out); each waits for the gate to be free."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._holder: str | None = None  # the shared function inside, None for a single invocation
        self._inside = 0
        self.most_at_once: dict[str, int] = {}  # a shared function: the most invocations inside together

    @contextlib.contextmanager
    def entered(self, env: dict[str, str], shared: str | None) -> Iterator[None]:
        with self._changed:
            while self._inside and (shared is None or self._holder != shared):
                self._changed.wait()
            if not self._inside:
                self._holder = shared
            self._inside += 1
            if shared is not None:
                self.most_at_once[shared] = max(self.most_at_once.get(shared, 0), self._inside)
        try:
            yield
        finally:
            with self._changed:
                self._inside -= 1
                if not self._inside:
                    self._holder = None
                    self._changed.notify_all()


@contextlib.contextmanager
def handler_output_to_stderr() -> Iterator[None]:
    """Send what handlers write to stdout (Powertools logs, EMF metrics) to stderr, as `sam local
    invoke` does, so this process's stdout carries only its own result."""
    from sluice.observability import SERVICE

    handlers = [h for h in logging.getLogger(SERVICE).handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(sys.stderr) for h in handlers]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)
