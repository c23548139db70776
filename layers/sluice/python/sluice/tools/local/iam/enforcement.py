"""IAM enforced on the local stack, per principal, as AWS enforces it.

Who calls: every principal of the stack gets credentials of its own from moto's STS (`AssumeRole` on
its role, as Lambda, Step Functions, ECS and Firehose do): a function's handler finds them in
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, a state machine's integrations sign
with its role's, the Fargate task gets its task role's. The deployer's credentials (`testing`, what
the tests, the demo and `sluice local up`'s ready line use) are an administrator's, as a deployer's are.

What is checked: every botocore call made in this process (`BaseClient._make_api_call`, so the same
check covers the in-process mock and the HTTP server, and every client however it was created) is
turned into the actions and resource ARNs it needs (`actions`), and each is evaluated (`policy`)
against the caller's identity policies as moto's IAM holds them (inline and managed, from the deployed
template) and the resource's policy: the bucket policy for S3, the topic policy for SNS, the queue
policy for SQS, the key policy for KMS. Calls that make AWS check more also ask for it: RunTask needs
iam:PassRole on the task's roles, a Publish to (or SendMessage into) a KMS-encrypted topic or queue
needs kms:GenerateDataKey and kms:Decrypt on its key. A denied call raises the service's own error
(AccessDenied, AccessDeniedException, AuthorizationError) with AWS's message, before reaching moto.

The trace: every decision on a stack principal's call is kept (`Enforcer.trace`) and, when
SLUICE_IAM_TRACE names a file, appended to it as JSON lines: what `make iam-report` and the
statement-removal test read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.tools.local.iam.actions import Permission, Where, permissions_for, prefix_of
from sluice.tools.local.iam.policy import Decision, Policy, Request, evaluate

_log = logging.getLogger("sluice.local.iam")
# The deployer's keys: the local stack's ("testing", in its ready line) and moto's mock's default
# ("FOOBARKEY", what mock_aws puts in the environment of the process that runs it).
ADMIN_ACCESS_KEYS = frozenset({"testing", "FOOBARKEY"})
TRACE_ENV = "SLUICE_IAM_TRACE"

# The error each service answers a denied call with: (code, HTTP status).
DENIAL = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
    "cloudwatch": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}
DEFAULT_DENIAL = ("AccessDeniedException", 400)


@dataclass(frozen=True)
class Principal:
    """Who signed a call: a role session (`role_arn` set), an IAM user, or the deployer (`admin`)."""

    arn: str
    role_arn: str | None = None
    user_name: str | None = None
    admin: bool = False

    @property
    def name(self) -> str:
        """The role's (or user's) ARN: what the trace and the report speak of."""
        return self.role_arn or self.arn


@dataclass(frozen=True)
class TraceEntry:
    """One decision on one (principal, action, resource)."""

    principal: str
    action: str
    resource: str
    allowed: bool
    operation: str
    context: tuple[tuple[str, str], ...] = ()

    def permission(self) -> Permission:
        return Permission(self.action, self.resource, dict(self.context))


class Enforcer:
    """The check every call of the stack's principals passes; one per moto account."""

    def __init__(
        self, account: str, region: str, *, trace_path: Path | None = None, endpoint_url: str | None = None
    ) -> None:
        self.where = Where(account=account, region=region)
        # Where the stack answers: its moto server, or (None) AWS's own endpoints, which the in-process
        # mock intercepts. Calls to any other endpoint (another `sluice local up`) are not this stack's.
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self.enabled = True
        self.trace: dict[TraceEntry, int] = {}  # every decision on a stack principal's call, counted
        self.trace_path = trace_path
        self._lock = threading.Lock()
        self._credentials: dict[str, dict[str, str]] = {}
        self._principals: dict[str, Principal] = {}
        self._identity: dict[str, tuple[Policy, ...]] = {}
        # access keys given to processes outside this one (the Fargate task's): their calls reach moto's
        # HTTP server, which checks them (`_checked_at_the_server`)
        self.out_of_process: set[str] = set()

    def serves(self, endpoint_url: str | None) -> bool:
        """Whether a client of `endpoint_url` calls this stack."""
        if not endpoint_url:
            return self.endpoint_url is None
        if self.endpoint_url is not None:
            return endpoint_url.rstrip("/") == self.endpoint_url
        return endpoint_url.split("/")[2].endswith(".amazonaws.com")

    # ------------------------------------------------------------------ principals
    def credentials_for(self, role_arn: str, session_name: str) -> dict[str, str]:
        """Temporary credentials of `role_arn` (minted once through moto's STS AssumeRole), as the
        variables Lambda sets: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN."""
        with self._lock:
            if role_arn not in self._credentials:
                from moto.sts.models import sts_backends

                session = sts_backends[self.where.account][self.where.partition].assume_role(
                    region_name=self.where.region,
                    role_session_name=session_name[:64],
                    role_arn=role_arn,
                    policy="",
                    duration=43200,
                    external_id="",
                )
                self._credentials[role_arn] = {
                    "AWS_ACCESS_KEY_ID": session.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
                    "AWS_SESSION_TOKEN": session.session_token,
                }
                self._principals[session.access_key_id] = Principal(arn=session.arn, role_arn=role_arn)
            return dict(self._credentials[role_arn])

    def principal_of(self, access_key_id: str | None) -> Principal | None:
        """Who holds `access_key_id`: the deployer, a role session, an IAM user; None: nobody."""
        if access_key_id is None or access_key_id in ADMIN_ACCESS_KEYS:
            return Principal(arn=f"arn:aws:iam::{self.where.account}:root", admin=True)
        known = self._principals.get(access_key_id)
        if known is not None:
            return known
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        assumed = sts_backends[self.where.account][self.where.partition].get_assumed_role_from_access_key(
            access_key_id
        )
        if assumed is not None:
            return Principal(arn=assumed.arn, role_arn=assumed.role_arn)
        iam = iam_backends[self.where.account][self.where.partition]
        for user in iam.users.values():
            if any(key.access_key_id == access_key_id for key in user.access_keys):
                return Principal(arn=user.arn, user_name=user.name)
        return None

    def identity_policies(self, principal: Principal) -> tuple[Policy, ...]:
        """The principal's identity policies as moto's IAM holds them (inline, then managed); parsed
        once, again after any IAM call of the deployer's."""
        cached = self._identity.get(principal.name)
        if cached is None:
            cached = self._identity[principal.name] = self._read_identity_policies(principal)
        return cached

    def forget_policies(self) -> None:
        """Read identity policies afresh (IAM changed them)."""
        self._identity.clear()

    def _read_identity_policies(self, principal: Principal) -> tuple[Policy, ...]:
        from moto.iam.models import iam_backends

        iam = iam_backends[self.where.account][self.where.partition]
        if principal.role_arn:
            role = iam.get_role_by_arn(principal.role_arn)
            inline = list(role.policies.items())
            managed = list(role.managed_policies.values())
        elif principal.user_name:
            user = iam.get_user(principal.user_name)
            inline = list(user.policies.items())
            managed = list(user.managed_policies.values())
            for group in iam.get_groups_for_user(principal.user_name):
                inline = [*inline, *group.policies.items()]
                managed += list(group.managed_policies.values())
        else:
            return ()
        policies = [Policy.parse(name, document) for name, document in inline]
        for item in managed:
            version = next(v for v in item.versions if v.is_default)
            document = version.document
            policies.append(
                Policy.parse(item.arn, json.loads(document) if isinstance(document, str) else document)
            )
        return tuple(policies)

    # ------------------------------------------------------------------ resource policies
    def resource_policy(self, permission: Permission) -> tuple[Policy | None, bool]:
        """The resource's own policy (and whether it is a KMS key policy), None where there is none."""
        service = permission.action.split(":", 1)[0]
        arn = permission.resource
        account, partition = self.where.account, self.where.partition
        with contextlib.suppress(KeyError, AttributeError, IndexError):
            if service == "s3" and arn.startswith("arn:aws:s3:::"):
                from moto.s3.models import s3_backends

                bucket = s3_backends[account][partition].buckets.get(
                    arn[len("arn:aws:s3:::") :].split("/", 1)[0]
                )
                if bucket is not None and bucket.policy:
                    text = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
                    return Policy.parse(f"bucket policy of {bucket.name}", text), False
            elif service == "sns":
                from moto.sns.models import sns_backends

                topic = sns_backends[account][self.where.region].topics.get(arn)
                if topic is not None and topic.policy:
                    return Policy.parse(f"topic policy of {topic.name}", topic.policy), False
            elif service == "sqs":
                from moto.sqs.models import sqs_backends

                queue = sqs_backends[account][self.where.region].queues.get(arn.rsplit(":", 1)[-1])
                if queue is not None and queue.policy:
                    return Policy.parse(f"queue policy of {queue.name}", queue.policy), False
            elif service == "kms" and arn != "*":
                key = self._kms_key(arn)
                if key is not None:
                    return Policy.parse(f"key policy of {key.id}", key.policy), True
        return None, False

    def _kms_key(self, key_id: str) -> Any:
        from moto.kms.models import kms_backends

        backend = kms_backends[self.where.account][self.where.region]
        return backend.keys.get(
            backend.any_id_to_key_id(key_id.split(":key/")[-1] if ":key/" in key_id else key_id)
        )

    def _key_arn(self, key_id: str) -> str:
        key = self._kms_key(key_id)
        return str(key.arn) if key is not None else key_id

    # ------------------------------------------------------------------ what a call needs
    def permissions(self, service: str, operation: str, params: Mapping[str, Any]) -> list[Permission]:
        """The call's own permissions, then those AWS checks on the caller's behalf."""
        found = permissions_for(service, operation, params, self.where)
        found = [
            Permission(p.action, self._key_arn(p.resource), p.context) if p.action.startswith("kms:") else p
            for p in found
        ]
        if service == "ecs" and operation == "RunTask":
            passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
            found += [Permission("iam:PassRole", role, passed) for role in self._task_roles(params)]
        key = self._encryption_key(service, operation, params)
        if key:
            found += [Permission("kms:GenerateDataKey", key), Permission("kms:Decrypt", key)]
        return found

    def _task_roles(self, params: Mapping[str, Any]) -> list[str]:
        from moto.ecs.models import ecs_backends

        with contextlib.suppress(Exception):
            definition = ecs_backends[self.where.account][self.where.region].describe_task_definition(
                str(params.get("taskDefinition"))
            )
            roles = [definition.task_role_arn, definition.execution_role_arn]
            override = (params.get("overrides") or {}).get("taskRoleArn")
            if override:
                roles[0] = override
            return [r for r in roles if r]
        return []

    def _encryption_key(self, service: str, operation: str, params: Mapping[str, Any]) -> str | None:
        with contextlib.suppress(Exception):
            if service == "sns" and operation == "Publish" and params.get("TopicArn"):
                from moto.sns.models import sns_backends

                topic = sns_backends[self.where.account][self.where.region].topics[params["TopicArn"]]
                key = getattr(topic, "kms_master_key_id", None)
                return self._key_arn(key) if key else None
            if service == "sqs" and operation in ("SendMessage", "SendMessageBatch", "ReceiveMessage"):
                from moto.sqs.models import sqs_backends

                name = str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
                queue = sqs_backends[self.where.account][self.where.region].queues[name]
                key = getattr(queue, "kms_master_key_id", None)
                return self._key_arn(key) if key else None
        return None

    # ------------------------------------------------------------------ the check
    def authorize(self, principal: Principal, permission: Permission) -> Decision:
        """Evaluate one permission for one (non-admin) principal."""
        return self.authorize_as(principal, permission, self.identity_policies(principal))

    def authorize_as(
        self,
        principal: Principal,
        permission: Permission | TraceEntry,
        identity: tuple[Policy, ...] | list[Policy],
    ) -> Decision:
        """Evaluate one permission as if the principal's identity policies were `identity`."""
        if isinstance(permission, TraceEntry):
            permission = permission.permission()
        role_name = principal.role_arn or principal.arn
        context: dict[str, Any] = {
            "aws:SecureTransport": "true",  # SDKs reach AWS over TLS (see docs/guides/local-stack.md)
            "aws:PrincipalArn": role_name,
            "aws:PrincipalAccount": self.where.account,
            "aws:RequestedRegion": self.where.region,
            **permission.context,
        }
        request = Request(
            principal=principal.arn,
            action=permission.action,
            resource=permission.resource,
            context=context,
            principal_arns=(role_name,),
            account=self.where.account,
        )
        resource, key_policy = self.resource_policy(permission)
        return evaluate(request, identity, resource, key_policy=key_policy)

    def check(
        self,
        principal: Principal,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        *,
        also_needs: tuple[str, ...] = (),
    ) -> tuple[Permission, Decision] | None:
        """Authorise every permission the call needs (plus the `also_needs` actions on its resource,
        what the service does on the caller's behalf), recording each decision in the trace; returns
        the first denied permission with its decision (None: the call is allowed)."""
        needed = self.permissions(service, operation, params)
        needed += [Permission(action, p.resource) for p in needed[:1] for action in also_needs]
        for permission in needed:
            decision = self.authorize(principal, permission)
            self.record(principal, permission, decision, operation)
            if not decision.allowed:
                return permission, decision
        return None

    def allows_service_role(self, role_arn: str, service: str, action: str, resource: str) -> bool:
        """Whether a service acting as `role_arn` (Firehose's delivery role, say) may do `action` on
        `resource`; recorded in the trace, and a denial logged, like a call's."""
        credentials = self.credentials_for(role_arn, service)
        principal = self._principals[credentials["AWS_ACCESS_KEY_ID"]]
        permission = Permission(action, resource)
        decision = self.authorize(principal, permission)
        self.record(principal, permission, decision, f"{service} delivery")
        if not decision.allowed:
            _log.warning(
                json.dumps(
                    {
                        "iam": "denied",
                        "principal": principal.arn,
                        "operation": f"{service} delivery",
                        "message": self.denial_error(principal, service, permission, decision)["Error"][
                            "Message"
                        ],
                    }
                )
            )
        return decision.allowed

    def out_of_process_credentials(self, role_arn: str, session_name: str) -> dict[str, str]:
        """`credentials_for`, for a process whose calls reach the moto server over HTTP."""
        credentials = self.credentials_for(role_arn, session_name)
        self.out_of_process.add(credentials["AWS_ACCESS_KEY_ID"])
        return credentials

    def denial_error(
        self, principal: Principal, service: str, permission: Permission, decision: Decision
    ) -> dict[str, Any]:
        """The error body AWS answers with, as botocore parses it."""
        code, status = DENIAL.get(prefix_of(service), DEFAULT_DENIAL)
        message = (
            f"User: {principal.arn} is not authorized to perform: {permission.action} on resource: "
            f"{permission.resource} {decision.reason}"
        )
        return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}

    def record(
        self, principal: Principal, permission: Permission, decision: Decision, operation: str
    ) -> None:
        entry = TraceEntry(
            principal=principal.name,
            action=permission.action,
            resource=permission.resource,
            allowed=decision.allowed,
            operation=operation,
            context=tuple(sorted((k, str(v)) for k, v in permission.context.items())),
        )
        with self._lock:
            self.trace[entry] = self.trace.get(entry, 0) + 1


def trace_path_from_env() -> Path | None:
    """SLUICE_IAM_TRACE: where every decision is appended (JSON lines), if set."""
    value = os.environ.get(TRACE_ENV)
    return Path(value) if value else None
