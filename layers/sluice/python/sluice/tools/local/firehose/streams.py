"""Delivery streams on the local stack: moto's CloudFormation has no AWS::KinesisFirehose::DeliveryStream
(it warns and skips the resource, and a `Ref` to it resolves to nothing; moto/cloudformation/parsing.py).
`detach_delivery_streams` takes the streams out of the translated template (a `Ref` becomes the stream's
name, a `GetAtt …Arn` its ARN) and `create_delivery_streams` creates them with the Firehose API once the
stack exists. How they then deliver is in `firehose`."""

from __future__ import annotations

import re
from typing import Any

from sluice.tools.local.template import TemplateError

DELIVERY_STREAM = "AWS::KinesisFirehose::DeliveryStream"


def declared_streams(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The delivery streams a template declares: each one's Properties by logical id."""
    resources = template.get("Resources", {})
    return {k: r.get("Properties", {}) for k, r in resources.items() if r.get("Type") == DELIVERY_STREAM}


def template_streams(
    firehose: Any, template: dict[str, Any], *, bucket: str, stack_name: str = "sluice"
) -> dict[str, str]:
    """Create `template`'s delivery streams as it declares them (prefixes, buffering, processors),
    delivering to `bucket`, for tests and benchmarks without a deployed stack. Returns each stream's
    name by logical id."""
    parameters = {k: str(v["Default"]) for k, v in template.get("Parameters", {}).items() if "Default" in v}
    physical = {"ArtifactBucket": bucket, "DeliveryRole": "delivery", "SluiceKey": "sluice-key"}
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
    }
    return create_delivery_streams(
        firehose, declared_streams(template), physical=physical, parameters=parameters, pseudo=pseudo
    )


def detach_delivery_streams(cloudformation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Remove the delivery streams from a translated template (moto's CloudFormation cannot create
    them), pointing every `Ref` to one at its name and every `GetAtt …Arn` at its ARN. Returns each
    stream's Properties by logical id. Its DeliveryStreamName must be given (a string or Fn::Sub)."""
    resources = cloudformation.get("Resources", {})
    streams = declared_streams(cloudformation)
    names: dict[str, str] = {}
    for logical_id, properties in streams.items():
        name = properties.get("DeliveryStreamName")
        name = name.get("Fn::Sub") if isinstance(name, dict) else name
        if not isinstance(name, str):
            raise TemplateError(
                f"{logical_id}: the local stack needs a DeliveryStreamName (a string or !Sub)"
            )
        names[logical_id] = name
        del resources[logical_id]

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("Ref") in names:
                return {"Fn::Sub": names[value["Ref"]]}
            target = value.get("Fn::GetAtt")
            if isinstance(target, list) and target[0] in names and target[1] == "Arn":
                arn = "arn:${AWS::Partition}:firehose:${AWS::Region}:${AWS::AccountId}:deliverystream/"
                return {"Fn::Sub": arn + names[target[0]]}
            return {
                k: rewrite(v)
                for k, v in value.items()
                if not (k == "DependsOn" and isinstance(v, str) and v in names)
            }
        if isinstance(value, list):
            return [rewrite(v) for v in value if not (isinstance(v, str) and v in names)]
        return value

    cloudformation["Resources"] = rewrite(resources)
    cloudformation["Outputs"] = rewrite(cloudformation.get("Outputs", {}))
    return streams


def create_delivery_streams(
    firehose: Any,
    streams: dict[str, dict[str, Any]],
    *,
    physical: dict[str, str],
    parameters: dict[str, str],
    pseudo: dict[str, str],
) -> dict[str, str]:
    """Create the detached streams through the Firehose API, their intrinsics resolved against the
    deployed stack (`physical` ids, template `parameters` with defaults applied, `pseudo` parameters
    such as AWS::StackName). Returns each stream's name by logical id."""
    created = {}
    for logical_id, properties in streams.items():
        # Delivery errors are not logged locally (moto's CloudFormation creates no AWS::Logs::LogStream).
        destination = {
            k: v
            for k, v in properties.get("ExtendedS3DestinationConfiguration", {}).items()
            if k != "CloudWatchLoggingOptions"
        }
        resolved = _resolve(
            properties | {"ExtendedS3DestinationConfiguration": destination}, physical, parameters, pseudo
        )
        arguments = {
            k: v
            for k, v in resolved.items()
            if k in ("DeliveryStreamName", "DeliveryStreamType", "ExtendedS3DestinationConfiguration")
        }
        if "DeliveryStreamEncryptionConfigurationInput" in resolved:
            arguments["DeliveryStreamEncryptionConfigurationInput"] = resolved[
                "DeliveryStreamEncryptionConfigurationInput"
            ]
        firehose.create_delivery_stream(**_typed(arguments))
        created[logical_id] = resolved["DeliveryStreamName"]
    return created


def _typed(value: Any, key: str = "") -> Any:
    # CloudFormation passes numbers and booleans as given; the API wants them typed.
    if isinstance(value, dict):
        return {k: _typed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, key) for v in value]
    if key in ("IntervalInSeconds", "SizeInMBs", "DurationInSeconds") and isinstance(value, str):
        return int(value)
    if key == "Enabled" and isinstance(value, str):
        return value.lower() == "true"
    return value


def _arn(logical_id: str, physical: dict[str, str], pseudo: dict[str, str]) -> str:
    name = physical[logical_id]
    if name.startswith("arn:"):
        return name
    region, account = pseudo["AWS::Region"], pseudo["AWS::AccountId"]
    if "Bucket" in logical_id:
        return f"arn:aws:s3:::{name}"
    if "Role" in logical_id:
        return f"arn:aws:iam::{account}:role/{name}"
    if "Key" in logical_id:
        return f"arn:aws:kms:{region}:{account}:key/{name}"
    if "LogGroup" in logical_id:
        return f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
    raise TemplateError(f"the local stack cannot resolve the ARN of {logical_id}")


def _resolve(value: Any, physical: dict[str, str], parameters: dict[str, str], pseudo: dict[str, str]) -> Any:
    def ref(name: str) -> str:
        if name in pseudo:
            return pseudo[name]
        if name in parameters:
            return parameters[name]
        if name in physical:
            return physical[name]
        raise TemplateError(f"the local stack cannot resolve !Ref {name} in a delivery stream")

    if isinstance(value, dict):
        if "Ref" in value:
            return ref(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
            if attribute != "Arn":
                raise TemplateError(
                    f"the local stack resolves only GetAtt …Arn, not {logical_id}.{attribute}"
                )
            return _arn(logical_id, physical, pseudo)
        if "Fn::Sub" in value:
            return re.sub(
                r"\$\{([A-Za-z0-9_:.]+)\}",
                lambda m: (
                    _arn(m.group(1)[:-4], physical, pseudo)
                    if m.group(1).endswith(".Arn")
                    else ref(m.group(1))
                ),
                value["Fn::Sub"],
            )
        return {k: _resolve(v, physical, parameters, pseudo) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, physical, parameters, pseudo) for v in value]
    return value
