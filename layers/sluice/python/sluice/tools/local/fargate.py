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
- the ECS side: `RunTask` runs the container's command (the overridden one, else the task definition's)
  in a subprocess with the container's environment plus its overrides, against the same moto backend
  (the `sluice local up` server, or a moto server started in this process for in-process stacks). The
  task stays RUNNING until the process exits, then STOPPED with its exit code and ECS's
  "Essential container in task exited". `python` in the command is this interpreter and the sluice layer
  is on PYTHONPATH: the image's contents, not the image (no Docker here). Task cpu/memory are not enforced.
"""

from __future__ import annotations

import contextlib
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


def _endpoint(stack_endpoint: str | None) -> str:
    """The moto endpoint the task's process talks to: the stack's, else one server for this process."""
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


def _run_container(task: Any, backend: Any, root: Path, endpoint: str) -> None:
    definition = backend.describe_task_definition(task.task_definition_arn)
    container = definition.container_definitions[0]
    overrides = {o.get("name"): o for o in (task.overrides or {}).get("containerOverrides") or []}
    override = overrides.get(container.get("name"), {})
    try:
        process = subprocess.Popen(
            container_command(container, override),
            env=container_environment(
                container, override, endpoint=endpoint, region=task.region_name, root=root
            ),
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
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
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
    saved = {
        name: getattr(StateTaskServiceEcs, name) for name in ("_normalise_parameters", "_normalise_response")
    }

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original_run_task(self, *args, **kwargs)
        stack = find_stack()
        if stack is None:
            return tasks
        endpoint = _endpoint(getattr(stack, "endpoint_url", None))
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

    EC2ContainerServiceBackend.run_task = run_task  # type: ignore[method-assign]
    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(requirements)  # type: ignore[method-assign]
    Repository.create_from_cloudformation_json = classmethod(create_repository)  # type: ignore[method-assign,assignment]
    StateTaskServiceEcs._build_sync_resolver = build_sync_resolver  # type: ignore[method-assign]
    StateTaskServiceEcs._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceEcs._normalise_response = normalise_response  # type: ignore[method-assign]
    try:
        yield
    finally:
        EC2ContainerServiceBackend.run_task = original_run_task  # type: ignore[method-assign]
        EC2ContainerServiceBackend._calculate_task_resource_requirements = original_requirements  # type: ignore[method-assign]
        Repository.create_from_cloudformation_json = original_repository  # type: ignore[method-assign]
        StateTaskServiceEcs._build_sync_resolver = original_sync  # type: ignore[method-assign]
        for name, value in saved.items():
            setattr(StateTaskServiceEcs, name, value)
        stop_server()
