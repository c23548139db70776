"""The training task's network on the local stack: what moto's CloudFormation leaves out of the EC2
resources the template creates when TrainingSubnets is empty (template.yaml, CreateTrainingNetwork).

Checked with moto 5.2.5: its CloudFormation creates every type the template uses (AWS::EC2::VPC, Subnet,
InternetGateway, VPCGatewayAttachment, RouteTable, Route, SubnetRouteTableAssociation, SecurityGroup,
VPCEndpoint: the gateway endpoints add their prefix-list routes), but
- a SubnetRouteTableAssociation is recorded aside, not on the route table: DescribeRouteTables shows no
  association, so the subnet would use the VPC's main route table (moto/ec2/models/subnets.py);
- a SecurityGroup's `SecurityGroupEgress` is ignored: the group keeps EC2's default rule (all traffic
  out), not the template's HTTPS-only rule (moto/ec2/models/security_groups.py reads only the ingress);
- a VPC's `EnableDnsSupport` / `EnableDnsHostnames` are ignored (moto/ec2/models/vpcs.py).
`complete_network` applies the three through the EC2 API once the stack exists, so the network is as the
template declares it.
"""

from __future__ import annotations

from typing import Any

from sluice.tools.local.template import TemplateError

VPC = "AWS::EC2::VPC"
ROUTE_TABLE_ASSOCIATION = "AWS::EC2::SubnetRouteTableAssociation"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
_RULE_FIELDS = (
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIp",
    "CidrIpv6",
    "Description",
    "DestinationPrefixListId",
)


def complete_network(
    ec2: Any, resources: dict[str, Any], physical: dict[str, str], parameters: dict[str, str]
) -> None:
    """Apply to the created VPCs, route tables and security groups what moto's CloudFormation ignored
    (above). Resources a
    false Condition left out (no physical id) are skipped."""
    for logical_id, resource in resources.items():
        if logical_id not in physical:
            continue
        properties = resource.get("Properties") or {}
        if resource.get("Type") == VPC:
            for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
                if attribute in properties:
                    value = _resolve(properties[attribute], logical_id, physical, parameters)
                    ec2.modify_vpc_attribute(
                        VpcId=physical[logical_id], **{attribute: {"Value": _boolean(value)}}
                    )
        elif resource.get("Type") == ROUTE_TABLE_ASSOCIATION:
            ec2.associate_route_table(
                RouteTableId=_resolve(properties["RouteTableId"], logical_id, physical, parameters),
                SubnetId=_resolve(properties["SubnetId"], logical_id, physical, parameters),
            )
        elif resource.get("Type") == SECURITY_GROUP and "SecurityGroupEgress" in properties:
            rules = _resolve(properties["SecurityGroupEgress"], logical_id, physical, parameters)
            _replace_egress(ec2, physical[logical_id], rules)


def _replace_egress(ec2: Any, group_id: str, rules: list[dict[str, Any]]) -> None:
    """The group's egress becomes exactly `rules` (CloudFormation removes EC2's default rule when a
    template declares SecurityGroupEgress)."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=group["IpPermissionsEgress"])
    permissions = [_permission(rule) for rule in rules]
    if permissions:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=permissions)


def _permission(rule: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(rule) - set(_RULE_FIELDS))
    if unknown:
        raise TemplateError(f"the local stack cannot apply SecurityGroupEgress with {', '.join(unknown)}")
    permission: dict[str, Any] = {"IpProtocol": str(rule["IpProtocol"])}
    for port in ("FromPort", "ToPort"):
        if port in rule:
            permission[port] = int(rule[port])
    description = {"Description": rule["Description"]} if "Description" in rule else {}
    if "CidrIp" in rule:
        permission["IpRanges"] = [{"CidrIp": rule["CidrIp"], **description}]
    if "CidrIpv6" in rule:
        permission["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **description}]
    if "DestinationPrefixListId" in rule:
        permission["PrefixListIds"] = [{"PrefixListId": rule["DestinationPrefixListId"], **description}]
    return permission


def _boolean(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _resolve(value: Any, where: str, physical: dict[str, str], parameters: dict[str, str]) -> Any:
    """Literals as they are, `Ref`s to parameters or resources; any other intrinsic is an error."""
    if isinstance(value, list):
        return [_resolve(v, where, physical, parameters) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            name = value["Ref"]
            if name in parameters:
                return parameters[name]
            if name in physical:
                return physical[name]
            raise TemplateError(f"{where}: the local stack cannot resolve !Ref {name}")
        intrinsic = next((k for k in value if k.startswith("Fn::")), None)
        if intrinsic:
            raise TemplateError(f"{where}: the local stack cannot apply {intrinsic} here")
        return {k: _resolve(v, where, physical, parameters) for k, v in value.items()}
    return value
