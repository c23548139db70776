"""Deploying template.yaml into moto: the translated template created through moto's CloudFormation,
then what moto's CloudFormation leaves out applied through the service APIs, so every resource is as
the template declares it.

- S3: buckets whose template enables EventBridge notifications or versioning get them through the S3
  API (moto's CloudFormation applies neither).
- Firehose: delivery streams are created through the Firehose API (moto's CloudFormation has none;
  see `firehose_streams`).
- Step Functions: each state machine is created again in the backend that executes ASL, under the same
  name and so the same ARN (moto's CloudFormation creates it only in the plain backend).
- Cognito: user pools, app clients and groups are created through the cognito-idp API before the stack
  (moto's CloudFormation has none; see `console.cognito`), and their ids put where the template references them.
- EC2 (the training task's network): subnets' route-table associations, security groups' egress rules
  and VPCs' DNS attributes, which moto's CloudFormation drops, are applied through the EC2 API (see
  `network`).
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.tools.local.console.cognito import create_cognito, detach_cognito, substitute_cognito
from sluice.tools.local.firehose.streams import create_delivery_streams, detach_delivery_streams
from sluice.tools.local.network import complete_network
from sluice.tools.local.template import LocalTemplate, TemplateError, translate

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_STACK_NAME = "sluice-local"
CODE_BUCKET = "sluice-local-code"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"

# A client of the stack's endpoint, by service name.
Clients = Callable[[str], Any]


class LocalStackError(TemplateError):
    """The local stack could not be created."""


@dataclass
class Deployment:
    """A stack in moto: its translated template, its Outputs, the physical id of every resource (by
    logical id) and, for a stack created here, the logical id of every function by function name."""

    template: LocalTemplate
    outputs: dict[str, str]
    physical: dict[str, str]
    functions_by_name: dict[str, str] = field(default_factory=dict)

    def state_machine_arns(self) -> list[str]:
        """The ARN of every state machine the template declares."""
        return [self.physical[logical_id] for logical_id in self.logical_ids_of(STATE_MACHINE)]

    def logical_ids_of(self, resource_type: str) -> list[str]:
        """The logical id of every resource of `resource_type` (e.g. AWS::S3::Bucket)."""
        resources = self.template.cloudformation["Resources"]
        return [logical_id for logical_id, r in resources.items() if r.get("Type") == resource_type]


def translate_template(root: Path, region: str, parameters: dict[str, str]) -> LocalTemplate:
    """`root`/template.yaml translated for the local stack (functions' code in CODE_BUCKET)."""
    return translate(root / "template.yaml", code_bucket=CODE_BUCKET, region=region, parameters=parameters)


def create_stack(
    client: Clients, template: LocalTemplate, *, stack_name: str, region: str, parameters: dict[str, str]
) -> Deployment:
    """Create `template` as stack `stack_name` (with template `parameters` overridden) and complete
    what moto's CloudFormation leaves out; a LocalStackError unless every resource is as declared."""
    _check_parameters(template, parameters)
    _upload_code(client("s3"), template)
    cfn = client("cloudformation")
    streams = detach_delivery_streams(template.cloudformation)  # moto's CloudFormation has no Firehose
    defaults = {k: str(v.get("Default", "")) for k, v in (template.sam.get("Parameters") or {}).items()}
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    cognito = create_cognito(  # nor Cognito: created first, their ids put in the template
        client("cognito-idp"),
        detach_cognito(template.cloudformation),
        conditions=template.cloudformation.get("Conditions") or {},
        parameters=defaults | parameters,
        pseudo=pseudo,
    )
    substitute_cognito(template.cloudformation, cognito)
    _create_in_cloudformation(cfn, template, stack_name, parameters)
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise LocalStackError(
            f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}"
        )
    physical = _physical_ids(cfn, stack_name) | {logical_id: c.ref for logical_id, c in cognito.items()}
    deployment = Deployment(template, _outputs_of(stack), physical)
    deployment.functions_by_name = _functions_by_name(deployment)
    _enable_bucket_features(client("s3"), deployment)
    _apply_resource_policies(client, deployment, stack_name, region)
    _mirror_state_machines(deployment, region)
    complete_network(
        client("ec2"), template.cloudformation["Resources"], deployment.physical, defaults | parameters
    )
    create_delivery_streams(
        client("firehose"),
        streams,
        physical=deployment.physical,
        parameters=defaults | parameters,
        pseudo=pseudo,
    )
    return deployment


def read_stack(
    client: Clients, template: LocalTemplate, *, stack_name: str, endpoint_url: str | None
) -> Deployment:
    """A stack deployed earlier at `endpoint_url` (a running `sluice local up`), read from
    CloudFormation; a LocalStackError when there is none."""
    cfn = client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except Exception as exc:
        raise LocalStackError(f"no stack {stack_name!r} at {endpoint_url}: {exc}") from exc
    outputs = _outputs_of(stack)
    return Deployment(
        template, outputs, _physical_ids(cfn, stack_name) | cognito_by_outputs(template, outputs)
    )


def cognito_by_outputs(template: LocalTemplate, outputs: dict[str, str]) -> dict[str, str]:
    """The Cognito resources' physical ids, which moto's CloudFormation never held: read back from the
    stack's Outputs that `Ref` them (ConsoleUserPoolId, ConsoleUserPoolClientId)."""
    resources = template.cloudformation.get("Resources") or {}
    found = {}
    for name, output in (template.cloudformation.get("Outputs") or {}).items():
        value = (output or {}).get("Value")
        target = value.get("Ref") if isinstance(value, dict) else None
        if (
            target in resources
            and str(resources[target].get("Type", "")).startswith("AWS::Cognito::")
            and name in outputs
        ):
            found[str(target)] = outputs[name]
    return found


def _check_parameters(template: LocalTemplate, parameters: dict[str, str]) -> None:
    declared = template.sam.get("Parameters") or {}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise LocalStackError(f"template.yaml declares no parameter {', '.join(unknown)}")


def _upload_code(s3: Any, template: LocalTemplate) -> None:
    s3.create_bucket(Bucket=CODE_BUCKET)
    for logical_id, folder in [
        *((f.logical_id, f.folder) for f in template.functions.values()),
        *template.layers.items(),
    ]:
        s3.put_object(Bucket=CODE_BUCKET, Key=f"{logical_id}.zip", Body=_zip_of(folder))


def _zip_of(folder: Path) -> bytes:
    """A small placeholder archive for moto's Lambda (the code really runs from `folder`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SOURCE", str(folder))
    return buffer.getvalue()


def _create_in_cloudformation(
    cfn: Any, template: LocalTemplate, stack_name: str, parameters: dict[str, str]
) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto warns for each resource type it skips
            cfn.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(template.cloudformation),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
    except RecursionError as exc:  # pragma: no cover - check_cycles reports cycles first
        raise LocalStackError("CloudFormation recursed: the template has a dependency cycle") from exc


def _outputs_of(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _physical_ids(cfn: Any, stack_name: str) -> dict[str, str]:
    physical = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource.get("PhysicalResourceId"):
                physical[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    return physical


def _functions_by_name(deployment: Deployment) -> dict[str, str]:
    found = {}
    for logical_id in deployment.template.functions:
        name = deployment.physical.get(logical_id)
        if not name:
            raise LocalStackError(f"{logical_id} was not created by moto")
        found[name.rsplit(":", 1)[-1]] = logical_id
    return found


def _enable_bucket_features(s3: Any, deployment: Deployment) -> None:
    for logical_id in deployment.logical_ids_of("AWS::S3::Bucket"):
        properties = deployment.template.cloudformation["Resources"][logical_id].get("Properties", {})
        bucket = deployment.physical[logical_id]
        config = properties.get("NotificationConfiguration", {})
        if config.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true", "True"):
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        # moto's CloudFormation ignores VersioningConfiguration: without it every upload of a key
        # has the version id "null", so re-uploading a file looks like a duplicate event.
        versioning = properties.get("VersioningConfiguration", {})
        if versioning.get("Status") in ("Enabled", "Suspended"):
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning["Status"]})


def _apply_resource_policies(client: Clients, deployment: Deployment, stack_name: str, region: str) -> None:
    """Buckets' CORS rules, bucket and queue policies, which moto's CloudFormation skips ("not supported"): resolved with
    moto's own intrinsic-function resolver and put through the S3 and SQS APIs, so local IAM evaluates
    them (the buckets' TLS-only deny among them)."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json

    stacks = cloudformation_backends[ACCOUNT_ID][region].stacks.values()
    stack = next(s for s in stacks if s.name == stack_name and s.status == "CREATE_COMPLETE")
    resources = deployment.template.cloudformation["Resources"]
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        cors = (resource.get("Properties") or {}).get("CorsConfiguration")
        if kind == "AWS::S3::Bucket" and cors:  # moto's CloudFormation ignores CorsConfiguration too
            rules = clean_json(cors, stack.resource_map)["CorsRules"]
            client("s3").put_bucket_cors(
                Bucket=deployment.physical[logical_id],
                CORSConfiguration={"CORSRules": [_cors_rule(rule) for rule in rules]},
            )
        if kind not in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            continue
        properties = clean_json(resource.get("Properties", {}), stack.resource_map)
        document = json.dumps(properties["PolicyDocument"])
        if kind == "AWS::S3::BucketPolicy":
            client("s3").put_bucket_policy(Bucket=properties["Bucket"], Policy=document)
        else:
            for queue_url in properties["Queues"]:
                client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": document})


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation CorsRule as the S3 API takes it (Id -> ID, MaxAge -> MaxAgeSeconds)."""
    renamed = {"Id": "ID", "MaxAge": "MaxAgeSeconds"}
    out = {renamed.get(k, k): v for k, v in rule.items()}
    if "MaxAgeSeconds" in out:
        out["MaxAgeSeconds"] = int(out["MaxAgeSeconds"])
    return out


def _mirror_state_machines(deployment: Deployment, region: str) -> None:
    """moto's CloudFormation creates state machines in the plain Step Functions backend; with
    `execute_state_machine` the API serves the ASL-executing backend. Create each one there under
    the same name (so the same ARN), which also validates its definition."""
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    plain = stepfunctions_backends[ACCOUNT_ID][region]
    executing = stepfunctions_parser_backends[ACCOUNT_ID][region]
    for logical_id in deployment.logical_ids_of(STATE_MACHINE):
        machine = plain.describe_state_machine(deployment.physical[logical_id])
        try:
            created = executing.create_state_machine(
                name=machine.name,
                definition=machine.definition,
                roleArn=machine.roleArn,
                sm_type=machine.type,
            )
        except Exception as exc:
            raise LocalStackError(f"{logical_id}: moto rejects the state machine definition: {exc}") from exc
        if created.arn != deployment.physical[logical_id]:
            raise LocalStackError(
                f"{logical_id}: ARN {created.arn} differs from {deployment.physical[logical_id]}"
            )
