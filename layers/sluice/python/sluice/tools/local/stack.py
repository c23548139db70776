"""The local stack: template.yaml deployed into moto (`deploy`), its functions run in this process
(`runtime`), and the events moto does not deliver delivered (`events`); `LocalStack` puts them
together for tests, `sluice invoke` and `sluice local up`.

Use `in_process.in_process_stack()` (tests, `sluice invoke`) or `serve()` via `sluice local up` (HTTP).
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3

from sluice.adapters import clear_clients
from sluice.adapters.prediction_api import AWS_IAM
from sluice.tools.local.api.cognito import CognitoAuth, local_user_pools
from sluice.tools.local.api.gateway import LocalApi
from sluice.tools.local.api.signing import ApiAuth
from sluice.tools.local.console.cognito import console_users
from sluice.tools.local.deploy import (
    ACCOUNT_ID,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    Deployment,
    LocalStackError,
    create_stack,
    read_stack,
    translate_template,
)
from sluice.tools.local.events import EventDelivery, routing_to, send_to_function_dead_letter
from sluice.tools.local.executions import StackExecutions, wait_until
from sluice.tools.local.fargate import process_endpoint
from sluice.tools.local.firehose.buffers import delivery
from sluice.tools.local.iam.enforcement import Enforcer
from sluice.tools.local.lambda_runtime.extensions import extension_executables, outside_process_env
from sluice.tools.local.lambda_runtime.runtime import (
    HandlerRuntime,
    Invocation,
    LambdaContext,
    invocation_environment,
)
from sluice.tools.local.schedules import FiredSchedules, ScheduleTarget, schedule_targets, scheduled_event
from sluice.tools.local.template import FunctionCode, LocalTemplate

T = TypeVar("T")


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
        enforcer: Enforcer | None = None,
    ) -> None:
        self.root = root.resolve()
        # IAM as AWS evaluates it, per principal (None: `--iam off`, every call allowed as moto does)
        self.enforcer = enforcer
        self.parameters = dict(parameters or {})  # template parameter overrides (sam deploy's)
        # What the API front accepts: SigV4 with this pair (moto's), or this key in API_KEY mode.
        self.credentials = {"access_key_id": "testing", "secret_access_key": "testing"}
        self.api_key = secrets.token_hex(20)
        self.stack_name = stack_name
        self.region = region
        self.endpoint_url = endpoint_url
        self.env_overrides = env_overrides or {}
        self.deployment: Deployment | None = None
        self._runtime = HandlerRuntime(output_to_stderr=endpoint_url is not None)
        self._delivery = EventDelivery(
            self.invoke,
            self.client,
            lambda logical_id, message: send_to_function_dead_letter(self, logical_id, message),
        )
        self._executions = StackExecutions(
            lambda: self.client("stepfunctions"),
            lambda: self.deployment.state_machine_arns() if self.deployment else [],
            self._delivery,
            ACCOUNT_ID,
            region,
        )
        self._apis: list[LocalApi] = []
        self._usage_written = 0
        _OPEN.add(self)
        self._session = boto3.session.Session()
        self._clients: dict[str, Any] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._extensions: dict[str, list[Path]] = {}
        self._console_users: list[dict[str, str]] = []

    @property
    def template(self) -> LocalTemplate | None:
        return self.deployment.template if self.deployment else None

    @property
    def outputs(self) -> dict[str, str]:
        return self.deployment.outputs if self.deployment else {}

    @property
    def physical(self) -> dict[str, str]:
        """Physical id of each resource, by logical id."""
        return self.deployment.physical if self.deployment else {}

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
        template = translate_template(self.root, self.region, self.parameters)
        self.deployment = create_stack(
            self.client, template, stack_name=self.stack_name, region=self.region, parameters=self.parameters
        )
        self._runtime.concurrent = frozenset(template.map_fanout_functions())
        return self.outputs

    def attach(self) -> dict[str, str]:
        """Use a stack deployed earlier at `endpoint_url` (a running `sluice local up`) instead of
        creating one: its resources and outputs are read from CloudFormation."""
        template = translate_template(self.root, self.region, self.parameters)
        self.deployment = read_stack(
            self.client, template, stack_name=self.stack_name, endpoint_url=self.endpoint_url
        )
        self._runtime.concurrent = frozenset(template.map_fanout_functions())
        return self.outputs

    # ------------------------------------------------------------------ functions
    def function_code(self, logical_id: str) -> FunctionCode:
        functions = self.template.functions if self.template else {}
        if logical_id not in functions:
            raise LocalStackError(
                f"no function {logical_id!r} in template.yaml (functions: {', '.join(sorted(functions))})"
            )
        return functions[logical_id]

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

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        """Run the function's handler once, in-process, with its environment."""
        code = self.function_code(logical_id)
        config = self.function_configuration(logical_id)
        env = invocation_environment(
            config, self.function_environment(logical_id), region=self.region, endpoint_url=self.endpoint_url
        )
        env.update(self.role_credentials(config["Role"], config["FunctionName"]))
        if logical_id not in self._extensions:  # what the layers put in /opt/extensions, read once
            self._extensions[logical_id] = (
                extension_executables(self.template.layer_folders(code)) if self.template else []
            )
        extensions = self._extensions[logical_id]
        context = LambdaContext.of(config)
        return self._runtime.run(
            code, event, env, context, extensions=extensions, process_env=lambda: self._process_env(config)
        )

    def _process_env(self, config: dict[str, Any]) -> dict[str, str]:
        """What an extension's process needs: the stack's endpoint, the role's credentials."""
        credentials = {}
        if self.enforcer is not None:
            credentials = self.enforcer.out_of_process_credentials(
                config["Role"], config["FunctionName"][:60]
            )
        return outside_process_env(process_endpoint(self.endpoint_url), credentials)

    def role_credentials(self, role_arn: str, session_name: str) -> dict[str, str]:
        """The variables that give a process `role_arn`'s temporary credentials (Lambda's
        AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); with IAM off, the deployer's."""
        if self.enforcer is None:
            return {}
        return self.enforcer.credentials_for(role_arn, session_name)

    def function_log(self, logical_id: str) -> str:
        """What the function's invocations wrote so far (its CloudWatch Logs group on AWS,
        /aws/lambda/<function name>): print() and EMF metrics, Powertools' logs, stderr; each
        invocation between Lambda's START and END lines."""
        return "".join(line + "\n" for line in self._runtime.logs.lines(logical_id))

    def most_at_once(self, logical_id: str) -> int:
        """The most invocations of the function that have run at the same time (`HandlerRuntime`)."""
        return self._runtime.most_at_once(logical_id)

    def echo_function_logs(self, enabled: bool = True) -> bool:
        """Also write each function log line to this process's stderr, prefixed `[LogicalId] `, as
        `sam local` does (on by default for a stack behind an endpoint: `sluice local up`); returns
        the previous setting."""
        previous, self._runtime.logs.echo = self._runtime.logs.echo, enabled
        return previous

    def recycle(self, logical_id: str) -> None:
        """Forget the function's loaded module, so its next invocation is a cold start (as when Lambda
        starts a new execution environment)."""
        self._runtime.recycle(logical_id)

    def logical_id_of(self, function_name_or_arn: str) -> str | None:
        """The logical id of this stack's function with that name or ARN (None: not one of them)."""
        name = function_name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        return self.deployment.functions_by_name.get(name) if self.deployment else None

    # ------------------------------------------------------------------ EventBridge deliveries
    @property
    def delivery_errors(self) -> list[dict[str, Any]]:
        """Every event whose delivery failed on all its attempts, with the last error."""
        return self._delivery.errors

    def deliver(self, logical_id: str, event: dict[str, Any], target: dict[str, Any]) -> None:
        """Queue an event for a Lambda target (asynchronous, like EventBridge)."""
        self._delivery.deliver(logical_id, event, target)

    @property
    def pending_deliveries(self) -> list[str]:
        """The function of each EventBridge delivery queued or running."""
        return self._delivery.pending

    def drain(self, timeout: float = 120.0) -> None:
        """Wait until every queued EventBridge delivery has been handled."""
        self._delivery.drain(timeout)

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """The executions of the stack's state machines (ListExecutions), those in `status` if given."""
        return self._executions.listed(status)

    def wait_for_executions(self, timeout: float = 300.0, poll: float = 0.1) -> list[dict[str, Any]]:
        """Wait until nothing is pending or running; all executions (see `StackExecutions.settle`)."""
        return self._executions.settle(timeout, poll)

    def wait_until(self, condition: Callable[[], T | None], *, what: str, timeout: float = 300.0) -> T:
        """Wait until `condition()` answers something, which it returns (see `executions.wait_until`)."""
        return wait_until(condition, what=what, timeout=timeout)

    def stop_leftovers(self, cause: str, timeout: float = 120.0) -> dict[str, list[str]]:
        """Stop a test's leftovers (see `StackExecutions.stop_leftovers`): what was dropped and stopped."""
        return self._executions.stop_leftovers(cause, timeout)

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
        from sluice.tools.local.api.gateway import api_routes

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

        routes = api_routes(self.template.sam)
        pools = {pool for route in routes for pool in route.user_pools}
        cognito = CognitoAuth(
            local_user_pools(self.client("cognito-idp"), pools, self.physical, self.region, self.endpoint_url)
        )
        api = LocalApi(routes, invoke, host=host, port=port, auth=checks, cognito=cognito).start()
        self._apis.append(api)
        return api

    def console_users(self) -> list[dict[str, str]]:
        """The console's users on this stack: an operator and a viewer, created on first call with random
        passwords set permanent; each {"email", "password", "group"}."""
        if not self._console_users:
            self._console_users = console_users(self.client("cognito-idp"), self.physical["ConsoleUserPool"])
        return [dict(user) for user in self._console_users]

    def console_id_token(self, group: str) -> str:
        """The ID token of the console user in `group` (operators or viewers), signed in as the console
        signs in (InitiateAuth, USER_PASSWORD_AUTH)."""
        from sluice.tools.local.console.cognito import sign_in

        user = next(u for u in self.console_users() if u["group"] == group)
        client_id = self.physical["ConsoleUserPoolClient"]
        return sign_in(self.client("cognito-idp"), client_id, user["email"], user["password"])

    def schedule_targets(self) -> list[ScheduleTarget]:
        """The functions and state machines the template's schedule rules deliver to."""
        assert self.template is not None
        return schedule_targets(self.template.cloudformation)

    def fire_schedules(self) -> FiredSchedules:
        """Fire every schedule rule once now, as EventBridge delivers it (moto's EventBridge never fires
        schedules): a function runs with a "Scheduled Event" (its Invocation, awaited); a state machine
        is started with the rule's Input, by the rule's role (its execution ARN; it runs on)."""
        fired = FiredSchedules()
        for target in self.schedule_targets():
            if target.kind == "function":
                event = scheduled_event(self.region, self.stack_name, target.target)
                fired.invocations[target.target] = self.invoke(target.target, event)
                continue
            role = f"arn:aws:iam::{ACCOUNT_ID}:role/{self.physical[target.role]}" if target.role else None
            keys = self.role_credentials(role, "events") if role else {}
            started = self._session.client(
                "stepfunctions",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=keys.get("AWS_ACCESS_KEY_ID", "testing"),
                aws_secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY", "testing"),
                aws_session_token=keys.get("AWS_SESSION_TOKEN"),
            ).start_execution(
                stateMachineArn=self.physical[target.target], name=str(uuid.uuid4()), input=target.input
            )
            fired.executions[target.target] = str(started["executionArn"])
        return fired

    def execution_ended(self, execution_arn: str, timeout: float = 300.0) -> dict[str, Any]:
        """Wait for the execution to end: DescribeExecution's answer, its output parsed (`result`)."""
        return self._executions.ended(execution_arn, timeout)

    def flush_streams(self) -> int:
        """Time has passed: environments with extensions spun down (the capture extension flushes on
        SHUTDOWN), then Firehose's buffer interval (each stream writes one object per partition key).
        Returns how many objects were written (a stack whose moto runs in this process only)."""
        self._runtime.spin_down_extended()
        return delivery().flush()

    def roles(self) -> dict[str, str]:
        """Each role of the stack: its ARN → its logical id in the translated template."""
        if self.deployment is None:
            return {}
        return {
            f"arn:aws:iam::{ACCOUNT_ID}:role/{self.physical[logical_id]}": logical_id
            for logical_id in self.deployment.logical_ids_of("AWS::IAM::Role")
        }

    def write_iam_usage(self) -> None:
        """Append what this stack's run needed of each role's statements to the trace file
        (SLUICE_IAM_TRACE), for `make iam-report` and the statement-removal test (once per stack;
        again only if it made calls since)."""
        if self.enforcer is None or self.enforcer.trace_path is None or not self.enforcer.trace:
            return
        if self._usage_written == len(self.enforcer.trace):
            return
        self._usage_written = len(self.enforcer.trace)
        from sluice.tools.local.iam.report import append_usage

        append_usage(self.enforcer, self.roles())

    def close(self) -> None:
        """Stop the stack's API fronts and its delivery worker; the delivery streams write what they
        hold; what the run needed of IAM is written to the trace file."""
        for api in self._apis:
            api.stop()
        self._apis.clear()
        self._delivery.close()
        self._runtime.spin_down_extended()  # extensions get SHUTDOWN: what they hold goes to Firehose
        delivery().flush()
        self.write_iam_usage()
        _OPEN.discard(self)


_OPEN: weakref.WeakSet[LocalStack] = weakref.WeakSet()


def write_iam_usage_of_open_stacks() -> None:
    """What every stack still open in this process needed of IAM so far, into the trace file (the
    least-privilege tests run before the session's last stacks close)."""
    for stack in list(_OPEN):
        stack.write_iam_usage()


@contextlib.contextmanager
def deployed(stack: LocalStack) -> Iterator[LocalStack]:
    """Deploy a stack and make it the target of moto's patched Lambda and EventBridge calls (inside
    `moto_patches()` and a mock or server); close it and forget it on exit."""
    clear_clients()
    try:
        with routing_to(stack):
            try:
                stack.deploy()
                yield stack
            finally:
                stack.close()
    finally:
        clear_clients()
