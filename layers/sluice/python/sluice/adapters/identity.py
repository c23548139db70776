"""Who is calling: the AWS principal of the credentials in use, from STS GetCallerIdentity (which needs
no IAM permission and cannot be denied). A person's action on a model is recorded as this ARN."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sluice.adapters import client
from sluice.domain.registry.records import Principal
from sluice.errors import IdentityUnavailable


def caller_principal(sts: Any | None = None) -> Principal:
    """The principal STS answers for the caller's credentials (`sts`: a client of the endpoint to ask,
    by default the one AWS_ENDPOINT_URL and the region name). Raises IdentityUnavailable when STS cannot
    be reached or refuses the credentials: there is no fallback to a name the caller could choose."""
    try:
        arn = (sts or client("sts")).get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        raise IdentityUnavailable(
            f"cannot establish who you are: STS GetCallerIdentity failed ({exc}). Actions on models are "
            "recorded as the AWS principal of your credentials; check them (aws sts get-caller-identity), "
            "the region and AWS_ENDPOINT_URL"
        ) from exc
    try:
        return Principal(str(arn))
    except ValueError as exc:
        raise IdentityUnavailable(f"STS GetCallerIdentity answered an unexpected ARN: {arn!r}") from exc
