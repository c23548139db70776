"""The local stack: template.yaml created in moto's CloudFormation, with the gaps moto leaves filled in
from what the template declares.

- Lambda: moto's `LambdaSimpleBackend.invoke` is routed to the real handler, imported from the
  function's folder and run in-process with the function's environment as moto resolved it (so `!Ref`
  and `!GetAtt` values are the stack's physical names). An exception becomes a FunctionError whose
  errorType is the exception's class name, so the state machine's Retry and Catch see domain errors.
- EventBridge: moto's rules deliver to SQS, logs and buses but not to Lambda; matched events for Lambda
  targets are queued and delivered to the handler on a worker thread (asynchronously, as AWS does),
  with the target's retry policy and dead-letter queue.
- S3: buckets whose template enables EventBridge notifications or versioning get them through the S3
  API (moto's CloudFormation applies neither).
- Schedules: a schedule rule matches no event (moto would match every one); it fires only when asked
  (`fire_schedules()`, or `sluice invoke` with the schedule's event).

Use `in_process_stack()` (tests, `sluice invoke`) or `serve()` via `sluice local up` (HTTP).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import queue
import secrets
import sys
import threading
import time
import traceback
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto.core.config import DefaultConfig

from sluice.adapters import clear_clients
from sluice.local.http_api import LocalApi
from sluice.local.signing import AWS_IAM, ApiAuth
from sluice.local.template import SUBSTITUTION, FunctionCode, LocalTemplate, TemplateError, translate

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_STACK_NAME = "sluice-local"
CODE_BUCKET = "sluice-local-code"
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# Variables every in-process invocation gets, like the Lambda runtime sets them.
RUNTIME_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
}


class LocalStackError(TemplateError):
    """The local stack could not be created."""


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


def _zip_of(folder: Path) -> bytes:
    """A small placeholder archive for moto's Lambda (the code really runs from `folder`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SOURCE", str(folder))
    return buffer.getvalue()


class LocalStack:
    """One deployment of template.yaml into moto (the mock or a moto server must be running)."""

    def __init__(
        self,
        root: Path,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        endpoint_url: str | None = None,
        env_overrides: dict[str, dict[str, str]] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.parameters = dict(parameters or {})  # template parameter overrides (sam deploy's)
        # What the API front accepts: SigV4 with this pair (moto's), or this key in API_KEY mode.
        self.credentials = {"access_key_id": "testing", "secret_access_key": "testing"}
        self.api_key = secrets.token_hex(20)
        self.stack_name = stack_name
        self.region = region
        self.endpoint_url = endpoint_url
        self.env_overrides = env_overrides or {}
        self.template: LocalTemplate | None = None
        self.outputs: dict[str, str] = {}
        self.physical: dict[str, str] = {}  # logical id -> physical id
        self._by_function_name: dict[str, str] = {}  # function name -> logical id
        self._modules: dict[str, ModuleType] = {}
        self._env_lock = threading.RLock()
        self._events: queue.Queue[tuple[str, dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self._pending = 0
        self._pending_lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self.delivery_errors: list[dict[str, Any]] = []
        self._apis: list[LocalApi] = []
        self._session = boto3.session.Session()
        self._clients: dict[str, Any] = {}
        self._configs: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        """A client of the stack's endpoint (cached: creating clients is slow)."""
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service,  # type: ignore[call-overload]
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    # ------------------------------------------------------------------ deploy
    def deploy(self) -> dict[str, str]:
        """Translate and create the stack; returns its Outputs."""
        template = translate(
            self.root / "template.yaml",
            code_bucket=CODE_BUCKET,
            region=self.region,
            parameters=self.parameters,
        )
        self.template = template
        declared = template.sam.get("Parameters") or {}
        unknown = sorted(set(self.parameters) - set(declared))
        if unknown:
            raise LocalStackError(f"template.yaml declares no parameter {', '.join(unknown)}")
        s3 = self.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        for logical_id, folder in [
            *((f.logical_id, f.folder) for f in template.functions.values()),
            *template.layers.items(),
        ]:
            s3.put_object(Bucket=CODE_BUCKET, Key=f"{logical_id}.zip", Body=_zip_of(folder))
        cfn = self.client("cloudformation")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # moto warns for each resource type it skips
                cfn.create_stack(
                    StackName=self.stack_name,
                    TemplateBody=json.dumps(template.cloudformation),
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()],
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                )
        except RecursionError as exc:  # pragma: no cover - check_cycles reports cycles first
            raise LocalStackError("CloudFormation recursed: the template has a dependency cycle") from exc
        stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise LocalStackError(
                f"stack {self.stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}"
            )
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        paginator = cfn.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for resource in page["StackResourceSummaries"]:
                if resource.get("PhysicalResourceId"):
                    self.physical[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
        for logical_id in template.functions:
            name = self.physical.get(logical_id)
            if not name:
                raise LocalStackError(f"{logical_id} was not created by moto")
            self._by_function_name[name.rsplit(":", 1)[-1]] = logical_id
        self._enable_bucket_eventbridge()
        self._mirror_state_machines()
        return self.outputs

    def _mirror_state_machines(self) -> None:
        """moto's CloudFormation creates state machines in the plain Step Functions backend; with
        `execute_state_machine` the API serves the ASL-executing backend. Create each one there under
        the same name (so the same ARN), which also validates its definition."""
        from moto.stepfunctions.models import stepfunctions_backends
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        assert self.template is not None
        plain = stepfunctions_backends[ACCOUNT_ID][self.region]
        executing = stepfunctions_parser_backends[ACCOUNT_ID][self.region]
        for logical_id, resource in self.template.cloudformation["Resources"].items():
            if resource.get("Type") != "AWS::StepFunctions::StateMachine":
                continue
            machine = plain.describe_state_machine(self.physical[logical_id])
            try:
                created = executing.create_state_machine(
                    name=machine.name,
                    definition=machine.definition,
                    roleArn=machine.roleArn,
                    sm_type=machine.type,
                )
            except Exception as exc:
                raise LocalStackError(
                    f"{logical_id}: moto rejects the state machine definition: {exc}"
                ) from exc
            if created.arn != self.physical[logical_id]:
                raise LocalStackError(
                    f"{logical_id}: ARN {created.arn} differs from {self.physical[logical_id]}"
                )

    def attach(self) -> dict[str, str]:
        """Use a stack deployed earlier at `endpoint_url` (a running `sluice local up`) instead of
        creating one: its resources and outputs are read from CloudFormation."""
        self.template = translate(
            self.root / "template.yaml",
            code_bucket=CODE_BUCKET,
            region=self.region,
            parameters=self.parameters,
        )
        cfn = self.client("cloudformation")
        try:
            stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except Exception as exc:
            raise LocalStackError(f"no stack {self.stack_name!r} at {self.endpoint_url}: {exc}") from exc
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=self.stack_name):
            for resource in page["StackResourceSummaries"]:
                if resource.get("PhysicalResourceId"):
                    self.physical[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
        return self.outputs

    def _enable_bucket_eventbridge(self) -> None:
        assert self.template is not None
        s3 = self.client("s3")
        for logical_id, resource in self.template.cloudformation["Resources"].items():
            if resource.get("Type") != "AWS::S3::Bucket":
                continue
            config = resource.get("Properties", {}).get("NotificationConfiguration", {})
            if config.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true", "True"):
                s3.put_bucket_notification_configuration(
                    Bucket=self.physical[logical_id],
                    NotificationConfiguration={"EventBridgeConfiguration": {}},
                )
            # moto's CloudFormation ignores VersioningConfiguration: without it every upload of a key
            # has the version id "null", so re-uploading a file looks like a duplicate event.
            versioning = resource.get("Properties", {}).get("VersioningConfiguration", {})
            if versioning.get("Status") in ("Enabled", "Suspended"):
                s3.put_bucket_versioning(
                    Bucket=self.physical[logical_id],
                    VersioningConfiguration={"Status": versioning["Status"]},
                )

    # ------------------------------------------------------------------ functions
    def function_code(self, logical_id: str) -> FunctionCode:
        if self.template is None or logical_id not in self.template.functions:
            known = sorted(self.template.functions) if self.template else []
            raise LocalStackError(
                f"no function {logical_id!r} in template.yaml (functions: {', '.join(known)})"
            )
        return self.template.functions[logical_id]

    def function_configuration(self, logical_id: str) -> dict[str, Any]:
        """The function as moto created it (name, ARN, memory, timeout, resolved environment)."""
        if logical_id not in self._configs:
            self._configs[logical_id] = dict(
                self.client("lambda").get_function_configuration(FunctionName=self.physical[logical_id])
            )
        return self._configs[logical_id]

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The function's variables as moto resolved them, then env.json overrides."""
        config = self.function_configuration(logical_id)
        variables = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
        variables.update(self.env_overrides.get(logical_id, {}))
        return variables

    def _handler(self, code: FunctionCode) -> Callable[[Any, Any], Any]:
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

    def recycle(self, logical_id: str) -> None:
        """Forget the function's loaded module, so its next invocation is a cold start (as when Lambda
        starts a new execution environment)."""
        self._modules.pop(logical_id, None)

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        """Run the function's handler once, in-process, with its environment."""
        code = self.function_code(logical_id)
        config = self.function_configuration(logical_id)
        env = {**RUNTIME_ENV, **self.function_environment(logical_id)}
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
            }
        )
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        context = LambdaContext(
            function_name=config["FunctionName"],
            invoked_function_arn=config["FunctionArn"],
            memory_limit_in_mb=int(config.get("MemorySize", 128)),
            timeout_seconds=int(config.get("Timeout", 3)),
        )
        with self._env_lock, _patched_environ(env), _stdout_to_stderr(self.endpoint_url is not None):
            try:
                handler = self._handler(code)
                payload = handler(json.loads(json.dumps(event)), context)
            except Exception as exc:  # every failure becomes a FunctionError, as in Lambda
                return Invocation(
                    payload=None,
                    error={
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "stackTrace": traceback.format_exception(exc)[-8:],
                    },
                )
        return Invocation(payload=payload)

    def logical_id_of(self, function_name_or_arn: str) -> str | None:
        name = function_name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        return self._by_function_name.get(name)

    # ------------------------------------------------------------------ EventBridge deliveries
    def deliver(self, logical_id: str, event: dict[str, Any], target: dict[str, Any]) -> None:
        """Queue an event for a Lambda target (asynchronous, like EventBridge)."""
        with self._pending_lock:
            self._pending += 1
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._deliver_loop, name="sluice-eventbridge", daemon=True)
            self._worker.start()
        self._events.put((logical_id, event, target))

    def _deliver_loop(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            logical_id, event, target = item
            try:
                self._deliver_one(logical_id, event, target)
            finally:
                with self._pending_lock:
                    self._pending -= 1
                    self._pending_lock.notify_all()

    def _deliver_one(self, logical_id: str, event: dict[str, Any], target: dict[str, Any]) -> None:
        attempts = 1 + min(int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 2)), 2)
        result = Invocation(payload=None)
        for _ in range(attempts):
            result = self.invoke(logical_id, event)
            if not result.failed:
                return
        self.delivery_errors.append({"function": logical_id, "event": event, "error": result.error})
        dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
        if dead_letter:
            queue_name = dead_letter.rsplit(":", 1)[-1]
            sqs = self.client("sqs")
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"event": event, "error": result.error}))

    def drain(self, timeout: float = 120.0) -> None:
        """Wait until every queued EventBridge delivery has been handled."""
        deadline = time.monotonic() + timeout
        with self._pending_lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._pending} event deliveries still pending after {timeout}s")
                self._pending_lock.wait(remaining)

    def wait_for_executions(self, timeout: float = 300.0, poll: float = 0.1) -> list[dict[str, Any]]:
        """Drain deliveries, then wait until no execution of the stack's state machines is running."""
        self.drain(timeout)
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        machines = [
            self.physical[lid]
            for lid, r in (self.template.cloudformation["Resources"].items() if self.template else [])
            if r.get("Type") == "AWS::StepFunctions::StateMachine"
        ]
        while True:
            pages = sfn.get_paginator("list_executions")
            executions = [
                e
                for arn in machines
                for page in pages.paginate(stateMachineArn=arn)
                for e in page["executions"]
            ]
            if all(e["status"] != "RUNNING" for e in executions):
                return executions
            if time.monotonic() > deadline:
                raise TimeoutError("state machine executions still running")
            time.sleep(poll)

    # ------------------------------------------------------------------ API and schedules
    @property
    def api_auth(self) -> str:
        """How the API authenticates callers: the `ApiAuth` parameter (override, else its default)."""
        declared = ((self.template.sam.get("Parameters") or {}) if self.template else {}).get("ApiAuth") or {}
        return str(self.parameters.get("ApiAuth", declared.get("Default", AWS_IAM)))

    def serve_api(self, port: int = 3000, host: str = "127.0.0.1", auth: str | None = None) -> LocalApi:
        """Serve the template's `Api` routes over HTTP, each request run by its function in-process
        (API Gateway itself is left out of the moto deployment; see `strip_api_gateway`). Every route
        but the open ones needs SigV4 with `credentials` or, in API_KEY mode, `api_key` (`auth`
        overrides the stack's `api_auth`)."""
        from sluice.local.http_api import LocalApi, api_routes

        assert self.template is not None
        checks = ApiAuth(
            mode=auth or self.api_auth,
            region=self.region,
            secrets={self.credentials["access_key_id"]: self.credentials["secret_access_key"]},
            api_key=self.api_key,
        )

        def invoke(logical_id: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
            outcome = self.invoke(logical_id, event)
            return outcome.payload, outcome.error

        api = LocalApi(api_routes(self.template.sam), invoke, host=host, port=port, auth=checks).start()
        self._apis.append(api)
        return api

    def scheduled_functions(self) -> dict[str, list[str]]:
        """Functions with `Schedule` events in the template, with their schedule expressions."""
        assert self.template is not None
        found: dict[str, list[str]] = {}
        for logical_id, resource in self.template.sam.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in (resource.get("Properties", {}).get("Events") or {}).values():
                if event.get("Type") in ("Schedule", "ScheduleV2"):
                    expression = event.get("Properties", {}).get("Schedule") or event.get(
                        "Properties", {}
                    ).get("ScheduleExpression")
                    found.setdefault(logical_id, []).append(str(expression))
        return found

    def fire_schedules(self) -> dict[str, Invocation]:
        """Run every scheduled function once now with an EventBridge "Scheduled Event" (moto's
        EventBridge never fires schedules)."""
        results = {}
        for logical_id in self.scheduled_functions():
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT_ID,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": self.region,
                "resources": [
                    f"arn:aws:events:{self.region}:{ACCOUNT_ID}:rule/{self.stack_name}-{logical_id}"
                ],
                "detail": {},
            }
            results[logical_id] = self.invoke(logical_id, event)
        return results

    def close(self) -> None:
        for api in self._apis:
            api.stop()
        self._apis.clear()
        if self._worker is not None and self._worker.is_alive():
            self._events.put(None)
            self._worker.join(timeout=5)


@contextlib.contextmanager
def _patched_environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _stdout_to_stderr(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with handler_output_to_stderr():
        yield


@contextlib.contextmanager
def handler_output_to_stderr() -> Iterator[None]:
    """Send what handlers write to stdout (Powertools logs, EMF metrics) to stderr, as `sam local
    invoke` does, so this process's stdout carries only its own result."""
    import logging

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


# ------------------------------------------------------------------------------------------ moto patches
_ACTIVE: list[LocalStack] = []


def _stack_for(function_name: str) -> tuple[LocalStack, str] | None:
    for stack in reversed(_ACTIVE):
        logical_id = stack.logical_id_of(function_name)
        if logical_id:
            return stack, logical_id
    return None


@contextlib.contextmanager
def moto_patches() -> Iterator[None]:
    """Route moto's Lambda invocations and EventBridge Lambda targets to the active local stacks."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.events.models import Rule

    original_invoke = LambdaSimpleBackend.invoke
    original_send = Rule.send_to_targets

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes | None:
        found = _stack_for(self.get_function(function_name, qualifier).function_name)
        if found is None:
            result = original_invoke(self, function_name, qualifier, body, headers, response_headers)
            return result.encode() if isinstance(result, str) else result
        stack, logical_id = found
        event = json.loads(body) if body else {}
        if headers.get("X-Amz-Invocation-Type") == "Event":
            stack.deliver(logical_id, event, {})
            return b""
        outcome = stack.invoke(logical_id, event)
        if outcome.failed:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(outcome.error).encode()
        return json.dumps(outcome.payload).encode()

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        # A schedule rule has no event pattern, which moto's matcher reads as "match everything";
        # on AWS it matches no event at all (it only fires on its schedule, which moto never does).
        if getattr(self, "scheduled_expression", None) or not self.event_pattern.matches_event(
            original_event
        ):
            return
        others = []
        for target in self.targets:
            found = _stack_for(target["Arn"]) if ":lambda:" in target["Arn"] else None
            if found is None:
                others.append(target)
                continue
            stack, logical_id = found
            event = json.loads(target["Input"]) if "Input" in target else dict(original_event)
            stack.deliver(logical_id, event, target)
        if others:
            saved = self.targets
            self.targets = others
            try:
                original_send(self, original_event, transform_input)
            finally:
                self.targets = saved

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaSimpleBackend.invoke = original_invoke  # type: ignore[method-assign]
        Rule.send_to_targets = original_send  # type: ignore[method-assign]


@contextlib.contextmanager
def deployed(stack: LocalStack) -> Iterator[LocalStack]:
    """Deploy a stack and make it the target of moto's patched Lambda and EventBridge calls (inside
    `moto_patches()` and a mock or server); close it and forget it on exit."""
    clear_clients()
    _ACTIVE.append(stack)
    try:
        stack.deploy()
        yield stack
    finally:
        stack.close()
        _ACTIVE.remove(stack)
        clear_clients()


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


def resolve_placeholders(value: Any, outputs: dict[str, str]) -> Any:
    """Replace `${OutputName}` in an event's strings with the stack's output values (events in events/
    name buckets and ARNs this way, since every deployment names them differently)."""
    if isinstance(value, str):
        return SUBSTITUTION.sub(lambda m: outputs.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: resolve_placeholders(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_placeholders(v, outputs) for v in value]
    return value


@contextlib.contextmanager
def in_process_stack(
    root: Path,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    env_overrides: dict[str, dict[str, str]] | None = None,
    parameters: dict[str, str] | None = None,
) -> Iterator[LocalStack]:
    """A fresh moto mock with the stack deployed (with template `parameters` overridden); everything
    runs in this process."""
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", *RUNTIME_ENV)}
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(RUNTIME_ENV)
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    stack = LocalStack(root, stack_name=stack_name, env_overrides=env_overrides, parameters=parameters)
    try:
        with mock_aws(config=MOTO_CONFIG), moto_patches(), deployed(stack):
            yield stack
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
