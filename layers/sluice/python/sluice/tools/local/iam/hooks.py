"""Where local IAM hooks into botocore and moto.

- `enforcing`: every botocore call of this process (`BaseClient._make_api_call`, so every client,
  however created, in the in-process mock and against the HTTP server alike) is authorised by the
  enforcer before it leaves; a denied call raises the service's own error.
- the server side (`_checked_at_the_server`): calls moto answers that no client of this process
  checked — a person's (an IAM user's keys, from any process) or the Fargate task's (its own process,
  over HTTP) — are authorised from what moto parsed of the request.
- `state_machines_sign_as_their_roles`: moto's Step Functions engine signs each service integration
  (Lambda invoke, SNS publish, ECS runTask, the Distributed Map's ItemReader and ResultWriter) with
  fixed dummy keys; here it signs with the credentials of the role the state runs as (the state
  machine's role, or the state's `Credentials.RoleArn`), as Step Functions does on AWS.
- `moto_bucket_policies_ignored`: moto's S3 would evaluate bucket policies itself, wrongly.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

from sluice.tools.local.iam.actions import Permission
from sluice.tools.local.iam.enforcement import Enforcer

_log = logging.getLogger("sluice.local.iam")

_ACTIVE: list[Enforcer] = []


def active_enforcer() -> Enforcer | None:
    """The enforcer of the innermost `enforcing()` block, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def _access_key_of(client: Any) -> str | None:
    signer = getattr(client, "_request_signer", None)
    credentials = getattr(signer, "_credentials", None)
    if credentials is None:
        return None
    frozen = (
        credentials.get_frozen_credentials()
        if hasattr(credentials, "get_frozen_credentials")
        else credentials
    )
    return str(frozen.access_key)


@contextlib.contextmanager
def enforcing(enforcer: Enforcer) -> Iterator[Enforcer]:
    """While inside, every botocore call in this process is authorised by `enforcer`."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        current = active_enforcer()
        # Operations AWS does not sign (auth type "none": Cognito's InitiateAuth, RespondToAuthChallenge
        # ...) need no IAM permission: the caller's credentials do not take part.
        unsigned = self.meta.service_model.operation_model(operation_name).auth_type == "none"
        if (
            current is not None
            and current.enabled
            and not unsigned
            and current.serves(self.meta.endpoint_url)
        ):
            service = self.meta.service_model.service_name
            principal = current.principal_of(_access_key_of(self))
            if principal is not None and principal.admin and service == "iam":
                current.forget_policies()
            if principal is None:
                _log.warning(
                    json.dumps(
                        {
                            "iam": "unknown access key",
                            "access_key_id": _access_key_of(self),
                            "operation": f"{service}:{operation_name}",
                        }
                    )
                )
                error_class = self.exceptions.from_code("InvalidClientTokenId")
                raise error_class(
                    {
                        "Error": {
                            "Code": "InvalidClientTokenId",
                            "Message": "The security token included in the request is invalid.",
                        },
                        "ResponseMetadata": {"HTTPStatusCode": 403},
                    },
                    operation_name,
                )
            extra = getattr(self, "_sluice_put_also_needs", ()) if operation_name == "PutObject" else ()
            denied = (
                None
                if principal.admin
                else current.check(principal, service, operation_name, api_params, also_needs=extra)
            )
            if denied is not None:
                body = current.denial_error(principal, service, *denied)
                _log.warning(
                    json.dumps(
                        {
                            "iam": "denied",
                            "principal": principal.arn,
                            "operation": f"{service}:{operation_name}",
                            "message": body["Error"]["Message"],
                        }
                    )
                )
                raise self.exceptions.from_code(body["Error"]["Code"])(body, operation_name)
            _checked_here.active = True  # moto answering in this thread (the mock) need not check again
        try:
            return original(self, operation_name, api_params)
        finally:
            _checked_here.active = False

    from moto.core.authorization import ActionAuthenticatorMixin

    original_server_check = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def server_check(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        current = active_enforcer()
        if current is not None and current.enabled:
            _checked_at_the_server(current, self, resource)

    _ACTIVE.append(enforcer)
    if len(_ACTIVE) == 1:
        BaseClient._make_api_call = make_api_call  # type: ignore[attr-defined]
        ActionAuthenticatorMixin._authenticate_and_authorize_action = server_check  # type: ignore[method-assign]
    try:
        yield enforcer
    finally:
        _ACTIVE.remove(enforcer)
        if not _ACTIVE:
            BaseClient._make_api_call = original  # type: ignore[attr-defined]
            ActionAuthenticatorMixin._authenticate_and_authorize_action = original_server_check  # type: ignore[method-assign]


@contextlib.contextmanager
def moto_bucket_policies_ignored() -> Iterator[None]:
    """While inside, moto's S3 does not evaluate bucket policies itself: it reads a Deny whose
    condition does not hold as a denial (so a TLS-only deny refuses every call, even the deployer's).
    Bucket policies are evaluated by the enforcer, as AWS evaluates them."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    original = FakeBucket.get_permission

    def bucket_permission(self: Any, action: str, resource: str) -> Any:
        return PermissionResult.NEUTRAL

    FakeBucket.get_permission = bucket_permission  # type: ignore[method-assign]
    try:
        yield
    finally:
        FakeBucket.get_permission = original  # type: ignore[method-assign]


_checked_here = threading.local()  # a client of this thread has just checked the call moto is answering


def _checked_at_the_server(enforcer: Enforcer, response: Any, resource: str) -> None:
    """A call that reached moto signed by a person (an IAM user's key, from any process) or by the
    Fargate task (its own process, over HTTP): authorised here, from what moto parsed of the request,
    since this process's client hook may not have seen it."""

    if getattr(_checked_here, "active", False):
        return
    header = response.headers.get("Authorization") or response.headers.get("authorization") or ""
    match = re.search(r"Credential=([^/]+)/", header)
    if match is None:
        return
    principal = enforcer.principal_of(match.group(1))
    if principal is None or principal.admin:
        return
    # Role sessions of this process were checked by its clients already; people (IAM users) may call
    # from anywhere, the Fargate task from its own process.
    if match.group(1) not in enforcer.out_of_process and principal.user_name is None:
        return
    service = str(getattr(response, "service_name", "") or "")
    operation = str(response._get_action())
    if resource.startswith("arn:aws:s3:::"):
        context = {}
        prefix = response.querystring.get("prefix") if hasattr(response, "querystring") else None
        if prefix:
            context["s3:prefix"] = prefix[0] if isinstance(prefix, list) else str(prefix)
        permissions = [Permission(f"s3:{operation}", resource, context)]
        service = "s3"
    else:
        try:
            body = response.body
            params = body if isinstance(body, dict) else json.loads(body or "{}")
        except (TypeError, ValueError):
            params = {}
        permissions = enforcer.permissions(service, operation, params if isinstance(params, dict) else {})
    for permission in permissions:
        decision = enforcer.authorize(principal, permission)
        enforcer.record(principal, permission, decision, operation)
        if not decision.allowed:
            message = enforcer.denial_error(principal, service, permission, decision)["Error"]["Message"]
            _log.warning(
                json.dumps(
                    {
                        "iam": "denied",
                        "principal": principal.arn,
                        "operation": f"{service}:{operation}",
                        "message": message,
                    }
                )
            )
            if service == "s3":
                from moto.s3.exceptions import S3AccessDeniedError

                raise S3AccessDeniedError()
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError("AccessDeniedException", message)


# What AWS's ResultWriter does beside PutObject (multipart uploads), per Step Functions' IAM guide.
RESULT_WRITER_NEEDS = ("s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")

# Every module of moto's ASL engine that imported boto_client_for by name.
_IMPORTERS = (
    "moto.stepfunctions.parser.asl.utils.boto_client",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
)


@contextlib.contextmanager
def state_machines_sign_as_their_roles(enforcer: Enforcer) -> Iterator[None]:
    """While inside, moto's ASL engine creates its clients with the credentials of the role each state
    runs as (minted by `enforcer`)."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def signing_as_the_role(region: str, service: str, state_credentials: Any = None) -> Any:
        client = original(region=region, service=service, state_credentials=state_credentials)
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn:
            return client
        credentials = enforcer.credentials_for(str(role_arn), "states")
        from botocore.credentials import Credentials

        client._request_signer._credentials = Credentials(  # type: ignore[attr-defined]  # the signer reads these for every request
            credentials["AWS_ACCESS_KEY_ID"],
            credentials["AWS_SECRET_ACCESS_KEY"],
            credentials["AWS_SESSION_TOKEN"],
        )
        return client

    def writing_results(region: str, service: str, state_credentials: Any = None) -> Any:
        # A Distributed Map's ResultWriter writes its manifest and result files with S3 multipart
        # uploads on AWS (which moto's engine writes in one PutObject): the role needs what those need.
        client = signing_as_the_role(region=region, service=service, state_credentials=state_credentials)
        client._sluice_put_also_needs = RESULT_WRITER_NEEDS
        return client

    modules = [importlib.import_module(name) for name in _IMPORTERS]
    saved = [getattr(module, "boto_client_for", None) for module in modules]
    for module in modules:
        if hasattr(module, "boto_client_for"):
            wrapper = writing_results if ".result_writer." in module.__name__ else signing_as_the_role
            module.boto_client_for = wrapper  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, value in zip(modules, saved, strict=True):
            if value is not None:
                module.boto_client_for = value  # type: ignore[attr-defined]


@contextlib.contextmanager
def iam_enforced(enforcer: Enforcer | None) -> Iterator[None]:
    """While inside, every botocore call of this process is authorised by `enforcer` and the state
    machines' integrations sign as their roles (nothing, when `enforcer` is None)."""
    if enforcer is None:
        yield
        return
    with enforcing(enforcer), state_machines_sign_as_their_roles(enforcer):
        yield
