"""Cognito on the local stack: moto's CloudFormation has no AWS::Cognito::* (it warns, skips the resource,
and a `Ref` to it resolves to nothing). As for API Gateway (`template.strip_api_gateway`) and Firehose,
`detach_cognito` takes the user pools, their app clients and groups out of the translated template;
`create_cognito` creates them with the cognito-idp API, with their properties as the template gives
them (intrinsics resolved against the parameters), and puts their `Ref`/`GetAtt` values (pool id, ARN,
client id, group name) in the rest of the template before moto creates the stack.

`console_users` creates the local stack's console users (an operator and a viewer, random passwords set
permanent) and `sign_in` gets a user's ID token as the console does (InitiateAuth, USER_PASSWORD_AUTH).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from sluice.tools.local.template import SUBSTITUTION, TemplateError

USER_POOL = "AWS::Cognito::UserPool"
USER_POOL_CLIENT = "AWS::Cognito::UserPoolClient"
USER_POOL_GROUP = "AWS::Cognito::UserPoolGroup"
ORDER = (USER_POOL, USER_POOL_CLIENT, USER_POOL_GROUP)  # what each one needs is created before it
NO_VALUE = object()

# The users `sluice local up` creates (and the in-process stack offers): email -> group.
CONSOLE_USERS = {"operator@example.com": "operators", "viewer@example.com": "viewers"}


def detach_cognito(cloudformation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Remove the Cognito resources from a translated template; each one's resource (Type, Properties)
    by logical id, pools first, then clients, then groups."""
    resources = cloudformation.get("Resources", {})
    found = {k: r for k, r in resources.items() if r.get("Type") in ORDER}
    for logical_id in found:
        del resources[logical_id]
    return dict(sorted(found.items(), key=lambda item: ORDER.index(item[1]["Type"])))


@dataclass(frozen=True)
class Created:
    """A Cognito resource as created: its `Ref` value and its attributes (`Fn::GetAtt`)."""

    ref: str
    attributes: dict[str, str]


def create_cognito(
    cognito: Any,
    detached: dict[str, dict[str, Any]],
    *,
    conditions: dict[str, Any],
    parameters: dict[str, str],
    pseudo: dict[str, str],
) -> dict[str, Created]:
    """Create the detached resources through the cognito-idp API (`cognito`: its client)."""
    resolver = _Resolver(conditions, parameters, pseudo, {})
    region, account = pseudo["AWS::Region"], pseudo["AWS::AccountId"]
    for logical_id, resource in detached.items():
        properties = resolver.resolve(resource.get("Properties") or {}, logical_id)
        kind = resource["Type"]
        if kind == USER_POOL:
            properties["PoolName"] = properties.pop("UserPoolName", logical_id)
            enabled_mfas = properties.pop("EnabledMfas", [])
            arguments = _arguments(cognito, "CreateUserPool", properties, logical_id)
            pool_id = cognito.create_user_pool(**arguments)["UserPool"]["Id"]
            if properties.get("MfaConfiguration", "OFF") != "OFF":
                cognito.set_user_pool_mfa_config(
                    UserPoolId=pool_id,
                    MfaConfiguration=properties["MfaConfiguration"],
                    SoftwareTokenMfaConfiguration={"Enabled": "SOFTWARE_TOKEN_MFA" in enabled_mfas},
                )
            provider = f"cognito-idp.{region}.amazonaws.com/{pool_id}"
            resolver.created[logical_id] = Created(
                pool_id,
                {
                    "Arn": f"arn:aws:cognito-idp:{region}:{account}:userpool/{pool_id}",
                    "ProviderName": provider,
                    "ProviderURL": f"https://{provider}",
                    "UserPoolId": pool_id,
                },
            )
        elif kind == USER_POOL_CLIENT:
            arguments = _arguments(cognito, "CreateUserPoolClient", properties, logical_id)
            client = cognito.create_user_pool_client(**arguments)["UserPoolClient"]
            resolver.created[logical_id] = Created(
                client["ClientId"], {"Name": client["ClientName"], "ClientId": client["ClientId"]}
            )
        else:
            arguments = _arguments(cognito, "CreateGroup", properties, logical_id)
            cognito.create_group(**arguments)
            resolver.created[logical_id] = Created(properties["GroupName"], {})
    return resolver.created


def substitute_cognito(cloudformation: dict[str, Any], created: dict[str, Created]) -> None:
    """Put the created resources' values where the rest of the template references them."""

    def sub_text(text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name, _, attribute = match.group(1).partition(".")
            if name not in created:
                return match.group(0)
            return created[name].attributes[attribute] if attribute else created[name].ref

        return SUBSTITUTION.sub(replace, text)

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("Ref") in created:
                return created[value["Ref"]].ref
            target = value.get("Fn::GetAtt")
            if target is not None:
                name, attribute = target if isinstance(target, list) else str(target).split(".", 1)
                if name in created:
                    return created[name].attributes[attribute]
            if "Fn::Sub" in value:
                sub = value["Fn::Sub"]
                if isinstance(sub, str):
                    return {"Fn::Sub": sub_text(sub)}
                return {"Fn::Sub": [sub_text(sub[0]), *[rewrite(v) for v in sub[1:]]]}
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    resources = cloudformation.get("Resources", {})
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if depends is not None:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in created]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
    cloudformation["Resources"] = rewrite(resources)
    cloudformation["Outputs"] = rewrite(cloudformation.get("Outputs", {}))


# ------------------------------------------------------------------------------------------ users
def strong_password(length: int = 20) -> str:
    """A random password that meets any Cognito password policy (each character class, ≥ 12 long)."""
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#$%&*+-=?@^_"]
    chosen = [secrets.choice(c) for c in classes]
    everything = "".join(classes)
    chosen += [secrets.choice(everything) for _ in range(length - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


def create_user(cognito: Any, pool_id: str, email: str, group: str, password: str) -> None:
    """An administrator's user (as `aws cognito-idp admin-create-user` ...): email verified, the
    password permanent (no change asked at first sign-in), in `group`."""
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)


def sign_in(cognito: Any, client_id: str, email: str, password: str) -> str:
    """A user's ID token, as the console signs in (USER_PASSWORD_AUTH)."""
    answer = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    return str(answer["AuthenticationResult"]["IdToken"])


# ------------------------------------------------------------------------------------------ resolving
def _arguments(cognito: Any, operation: str, properties: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The API's arguments from CloudFormation properties (the same names), typed as its model says;
    a property the API has no parameter for is an error rather than silently left out."""
    shape = cognito.meta.service_model.operation_model(operation).input_shape
    unknown = sorted(set(properties) - set(shape.members))
    if unknown:
        raise TemplateError(f"{logical_id}: the local stack cannot apply {', '.join(unknown)} ({operation})")
    return {k: _typed(v, shape.members[k]) for k, v in properties.items()}


def _typed(value: Any, shape: Any) -> Any:
    # CloudFormation passes parameters' values as strings; the API wants integers and booleans typed.
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: _typed(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_typed(v, shape.member) for v in value]
    if shape.type_name in ("integer", "long") and isinstance(value, str):
        return int(value)
    if shape.type_name == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    return value


@dataclass
class _Resolver:
    conditions: dict[str, Any]
    parameters: dict[str, str]
    pseudo: dict[str, str]
    created: dict[str, Created]

    def resolve(self, value: Any, where: str) -> Any:
        resolved = self._value(value, where)
        return {} if resolved is NO_VALUE else resolved

    def _ref(self, name: str, where: str) -> str:
        for source in (self.pseudo, self.parameters):
            if name in source:
                return str(source[name])
        if name in self.created:
            return self.created[name].ref
        raise TemplateError(f"{where}: the local stack cannot resolve !Ref {name} in a Cognito resource")

    def condition(self, name: str, where: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"{where}: no condition {name}")
        return bool(self._value(self.conditions[name], where))

    def _value(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [v for v in (self._value(item, where) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else self._ref(argument, where)
            if key == "Fn::If":
                name, then, otherwise = argument
                return self._value(then if self.condition(name, where) else otherwise, where)
            if key == "Fn::Equals":
                left, right = (self._value(v, where) for v in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._value(argument[0], where)
            if key == "Fn::And":
                return all(self._value(v, where) for v in argument)
            if key == "Fn::Or":
                return any(self._value(v, where) for v in argument)
            if key == "Condition":
                return self.condition(argument, where)
            if key == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(p) for p in self._value(parts, where))
            if key == "Fn::Sub":
                text, names = (argument, {}) if isinstance(argument, str) else argument
                local = {k: self._value(v, where) for k, v in names.items()}
                return SUBSTITUTION.sub(lambda m: self._substituted(m.group(1), local, where), text)
            if key == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                if name in self.created:
                    return self.created[name].attributes[attribute]
                raise TemplateError(f"{where}: the local stack cannot resolve !GetAtt {name}.{attribute}")
        resolved = {k: self._value(v, where) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _substituted(self, name: str, local: dict[str, Any], where: str) -> str:
        if name in local:
            return str(local[name])
        base, _, attribute = name.partition(".")
        if attribute:
            return str(self._value({"Fn::GetAtt": [base, attribute]}, where))
        return self._ref(name, where)


def console_users(cognito: Any, pool_id: str) -> list[dict[str, str]]:
    """Create CONSOLE_USERS in the pool, each with a random strong password; {"email", "password",
    "group"} of each."""
    users = []
    for email, group in CONSOLE_USERS.items():
        password = strong_password()
        create_user(cognito, pool_id, email, group, password)
        users.append({"email": email, "password": password, "group": group})
    return users
