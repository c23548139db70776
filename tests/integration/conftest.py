"""One local stack for the integration suite: template.yaml translated by the SAM translator, created
in moto's CloudFormation, handlers running in-process, the state machine run by moto's ASL engine.

Each test uses its own model name, so tests share the stack without sharing state; and what a test
leaves running (an execution waiting for approval, a canary, a queued delivery) is stopped after it
(`leaves_nothing_running`), so a failed test cannot make the next ones wait for it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

import sluice.observability  # noqa: F401  (see below)
from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.registry.store import Registry
from sluice.tools.local import free_port
from sluice.tools.local.in_process import in_process_stack
from sluice.tools.local.lambda_runtime.runtime import load_env_overrides
from sluice.tools.local.stack import LocalStack

# The Powertools logger writes to the sys.stdout of the moment it is created; in an invocation its lines
# go to the function's log (tools/local/function_logs.py), elsewhere (the CLI's own logs) to that stream:
# importing it here, at collection, makes it the session's capture, not the capsys stream of one test
# (closed after that test).
ROOT = Path(__file__).resolve().parents[2]
MAX_UPLOAD_BYTES = 200_000  # small, so the size-limit test needs no large file
# One valid credit-risk request instance, for the API tests.
INSTANCE = {
    "income": 52000.0,
    "age": 41,
    "debt_ratio": 0.35,
    "credit_lines": 4,
    "months_employed": 36,
    "segment": "retail",
    "region": "north",
}
EXAMPLE_SPEC = (ROOT / "examples" / "credit-risk" / "spec.yaml").read_text(encoding="utf-8")


def spec_text(model: str) -> str:
    """The credit-risk example spec under another name, with a small forest and gates sized for the
    few hundred rows the tests train on (fast, and deterministic for the seeds used)."""
    text = EXAMPLE_SPEC.replace("name: credit-risk", f"name: {model}")
    text = re.sub(
        r"algorithm: .*", "algorithm: {name: random_forest, params: {n_estimators: 15, max_depth: 5}}", text
    )
    return re.sub(r"gates: .*", "gates: {min_metric: 0.6, max_regression: 0.02}", text)


@dataclass
class Stack:
    """The deployed stack plus the shortcuts tests use."""

    local: LocalStack
    notifications_queue_url: str

    @property
    def outputs(self) -> dict[str, str]:
        return self.local.outputs

    def client(self, service: str) -> Any:
        return self.local.client(service)

    @property
    def registry(self) -> Registry:
        return Registry(self.outputs["RegistryTableName"], self.client("dynamodb"))

    @property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.outputs["ArtifactBucketName"], self.client("s3"))

    def upload(self, key: str, body: bytes) -> None:
        """Put an object in RawBucket, as a user would; EventBridge delivers it to IngestFunction."""
        self.client("s3").put_object(Bucket=self.outputs["RawBucketName"], Key=key, Body=body)

    def settle(self) -> list[dict[str, Any]]:
        """Wait for every delivery and execution; returns all executions of the state machine."""
        return self.local.wait_for_executions()

    def executions_of(self, model: str) -> list[dict[str, Any]]:
        return [e for e in self.settle() if e["name"].startswith(f"{model}-")]

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.client("stepfunctions").describe_execution(executionArn=execution_arn))

    def train(self, model: str, *datasets: tuple[str, bytes]) -> None:
        """Register the model's spec, then upload each dataset and wait for its run."""
        self.upload(f"{model}/spec.yaml", spec_text(model).encode())
        self.settle()
        for name, body in datasets:
            self.upload(f"{model}/data/{name}", body)
            self.settle()

    def scheduled_check(self) -> dict[str, Any]:
        """The schedule fires: DriftSchedule starts MonitoringStateMachine with {}; its output once it
        succeeded, {"models", "checked": [one check per production model], "dashboard"}."""
        arn = self.local.fire_schedules().executions["MonitoringStateMachine"]
        ended = self.local.execution_ended(arn)
        assert ended["status"] == "SUCCEEDED", ended
        result: dict[str, Any] = ended["result"]
        return result

    @contextlib.contextmanager
    def environment(self, function: str, **variables: str) -> Iterator[None]:
        """The function's handler, cold-started, with `variables` on top of its environment while inside;
        cold-started again with its own environment after (the stack is shared with the other tests)."""
        overrides = self.local.env_overrides
        saved = overrides.get(function)
        overrides[function] = {**(saved or {}), **variables}
        self.local.recycle(function)
        try:
            yield
        finally:
            if saved is None:
                overrides.pop(function, None)
            else:
                overrides[function] = saved
            self.local.recycle(function)

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS message published so far (the topic is subscribed to a queue), drained."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.notifications_queue_url, MaxNumberOfMessages=10)
            if not batch.get("Messages"):
                return messages
            for message in batch["Messages"]:
                envelope = json.loads(message["Body"])
                messages.append(
                    {"subject": envelope.get("Subject"), "message": json.loads(envelope["Message"])}
                )
                sqs.delete_message(
                    QueueUrl=self.notifications_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


# env.json (what `sluice local up` uses: capture everything), plus a small upload limit and an alias
# that is re-read on every request, so promotions reach the warm handler at once.
TEST_ENV = load_env_overrides(ROOT / "env.json")
TEST_ENV["IngestFunction"] = {**TEST_ENV.get("IngestFunction", {}), "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
TEST_ENV["PredictFunction"] = {
    **TEST_ENV.get("PredictFunction", {}),
    "ALIAS_TTL_SECONDS": "0",
    "ROLLOUT_FLUSH_SECONDS": "0",
}


# The console's user pool offers two-step sign-in (an authenticator app), which users take up one by one.
TEST_PARAMETERS = {"ConsoleMfa": "OPTIONAL"}


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    with in_process_stack(
        ROOT,
        stack_name="sluice-it",
        env_overrides=TEST_ENV,
        parameters=TEST_PARAMETERS,
    ) as local:
        sqs = local.client("sqs")
        queue_url = sqs.create_queue(QueueName="sluice-it-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        local.client("sns").subscribe(
            TopicArn=local.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=queue_arn
        )
        yield Stack(local=local, notifications_queue_url=queue_url)


@pytest.fixture(autouse=True)
def leaves_nothing_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the shared stack: EventBridge deliveries not started are dropped,
    executions still running are stopped (and the task tokens they wait on failed), so the next test's
    `settle()` waits only for its own work. What had to be stopped is reported as a warning."""
    if "stack" not in request.fixturenames:
        yield
        return
    shared: Stack = request.getfixturevalue("stack")
    yield
    left = shared.local.stop_leftovers(cause=f"left running by {request.node.nodeid}")
    if left["deliveries"] or left["executions"]:
        warnings.warn(f"{request.node.nodeid} left running (stopped after it): {left}", stacklevel=1)


# ------------------------------------------------------------------------------------------ sluice local up
SLUICE = str(Path(sys.executable).parent / "sluice")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One `sluice local up` process per module that tests it (test_local_up.py stops its own)."""
    state = tmp_path_factory.mktemp("local") / ".sluice" / "local.json"  # where `sluice predict` looks
    port, api_port = free_port(), free_port()
    process = local_up(port, api_port, state)
    assert process.stdout is not None
    ready = process.stdout.readline()
    try:
        yield {"ready": ready, "state": state, "port": port, "api_port": api_port, "process": process}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def local_up(
    port: int, api_port: int, state: Path, stderr: Any = subprocess.DEVNULL, extra: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    """`sluice local up` on these ports in a clean environment (no AWS settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [SLUICE, "local", "up", "--port", str(port), "--api-port", str(api_port)]
    command += ["--root", str(ROOT), "--state-file", str(state), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
