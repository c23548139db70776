"""Who a person's action on a model is recorded as, and what a console user may do. Pure: the AWS
principal comes from STS (`sluice.adapters.identity`), a console user from the claims API Gateway's
Cognito authorizer verified (`ConsoleUser.of_claims`); neither is ever a free-text name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The ARN STS GetCallerIdentity answers: an IAM user or role, an assumed-role session, a federated user,
# or the account root, in any partition.
PRINCIPAL_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:(?:iam|sts)::\d{12}:(?:root|[A-Za-z-]+/\S+)$")
# A Cognito user pool's token issuer: https://cognito-idp.<region>.amazonaws.com[.cn]/<pool id>
COGNITO_ISSUER = re.compile(
    r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/([\w-]+_[0-9A-Za-z]+)$"
)
# How a console user is recorded: their pool and their `sub` (Cognito's id, never reused)
CONSOLE_USER_ID = re.compile(r"^cognito:([\w-]+_[0-9A-Za-z]+):([0-9A-Za-z-]{1,128})$")
EMAIL = re.compile(r"^[^@\s<>\"']{1,128}@[^@\s<>\"']{1,255}$")

VIEWERS, OPERATORS, ADMINS = "viewers", "operators", "admins"
ACTING_GROUPS = (OPERATORS, ADMINS)  # who may upload, approve, reject, roll back and retrain
READING_GROUPS = (VIEWERS, *ACTING_GROUPS)


@dataclass(frozen=True)
class Principal:
    """Who a person's action is recorded as (`arn`, an audit event's `by`): the AWS principal their
    credentials authenticate, as STS GetCallerIdentity answers it
    (`sluice.adapters.identity.caller_principal`), or a console user as `cognito:<pool id>:<sub>` with
    their verified `email` (`console_user`). Only those shapes are accepted, so a free-text name can
    never stand in for an identity."""

    arn: str
    email: str | None = None

    def __post_init__(self) -> None:
        if CONSOLE_USER_ID.match(self.arn):
            if self.email is None or not EMAIL.match(self.email):
                raise ValueError(f"a console user is recorded with their email, not {self.email!r}")
        elif not PRINCIPAL_ARN.match(self.arn):
            raise ValueError(f"not an AWS principal ARN (as STS GetCallerIdentity answers): {self.arn!r}")

    @classmethod
    def console_user(cls, issuer: str, sub: str, email: str) -> Principal:
        """A console user from their verified token's `iss`, `sub` and `email`. Raises ValueError for an
        issuer that is not a Cognito user pool's, or a sub or email of another shape."""
        pool = COGNITO_ISSUER.match(issuer)
        if pool is None:
            raise ValueError(f"not a Cognito user pool's issuer: {issuer!r}")
        return cls(f"cognito:{pool.group(1)}:{sub}", email)

    @property
    def sub(self) -> str | None:
        """A console user's Cognito `sub` (None for an AWS principal)."""
        found = CONSOLE_USER_ID.match(self.arn)
        return found.group(2) if found else None

    def __str__(self) -> str:
        return self.email or self.arn


def groups_of(claim: str | None) -> tuple[str, ...]:
    """The groups of a `cognito:groups` claim as API Gateway passes it, a string: "a,b" or "[a b]"
    (a list's text), or nothing."""
    if not claim:
        return ()
    text = claim.strip().removeprefix("[").removesuffix("]")
    return tuple(sorted({g for g in re.split(r"[,\s]+", text) if g}))


@dataclass(frozen=True)
class ConsoleUser:
    """A signed-in console user: who they are recorded as, and their groups."""

    principal: Principal
    groups: tuple[str, ...]

    @classmethod
    def of_claims(cls, claims: Mapping[str, object]) -> ConsoleUser:
        """The user of an ID token's claims, as API Gateway's Cognito authorizer verified and passed them
        (every value a string), or as the token Cognito just issued holds them (groups a list). Raises ValueError when `iss`, `sub` or `email` is missing or malformed, or
        the token is not an ID token."""
        values = {k: v for k, v in claims.items() if isinstance(v, str)}
        groups = claims.get("cognito:groups")
        if isinstance(groups, list):  # the token itself, as Cognito issued it (sign-in), holds a list
            values["cognito:groups"] = ",".join(str(g) for g in groups)
        if values.get("token_use", "id") != "id":
            raise ValueError("not an ID token")
        principal = Principal.console_user(
            values.get("iss", ""), values.get("sub", ""), values.get("email", "")
        )
        return cls(principal, groups_of(values.get("cognito:groups")))

    @property
    def email(self) -> str:
        return str(self.principal.email)

    @property
    def sub(self) -> str:
        return str(self.principal.sub)

    @property
    def can_read(self) -> bool:
        return any(g in READING_GROUPS for g in self.groups)

    @property
    def can_act(self) -> bool:
        return any(g in ACTING_GROUPS for g in self.groups)

    def groups_words(self) -> str:
        """The user's groups in words: "viewers", "viewers and admins", "no group"."""
        if not self.groups:
            return "no group"
        return " and ".join(
            [", ".join(self.groups[:-1]), self.groups[-1]] if len(self.groups) > 1 else self.groups
        )
