"""The prediction API's authentication, as API Gateway checks it (the client's side, `SignedClient`, is
in sluice.adapters.prediction_api; `client_for` here builds one for a local stack).

- `ApiAuth`: what the local API front checks before a request reaches a handler. In `AWS_IAM` mode the
  signature is computed again with botocore over the request as received (method, path, query, the
  signed headers, the body's hash) and compared in constant time; in `API_KEY` mode `x-api-key` must be
  the stack's key. A refusal is the message API Gateway answers with (403, `{"message": ...}`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from sluice.adapters.prediction_api import API_KEY, AWS_IAM, MODES, SERVICE, SignedClient, credentials_of

DEFAULT_ACCESS_KEY_ID = "testing"  # moto's pair: what the local stack accepts unless told otherwise
DEFAULT_SECRET_ACCESS_KEY = "testing"
MAX_SKEW = timedelta(minutes=5)  # API Gateway refuses signatures older (or newer) than this

MISSING_TOKEN = "Missing Authentication Token"
FORBIDDEN = "Forbidden"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


def client_for(ready: Mapping[str, Any], api_url: str | None = None) -> SignedClient:
    """A client of a local stack from its ready document (`sluice local up`'s JSON line): signed with
    its credentials, or with its API key when it runs in API_KEY mode."""
    url = str(api_url or ready["api_url"])
    if ready.get("auth") == API_KEY:
        return SignedClient(url, api_key=str(ready["api_key"]))
    return SignedClient(url, credentials_of(ready.get("credentials") or _default_credentials()))


def _default_credentials() -> dict[str, str]:
    return {"access_key_id": DEFAULT_ACCESS_KEY_ID, "secret_access_key": DEFAULT_SECRET_ACCESS_KEY}


# ---------------------------------------------------------------------------------------------- server
class _ReceivedSigV4(SigV4Auth):
    """SigV4Auth over a request as received: exactly the headers the client listed as signed."""

    def __init__(self, credentials: Credentials, region: str, signed: list[str]) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            chosen[name] = request.headers.get(name, "")
        return chosen


@dataclass(frozen=True)
class ApiAuth:
    """What the local API front requires of every route that is not open."""

    mode: str = AWS_IAM
    region: str = "us-east-1"
    secrets: Mapping[str, str] = field(
        default_factory=lambda: {DEFAULT_ACCESS_KEY_ID: DEFAULT_SECRET_ACCESS_KEY}
    )  # access key id -> secret access key
    api_key: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"ApiAuth must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == API_KEY and not self.api_key:
            raise ValueError("API_KEY mode needs an api_key")

    def refusal(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime | None = None,
    ) -> str | None:
        """None if the request may pass, else API Gateway's message for the 403. `headers` have
        lower-case names."""
        if self.mode == API_KEY:
            given = headers.get("x-api-key", "")
            ok = hmac.compare_digest(given.encode(), str(self.api_key).encode())
            return None if ok else FORBIDDEN
        return verify_sigv4(method, raw_path, headers, body, self.secrets, self.region, now)


def verify_sigv4(
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    region: str,
    now: datetime | None = None,
) -> str | None:
    """Check a SigV4 `Authorization` header (service execute-api) against `secrets`; None if valid,
    else the message API Gateway gives."""
    authorization = headers.get("authorization")
    if not authorization:
        return MISSING_TOKEN
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        return f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders'. ({authorization[:60]})"
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return f"Credential is not of the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request: {match['credential']}"
    access_key, scope_date, scope_region, scope_service, _ = parts
    signed = match["signed"].lower().split(";")
    if "host" not in signed:
        return "'Host' must be a signed header."
    stamp = headers.get("x-amz-date", "")
    try:
        when = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    now = now or datetime.now(UTC)
    if when < now - MAX_SKEW:
        return (
            f"Signature expired: {stamp} is now earlier than {(now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - 5 min.)"
        )
    if when > now + MAX_SKEW:
        return (
            f"Signature not yet current: {stamp} is still later than "
            f"{(now + MAX_SKEW).strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} + 5 min.)"
        )
    if (scope_date, scope_region, scope_service) != (stamp[:8], region, SERVICE):
        return (
            f"Credential should be scoped to a valid date, region and service: "
            f"'{stamp[:8]}/{region}/{SERVICE}', not '{scope_date}/{scope_region}/{scope_service}'."
        )
    secret = secrets.get(access_key)
    if secret is None:
        return UNKNOWN_KEY
    content_hash = headers.get("x-amz-content-sha256")
    if content_hash is not None and content_hash != hashlib.sha256(body).hexdigest():
        return BAD_SIGNATURE  # the body is always signed here: no UNSIGNED-PAYLOAD
    request = AWSRequest(method=method.upper(), url=f"http://{headers.get('host', '')}{raw_path}", data=body)
    for name in signed:
        if name in headers:
            request.headers[name] = headers[name]
    request.context["timestamp"] = stamp
    signer = _ReceivedSigV4(Credentials(access_key, secret), region, signed)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return None if hmac.compare_digest(expected, match["signature"].lower()) else BAD_SIGNATURE
