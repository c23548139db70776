"""How events reach the in-process functions: what AWS does that moto does not.

- Lambda: moto's `LambdaSimpleBackend.invoke` (boto3's invoke, Step Functions' Lambda integration) is
  routed to the function of the active local stack that owns it and run in-process; a failure comes
  back as a FunctionError (`x-amz-function-error`), an `Event` invocation is delivered asynchronously.
- EventBridge: moto's rules deliver to SQS, logs and buses but not to Lambda; matched events for Lambda
  targets are queued and delivered to the handler on a worker thread (asynchronously, as AWS does),
  with the target's retry policy and dead-letter queue.
- Schedules (`schedules`): a schedule rule matches no event (moto would match every one); it fires only when asked
  (`LocalStack.fire_schedules()`, or `sluice invoke` with the schedule's event): a Lambda target runs
  with a "Scheduled Event", a state machine target is started with the rule's Input, as the rule's role.
- Firehose: PutRecordBatch buffers into few large objects as Firehose does (`firehose`).
- DynamoDB: TransactWriteItems honours its ClientRequestToken, so an SDK retry of a transaction whose
  response was lost succeeds without applying it twice, as on AWS (`dynamodb_tokens`).
- Step Functions: a Lambda task whose invoke fails is named `Lambda.<error>` (moto says `Exception`),
  so the Retry fields match it as on AWS (`lambda_task_errors`).
- ECS: `runTask.sync` runs the task's command in a subprocess (tools/local/fargate.py).
- Step Functions: the end of each execution is signalled, so waits for executions need no polling;
  an execution waiting on a task token can be found and stopped (`executions`).
- Step Functions' SendTaskFailure: moto's handler drops the request's `cause`; it is passed on, so a
  Catch sees {"Error", "Cause"} as on AWS (a manual rollout's rejection carries its reason there).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

import boto3
from moto.core.config import DefaultConfig

from sluice.tools.local.deploy import Clients
from sluice.tools.local.dynamodb_tokens import idempotent_transactions, transactions_roll_back_their_items
from sluice.tools.local.executions import ACTIVITY, execution_end_signals
from sluice.tools.local.fargate import ecs_patches
from sluice.tools.local.faults import eventbridge_delivery
from sluice.tools.local.firehose.buffers import buffered_delivery
from sluice.tools.local.iam.hooks import moto_bucket_policies_ignored
from sluice.tools.local.lambda_runtime.runtime import Invocation
from sluice.tools.local.lambda_task_errors import lambda_task_error_names
from sluice.tools.local.template import SUBSTITUTION

# Step Functions executes ASL (moto's parser backend), and Lambda runs without Docker: its
# `LambdaSimpleBackend` is what `moto_patches` routes to the handlers.
MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# moto's Cognito checks authenticator-app (TOTP) codes only with this set (against one fixed secret,
# the one AssociateSoftwareToken answers every user): a wrong code is then refused as on AWS.
MOTO_ENVIRONMENT = {"MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true"}


@contextlib.contextmanager
def moto_settings() -> Iterator[None]:
    """moto's settings with MOTO_CONFIG applied, and as they were again on exit, whatever mocks started
    and stopped meanwhile: moto's own restore leaks when nested mocks end out of order, and a later
    mock_aws() of this process (a test's) would then run the state machines it starts, which moto's
    default leaves RUNNING. MOTO_ENVIRONMENT is set in os.environ meanwhile (moto reads it per call)."""
    from moto.core.config import default_user_config

    saved = copy.deepcopy(default_user_config)
    saved_environment = {k: os.environ.get(k) for k in MOTO_ENVIRONMENT}
    for service, values in MOTO_CONFIG.items():
        default_user_config.setdefault(service, {}).update(values)  # type: ignore[misc]
    os.environ.update(MOTO_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        settings = cast(dict[str, Any], default_user_config)
        settings.clear()
        settings.update(saved)


class RoutedStack(Protocol):
    """What moto's patched Lambda and EventBridge calls need of a local stack."""

    def logical_id_of(self, function_name_or_arn: str) -> str | None: ...

    def invoke(self, logical_id: str, event: Any) -> Invocation: ...

    def deliver(self, logical_id: str, event: dict[str, Any], target: dict[str, Any]) -> None: ...


class EventDelivery:
    """EventBridge's delivery to Lambda targets: queued and run on a worker thread, each event tried
    as the target's retry policy allows (at most 3 times), then recorded in `errors` and sent to the
    function's dead-letter queue (as its role, as Lambda does) or, failing that, the target's."""

    def __init__(
        self,
        invoke: Callable[[str, Any], Invocation],
        client: Clients,
        function_dead_letter: Callable[[str, dict[str, Any]], bool] | None = None,
    ) -> None:
        self._invoke = invoke
        self._client = client
        # Lambda's own dead-letter queue for a function's failed asynchronous invocations (sent as the
        # function's role, as Lambda does); True when the function has one and it took the message.
        self._function_dead_letter = function_dead_letter
        self._events: queue.Queue[tuple[str, dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self._pending: list[str] = []  # the function of each delivery queued or running
        self._pending_lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self.errors: list[dict[str, Any]] = []

    def deliver(self, logical_id: str, event: dict[str, Any], target: dict[str, Any]) -> None:
        """Queue an event for a Lambda target (asynchronous, like EventBridge)."""
        with self._pending_lock:
            self._pending.append(logical_id)
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._deliver_loop, name="sluice-eventbridge", daemon=True)
            self._worker.start()
        self._events.put((logical_id, event, target))

    @property
    def pending(self) -> list[str]:
        """The function of each delivery queued or running."""
        with self._pending_lock:
            return list(self._pending)

    def drain(self, timeout: float) -> None:
        """Wait until every queued delivery has been handled (woken by the worker as each ends)."""
        deadline = time.monotonic() + timeout
        with self._pending_lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self._pending)} event deliveries still pending after {timeout}s, to "
                        + ", ".join(self._pending)
                    )
                self._pending_lock.wait(remaining)

    def discard_queued(self) -> list[str]:
        """Forget the deliveries not started yet (the one running goes on); their functions."""
        discarded: list[str] = []
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            if item is None:  # close() asked the worker to stop: keep asking
                self._events.put(None)
                break
            discarded.append(item[0])
        with self._pending_lock:
            for logical_id in discarded:
                self._pending.remove(logical_id)
            self._pending_lock.notify_all()
        return discarded

    def close(self) -> None:
        """Stop the worker (waiting a little for the delivery it is running)."""
        if self._worker is not None and self._worker.is_alive():
            self._events.put(None)
            self._worker.join(timeout=5)

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
                    self._pending.remove(logical_id)
                    self._pending_lock.notify_all()
                ACTIVITY.notify()

    def _deliver_one(self, logical_id: str, event: dict[str, Any], target: dict[str, Any]) -> None:
        attempts = 1 + min(int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 2)), 2)
        result = Invocation(payload=None)
        with eventbridge_delivery() as delivery:  # with faults injected: EventBridge's invocations
            for _ in range(attempts):
                result = self._invoke(logical_id, event)
                if not result.failed:
                    return
            delivery.gave_up = True
        self.errors.append({"function": logical_id, "event": event, "error": result.error})
        message = {"event": event, "error": result.error}
        if self._function_dead_letter is not None and self._function_dead_letter(logical_id, message):
            return
        dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
        if dead_letter:
            queue_name = dead_letter.rsplit(":", 1)[-1]
            sqs = self._client("sqs")
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))


def send_to_function_dead_letter(stack: Any, logical_id: str, message: dict[str, Any]) -> bool:
    """Lambda's dead-letter queue for the function's failed asynchronous invocations: the message
    is sent with the function role's credentials, as Lambda sends it (False: the function has none)."""
    config = stack.function_configuration(logical_id)
    queue_url = _dead_letter_queue_url(stack, logical_id, config)
    if queue_url is None:
        return False
    credentials = stack.role_credentials(config["Role"], config["FunctionName"])
    sqs = boto3.session.Session().client(
        "sqs",
        region_name=stack.region,
        endpoint_url=stack.endpoint_url,
        aws_access_key_id=credentials.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=credentials.get("AWS_SECRET_ACCESS_KEY", "testing"),
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
    return True


def _dead_letter_queue_url(stack: Any, logical_id: str, config: dict[str, Any]) -> str | None:
    """The URL of the function's dead-letter queue: from Lambda's configuration, else from the
    template (moto's CloudFormation leaves DeadLetterConfig out of the function it creates)."""
    target = (config.get("DeadLetterConfig") or {}).get("TargetArn")
    if target:
        account, name = target.split(":")[4], target.rsplit(":", 1)[-1]
        url = stack.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        return str(url["QueueUrl"])
    declared = (stack.template.cloudformation["Resources"].get(logical_id) or {}) if stack.template else {}
    target_arn = ((declared.get("Properties") or {}).get("DeadLetterConfig") or {}).get("TargetArn")
    if isinstance(target_arn, dict) and "Fn::GetAtt" in target_arn:
        queue = target_arn["Fn::GetAtt"][0]
        return stack.physical.get(queue)  # a queue's physical id is its URL
    return None


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


# ------------------------------------------------------------------------------------------ moto patches
_ACTIVE: list[RoutedStack] = []


@contextlib.contextmanager
def routing_to(stack: RoutedStack) -> Iterator[None]:
    """While inside, moto's patched calls reach `stack`'s functions (the latest entered first)."""
    _ACTIVE.append(stack)
    try:
        yield
    finally:
        _ACTIVE.remove(stack)


def _stack_for(function_name: str) -> tuple[RoutedStack, str] | None:
    for stack in reversed(_ACTIVE):
        logical_id = stack.logical_id_of(function_name)
        if logical_id:
            return stack, logical_id
    return None


@contextlib.contextmanager
def moto_patches() -> Iterator[None]:
    """Route moto's Lambda invocations and EventBridge Lambda targets to the active local stacks."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.responses import EmptyResult
    from moto.events.models import Rule
    from moto.stepfunctions.responses import StepFunctionResponse

    original_invoke = LambdaSimpleBackend.invoke
    original_send = Rule.send_to_targets
    original_send_task_failure = StepFunctionResponse.send_task_failure

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

    def send_task_failure(self: Any) -> Any:
        # moto reads taskToken and error only; the ASL backend's send_task_failure takes the cause too.
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    try:
        # Firehose's buffering, which moto leaves out (see `firehose`); ECS tasks the state machine runs
        # (runTask.sync) run their command (see `fargate`); DynamoDB's idempotent transactions (see
        # `dynamodb_tokens`); Step Functions' names for a Lambda task's failed invoke (`lambda_task_errors`).
        with (
            buffered_delivery(),
            ecs_patches(lambda: _ACTIVE[-1] if _ACTIVE else None),
            idempotent_transactions(),
            transactions_roll_back_their_items(),  # without copying whole tables (`dynamodb_tokens`)
            lambda_task_error_names(),
            execution_end_signals(),  # waits for executions wake when one ends (`executions`)
            moto_bucket_policies_ignored(),  # local IAM evaluates them (see iam.enforcement)
        ):
            yield
    finally:
        LambdaSimpleBackend.invoke = original_invoke  # type: ignore[method-assign]
        Rule.send_to_targets = original_send  # type: ignore[method-assign]
        StepFunctionResponse.send_task_failure = original_send_task_failure  # type: ignore[method-assign]
