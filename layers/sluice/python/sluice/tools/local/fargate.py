"""ECS Fargate tasks on the local stack: what `ecs:runTask.sync` does on AWS, which moto does not.

moto 5.2's ASL engine has an ECS integration, but its request and response normalisation is stubbed
out: `runTask.sync` fails with `States.Runtime` ('LaunchType') before reaching ECS. moto's ECS creates a
task record but runs nothing (its status jumps to STOPPED with exit code 0 on the next describe), and its
CloudFormation registers the task definition without NetworkMode, Cpu, roles or RuntimePlatform, and
names an unnamed ECR repository with capitals, which its own ECR then rejects; its RunTask adds up
container memory, which a Fargate task definition leaves to the task (TypeError on None). Here:

- the Step Functions side: parameters are turned into the ECS API's shape (PascalCase -> camelCase, as
  AWS does) and the results back into Step Functions' PascalCase; `.sync` waits until the task stops and,
  as on AWS, fails the state with `States.TaskFailed` (Cause: the task's description as JSON) when an
  essential container exited with a non-zero code;
- an ECS error (a ClientError) fails the state as Step Functions names it on AWS, `ECS.<Exception>`
  (`ECS.AmazonECSException` for a code ECS models no exception for, such as throttling), so Retry and
  Catch see AWS's names; moto's engine reports every one as `States.Runtime`, which AWS never catches;
- the ECS side: `RunTask` first checks the task's network as ECS does (a Fargate task is awsvpc: subnets
  are required, and every subnet and security group must exist in EC2, here moto's EC2 backend), refusing
  it with ECS's `InvalidParameterException` and AWS's message otherwise (moto checks this for services,
  not for RunTask); then it runs the container's command (the overridden one, else the task definition's)
  in a subprocess with the container's environment plus its overrides, against the same moto backend
  (the `sluice local up` server, or a moto server started in this process for in-process stacks). The
  task stays RUNNING until the process exits, then STOPPED with its exit code and ECS's
  "Essential container in task exited". `python` in the command is this interpreter and the sluice layer
  is on PYTHONPATH: the image's contents, not the image (no Docker here). Task cpu/memory are not enforced.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ESSENTIAL_EXITED = "Essential container in task exited"
_SERVER: dict[str, Any] = {}
_LOCK = threading.Lock()
_USERS: list[int] = [0]  # the `ecs_patches` blocks open: the server outlives all but the last


def process_endpoint(stack_endpoint: str | None) -> str:
    """The moto endpoint a process outside this one talks to (a Fargate task, a Lambda extension): the
    stack's, else one server for this process."""
    if stack_endpoint:
        return stack_endpoint
    with _LOCK:
        if "url" not in _SERVER:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
            server = ThreadedMotoServer(port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            _SERVER.update(server=server, url=f"http://{host}:{port}")
        return str(_SERVER["url"])


def stop_server() -> None:
    """Stop the in-process moto server started for tasks, if any."""
    with _LOCK:
        server = _SERVER.pop("server", None)
        _SERVER.pop("url", None)
    if server is not None:
        server.stop()


def container_command(container: dict[str, Any], override: dict[str, Any]) -> list[str]:
    """The command the container runs, `python` being this interpreter (the image's Python)."""
    command = list(override.get("command") or container.get("command") or [])
    if not command:
        raise ValueError(
            f"container {container.get('name')!r} has no command (images' entrypoints are not run)"
        )
    if command[0] in ("python", "python3"):
        command[0] = sys.executable
    return command


def container_environment(
    container: dict[str, Any], override: dict[str, Any], *, endpoint: str, region: str, root: Path
) -> dict[str, str]:
    """The task definition's variables, then the overrides', then what ECS and the image provide (region,
    the task role's credentials: moto's), pointed at the local endpoint."""
    env = {item["name"]: str(item.get("value", "")) for item in container.get("environment") or []}
    env.update({item["name"]: str(item.get("value", "")) for item in override.get("environment") or []})
    env.update(
        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
        PYTHONPATH=str(root / "layers" / "sluice" / "python"),
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=endpoint,
    )
    return env


def check_network(
    configuration: dict[str, Any] | None, *, account_id: str, region: str, launch_type: str | None
) -> None:
    """Refuse a RunTask whose awsvpc network ECS would refuse: no subnets on Fargate, or a subnet or
    security group that does not exist in EC2 (ECS's InvalidParameterException, AWS's messages)."""
    from moto.ec2 import ec2_backends
    from moto.ec2.exceptions import InvalidSecurityGroupNotFoundError, InvalidSubnetIdError
    from moto.ecs.exceptions import InvalidParameterException

    awsvpc = (configuration or {}).get("awsvpcConfiguration")
    if awsvpc is None:
        if launch_type == "FARGATE":  # Fargate tasks are always awsvpc
            raise InvalidParameterException(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )
        return
    subnets, groups = awsvpc.get("subnets") or [], awsvpc.get("securityGroups") or []
    if not subnets:
        raise InvalidParameterException("subnets can not be empty.")
    ec2 = ec2_backends[account_id][region]
    for subnet in subnets:
        try:
            ec2.describe_subnets(subnet_ids=[subnet])
        except InvalidSubnetIdError:
            raise InvalidParameterException(
                f"Error retrieving subnet information for [{subnet}]: "
                f"The subnet ID '{subnet}' does not exist (ErrorCode: InvalidSubnetID.NotFound)"
            ) from None
    for group in groups:
        try:
            ec2.describe_security_groups(group_ids=[group])
        except InvalidSecurityGroupNotFoundError:
            raise InvalidParameterException(
                f"Error retrieving security group information for [{group}]: "
                f"The security group '{group}' does not exist (ErrorCode: InvalidGroup.NotFound)"
            ) from None


def ecs_error_name(code: str) -> str:
    """The error name Step Functions gives an ECS error code: the SDK's exception class, or the service's
    base exception when ECS models none (ThrottlingException: "Rate exceeded")."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecs")
    return f"ECS.{code}" if code in {shape.name for shape in model.error_shapes} else "ECS.AmazonECSException"


def _task_role_credentials(definition: Any, task: Any) -> dict[str, str]:
    """The task role's temporary credentials, as ECS gives them to the task's containers (under local
    IAM; the deployer's otherwise). Its calls reach the moto server over HTTP and are checked there."""
    from sluice.tools.local.iam.hooks import active_enforcer

    enforcer = active_enforcer()
    role = ((task.overrides or {}).get("taskRoleArn")) or definition.task_role_arn
    if enforcer is None or not role:
        return {}
    return enforcer.out_of_process_credentials(str(role), f"ecs-task-{task.id}"[:64])


def _run_container(task: Any, backend: Any, root: Path, endpoint: str) -> None:
    definition = backend.describe_task_definition(task.task_definition_arn)
    container = definition.container_definitions[0]
    overrides = {o.get("name"): o for o in (task.overrides or {}).get("containerOverrides") or []}
    override = overrides.get(container.get("name"), {})
    try:
        process = subprocess.Popen(
            container_command(container, override),
            env={
                **container_environment(
                    container, override, endpoint=endpoint, region=task.region_name, root=root
                ),
                **_task_role_credentials(definition, task),
            },
        )
        code = process.wait()
        reason = ESSENTIAL_EXITED
    except (OSError, ValueError) as exc:  # the container could not start: ECS's CannotStartContainerError
        code, reason = 255, f"CannotStartContainerError: {exc}"
    for record in task.containers:
        record.exitCode = code
        record.last_status = "STOPPED"
    task.stopped_reason = reason
    task.desired_status = "STOPPED"
    task.status = "STOPPED"


def _camel_to_pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:]): _camel_to_pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_to_pascal(v) for v in value]
    return value


@contextlib.contextmanager
def ecs_patches(find_stack: Callable[[], Any]) -> Iterator[None]:
    """While inside, Step Functions' runTask(.sync) and ECS's RunTask behave as described above;
    `find_stack()` gives the active local stack (for its root and endpoint), or None."""
    from moto.ecr.models import Repository
    from moto.ecs.models import EC2ContainerServiceBackend, TaskDefinition
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
        StateTaskServiceEcs,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original_run_task = EC2ContainerServiceBackend.run_task
    original_repository = Repository.__dict__["create_from_cloudformation_json"]

    original_requirements = EC2ContainerServiceBackend.__dict__["_calculate_task_resource_requirements"]

    def requirements(task_definition: Any) -> Any:
        # A Fargate task definition sizes the task, not its containers; moto adds up container memory.
        containers = [
            {"memoryReservation": 0, **c} if not ({"memory", "memoryReservation"} & set(c)) else c
            for c in task_definition.container_definitions
        ]
        return original_requirements.__func__(SimpleNamespace(container_definitions=containers))

    def create_repository(cls: Any, resource_name: str, *args: Any, **kwargs: Any) -> Any:
        # CloudFormation names an unnamed repository in lowercase (ECR allows nothing else); moto keeps
        # the logical id's capitals and ECR then rejects the name.
        return original_repository.__func__(cls, resource_name.lower(), *args, **kwargs)

    original_sync = StateTaskServiceEcs._build_sync_resolver
    own_from_error = StateTaskServiceEcs.__dict__.get("_from_error")  # None: inherited
    inherited_from_error = StateTaskServiceEcs._from_error
    saved = {
        name: getattr(StateTaskServiceEcs, name) for name in ("_normalise_parameters", "_normalise_response")
    }

    run_task_signature = inspect.signature(original_run_task)

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = run_task_signature.bind(self, *args, **kwargs).arguments
        check_network(
            call.get("networking_configuration"),
            account_id=self.account_id,
            region=self.region_name,
            launch_type=call.get("launch_type"),
        )
        tasks = original_run_task(self, *args, **kwargs)
        stack = find_stack()
        if stack is None:
            return tasks
        endpoint = process_endpoint(getattr(stack, "endpoint_url", None))
        for task in tasks:
            task._transitions = [("RUNNING", "RUNNING")]  # RUNNING until the process exits
            task.status = "RUNNING"
            threading.Thread(
                target=_run_container, args=(task, self, Path(stack.root), endpoint), daemon=True
            ).start()
        return tasks

    def operation(service: Any, action: str | None) -> Any:
        import botocore.session

        model = botocore.session.get_session().get_service_model(service._get_boto_service_name())
        name = action or service.resource.api_action  # "describe_tasks" or "runTask"
        name = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
        return model.operation_model(name)

    def normalise_parameters(
        self: Any, parameters: dict, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        self._to_boto_request(parameters, operation(self, service_action_name).input_shape)

    def normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        self._from_boto_response(response, operation(self, service_action_name).output_shape)

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        from botocore.exceptions import ClientError

        if not isinstance(ex, ClientError):
            return inherited_from_error(self, env, ex)
        error, meta = ex.response.get("Error", {}), ex.response.get("ResponseMetadata", {})
        code = str(error.get("Code", "Unknown"))
        name = ecs_error_name(code)
        details = (
            f"Service: AmazonECS; Status Code: {meta.get('HTTPStatusCode')}; Error Code: {code}; "
            f"Request ID: {meta.get('RequestId')}; Proxy: null"
        )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(name),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                taskFailedEventDetails=TaskFailedEventDetails(
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                    error=name,
                    cause=f"{error.get('Message', '')} ({details})",
                )
            ),
        )

    def build_sync_resolver(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        resolve: Any = original_sync(self, env, *args, **kwargs)

        def resolver() -> Any:
            described = resolve()
            if described is None:
                return None
            exits = [c.get("ExitCode") for c in described.get("Containers", [])]
            if any(code not in (0, None) for code in exits):
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(  # type: ignore[typeddict-item]
                            taskFailedEventDetails=TaskFailedEventDetails(
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                                error=StatesErrorNameType.StatesTaskFailed.to_name(),
                                cause=json.dumps(_camel_to_pascal(described), default=str),
                            )
                        ),
                    )
                )
            return described

        return resolver

    def create_task_definition(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        # moto's CloudFormation registers only the family, containers, volumes and memory: the roles
        # (who the task runs as, what RunTask must be allowed to pass), network mode, cpu and
        # compatibilities are what AWS registers too.
        from moto.ecs.models import ecs_backends, pascal_to_camelcase, remap_nested_keys

        properties = cloudformation_json["Properties"]
        return ecs_backends[account_id][region_name].register_task_definition(
            family=properties.get("Family", resource_name),
            container_definitions=remap_nested_keys(
                properties.get("ContainerDefinitions", []), pascal_to_camelcase
            ),
            volumes=remap_nested_keys(properties.get("Volumes", []), pascal_to_camelcase),
            network_mode=properties.get("NetworkMode"),
            requires_compatibilities=properties.get("RequiresCompatibilities"),
            cpu=properties.get("Cpu"),
            memory=properties.get("Memory"),
            task_role_arn=properties.get("TaskRoleArn"),
            execution_role_arn=properties.get("ExecutionRoleArn"),
        )

    original_task_definition = TaskDefinition.__dict__["create_from_cloudformation_json"]
    TaskDefinition.create_from_cloudformation_json = classmethod(create_task_definition)  # type: ignore[method-assign,assignment]
    EC2ContainerServiceBackend.run_task = run_task  # type: ignore[method-assign]
    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(requirements)  # type: ignore[method-assign]
    Repository.create_from_cloudformation_json = classmethod(create_repository)  # type: ignore[method-assign,assignment]
    StateTaskServiceEcs._build_sync_resolver = build_sync_resolver  # type: ignore[method-assign]
    StateTaskServiceEcs._from_error = from_error  # type: ignore[method-assign]
    StateTaskServiceEcs._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceEcs._normalise_response = normalise_response  # type: ignore[method-assign]
    with _LOCK:
        _USERS[0] += 1
    try:
        yield
    finally:
        TaskDefinition.create_from_cloudformation_json = original_task_definition  # type: ignore[method-assign]
        EC2ContainerServiceBackend.run_task = original_run_task  # type: ignore[method-assign]
        EC2ContainerServiceBackend._calculate_task_resource_requirements = original_requirements  # type: ignore[method-assign]
        Repository.create_from_cloudformation_json = original_repository  # type: ignore[method-assign]
        StateTaskServiceEcs._build_sync_resolver = original_sync  # type: ignore[method-assign]
        if own_from_error is None:
            del StateTaskServiceEcs._from_error
        else:
            StateTaskServiceEcs._from_error = own_from_error  # type: ignore[method-assign]
        for name, value in saved.items():
            setattr(StateTaskServiceEcs, name, value)
        with _LOCK:
            _USERS[0] -= 1
            last = _USERS[0] == 0
        if last:  # another stack of this process may still have processes talking to it
            stop_server()
