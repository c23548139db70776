"""API Gateway's Cognito user pool authorizer (REST APIs), for the local API front: routes whose
OpenAPI operation names a `cognito_user_pools` security scheme get their `Authorization` header checked
before any handler runs, as API Gateway does with no authorization scopes on the method:

- the header is a JWT (with or without "Bearer "), signed RS256 by a key of the pool's JWKS;
- `iss` is https://cognito-idp.<region>.amazonaws.com/<pool id> of a pool the scheme names;
- `token_use` is `id` (an access token needs scopes on the method), `aud` is one of the pool's app clients;
- `exp` is in the future.

A refusal is a 401: `{"message": "Unauthorized"}`, or `{"message": "The incoming token has expired"}`
for a token past its `exp`. An accepted token's claims reach the function as
`requestContext.authorizer.claims`, every value a string as API Gateway gives them: numbers as digits,
`exp` and `iat` as dates ("Fri Jul 29 18:52:53 UTC 2016"), lists (`cognito:groups`) comma-separated.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwk, jwt
from joserfc.errors import JoseError

UNAUTHORIZED = "Unauthorized"
EXPIRED = "The incoming token has expired"
COGNITO_AUTHTYPE = "cognito_user_pools"
DATE_CLAIMS = ("exp", "iat")  # API Gateway writes these as dates, auth_time as seconds


@dataclass(frozen=True)
class UserPool:
    """What the authorizer knows of one user pool."""

    pool_id: str
    region: str
    client_ids: frozenset[str]
    jwks: Callable[[], Mapping[str, Any]]  # the pool's public keys (its /.well-known/jwks.json)

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"


def moto_jwks(endpoint_url: str | None, pool_id: str) -> Callable[[], Mapping[str, Any]]:
    """The keys moto signs a pool's tokens with: served at <endpoint>/<pool id>/.well-known/jwks.json by
    moto's server, else (moto in this process) moto's own public key set. Read once."""
    cache: list[Mapping[str, Any]] = []

    def keys() -> Mapping[str, Any]:
        if not cache:
            if endpoint_url:
                url = f"{endpoint_url.rstrip('/')}/{pool_id}/.well-known/jwks.json"
                with urllib.request.urlopen(url, timeout=10) as response:
                    cache.append(json.loads(response.read()))
            else:
                from moto.utilities.utils import load_resource

                cache.append(load_resource("cognitoidp/resources/jwks-public.json"))
        return cache[0]

    return keys


@dataclass(frozen=True)
class CognitoAuth:
    """The user pools of the API's `cognito_user_pools` schemes, by the logical id of each pool."""

    pools: Mapping[str, UserPool]

    def check(
        self, pool_ids: Iterable[str], headers: Mapping[str, str], now: float | None = None
    ) -> tuple[dict[str, str] | None, str | None]:
        """(claims, None) for a request with a valid ID token of one of the pools `pool_ids` (logical
        ids), else (None, the message of API Gateway's 401). `headers` have lower-case names."""
        pools = [self.pools[p] for p in pool_ids if p in self.pools]
        value = headers.get("authorization", "").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if not value or not pools:
            return None, UNAUTHORIZED
        unverified = _payload_unverified(value)
        issuer = unverified.get("iss") if isinstance(unverified, dict) else None
        pool = next((p for p in pools if p.issuer == issuer), None)
        if pool is None:
            return None, UNAUTHORIZED
        try:
            keys = jwk.KeySet.import_key_set(dict(pool.jwks()))  # type: ignore[arg-type]
            token = jwt.decode(value, keys, algorithms=["RS256"])
        except (JoseError, ValueError, TypeError, KeyError):
            return None, UNAUTHORIZED
        claims = dict(token.claims)
        if claims.get("iss") != pool.issuer or claims.get("token_use") != "id":
            return None, UNAUTHORIZED
        if claims.get("aud") not in pool.client_ids:
            return None, UNAUTHORIZED
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= (time.time() if now is None else now):
            return None, EXPIRED if isinstance(exp, int | float) else UNAUTHORIZED
        return as_api_gateway_claims(claims), None


def as_api_gateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """A token's claims as a REST API's Cognito authorizer passes them: every value a string."""
    out = {}
    for name, value in claims.items():
        if name in DATE_CLAIMS and isinstance(value, int | float):
            out[name] = datetime.fromtimestamp(value, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


def _payload_unverified(value: str) -> Any:
    """The payload of a compact JWS, unverified (only to pick the pool whose keys verify it)."""
    import base64

    parts = value.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        return json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return None


def cognito_operations(sam: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(path, method) of every operation an Api's DefinitionBody secures with a `cognito_user_pools`
    scheme → the logical ids of the pools the scheme names (providerARNs: !GetAtt Pool.Arn). The
    method of `x-amazon-apigateway-any-method` is "any"."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for resource in (sam.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Serverless::Api":
            continue
        body = (resource.get("Properties") or {}).get("DefinitionBody") or {}
        schemes = (
            ((body.get("components") or {}).get("securitySchemes") or {}) if isinstance(body, dict) else {}
        )
        pools_of = {
            name: _pool_logical_ids(scheme)
            for name, scheme in schemes.items()
            if isinstance(scheme, dict) and scheme.get("x-amazon-apigateway-authtype") == COGNITO_AUTHTYPE
        }
        for path, operations in (body.get("paths") or {}).items():
            for method, operation in (operations or {}).items():
                if not isinstance(operation, dict) or not isinstance(operation.get("security"), list):
                    continue
                names = [n for requirement in operation["security"] for n in requirement]
                pools = tuple(p for n in names if n in pools_of for p in pools_of[n])
                if pools:
                    key = "any" if method == "x-amazon-apigateway-any-method" else str(method).lower()
                    found[(str(path), key)] = pools
    return found


def _pool_logical_ids(scheme: Mapping[str, Any]) -> tuple[str, ...]:
    arns = (scheme.get("x-amazon-apigateway-authorizer") or {}).get("providerARNs") or []
    found = []
    for arn in arns:
        target = arn.get("Fn::GetAtt") if isinstance(arn, dict) else None
        if target is not None:
            found.append(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])
    return tuple(found)


def local_user_pools(
    cognito: Any, logical_ids: Iterable[str], physical: dict[str, str], region: str, endpoint_url: str | None
) -> dict[str, UserPool]:
    """What the local API front's Cognito authorizer needs of each pool (by logical id): its id, its app
    clients (a token of any of them is accepted, as by API Gateway), the keys moto signs with."""
    pools = {}
    for logical_id in logical_ids:
        pool_id = physical[logical_id]
        clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
        pools[logical_id] = UserPool(
            pool_id, region, frozenset(c["ClientId"] for c in clients), moto_jwks(endpoint_url, pool_id)
        )
    return pools
