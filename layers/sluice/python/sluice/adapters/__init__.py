"""The only modules that talk to AWS. Each wraps one service and turns botocore errors into
`sluice.errors` exceptions, so the domain and the handlers never see a ClientError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from sluice.errors import StackError
from sluice.settings import EnvSettings

if TYPE_CHECKING:
    import botocore.session

# Clients come from a botocore session (boto3's clients are botocore's; boto3 adds only resources and
# S3 transfer helpers, which Sluice does not use). botocore is imported with the first client, not with
# this module: requests that never reach AWS (a 400, /openapi.json) do not pay for it.
#
# Retries, chosen on purpose (docs/guides/chaos.md, "Retries, chosen per caller"). Every client uses botocore's standard mode: exponential
# backoff with full jitter (a base of 1 s after a throttle, 25-50 ms after other errors), retrying
# throttling, 5xx answers, connection resets and read timeouts, with a retry quota per client that stops
# retrying while a service keeps failing (no retry storm). How many attempts (the first included)
# depends on who waits, not on which service answers:
# - background work (ingestion, the training steps, the drift check, the CLI): DEFAULT_MAX_ATTEMPTS. A
#   call that gives up fails its invocation, then its run, which a person must start again: a few more
#   seconds of backoff cost nothing there.
# - the prediction API: PredictFunction sets AWS_MAX_ATTEMPTS=2 (template.yaml), the SDKs' own variable:
#   one retry, then 503 with Retry-After (entrypoints/web/errors.py), so the client's retry replaces
#   ours and no request waits seconds on backoff while API Gateway's 29 s run out.
DEFAULT_MAX_ATTEMPTS = 5
_CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 5,
    "read_timeout": 60,
}


def retries(attempts: int) -> dict[str, Any]:
    """botocore's `retries` option: standard mode, `attempts` in all (`total_max_attempts` counts the
    first one; `max_attempts` in a Config would count retries only)."""
    return {"mode": "standard", "total_max_attempts": attempts}


class AwsSettings(EnvSettings):
    """Where boto3 connects: AWS_ENDPOINT_URL (a local stack) and the region, like the AWS CLI."""

    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    aws_default_region: str | None = None
    # Lambda's execution-role credentials (and any the caller set): passed to each client explicitly
    # and part of its cache key, so a client never signs with credentials other than the current ones.
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    # AWS_MAX_ATTEMPTS, as every SDK reads it: a function's own number of attempts per call
    aws_max_attempts: int | None = Field(default=None, ge=1)

    @property
    def region(self) -> str:
        return self.aws_region or self.aws_default_region or "us-east-1"


@lru_cache(maxsize=1)
def _loader() -> Any:
    """botocore's loader of service models (parsed JSON, cached inside it). Kept for the process even
    when the session is replaced (clear_clients), so a new session does not parse the models again."""
    from botocore.loaders import create_loader

    return create_loader()


@lru_cache(maxsize=1)
def _session() -> botocore.session.Session:
    # One session per process: its credentials, and clients created from it, until clear_clients().
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", _loader())
    return session


@lru_cache(maxsize=64)
def _client(
    service: str,
    endpoint_url: str | None,
    region: str,
    credentials: tuple[str, str, str | None] | None,
    attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Any:
    from botocore.config import Config

    key_id, secret, token = credentials or (None, None, None)
    return _session().create_client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(**_CLIENT_OPTIONS, retries=retries(attempts)),  # type: ignore[arg-type]
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def client(service: str) -> Any:
    """A client (botocore's, as boto3.client returns) for the current endpoint, region, credentials
    and attempts (AWS_MAX_ATTEMPTS, else DEFAULT_MAX_ATTEMPTS), reused while they stay the same."""
    aws = AwsSettings.from_env()
    credentials = None
    if aws.aws_access_key_id and aws.aws_secret_access_key:
        credentials = (aws.aws_access_key_id, aws.aws_secret_access_key, aws.aws_session_token)
    return _client(
        service, aws.aws_endpoint_url, aws.region, credentials, aws.aws_max_attempts or DEFAULT_MAX_ATTEMPTS
    )


def clear_clients() -> None:
    """Forget cached clients and the session, so the next client resolves credentials and connects
    afresh (the local stack calls this when it starts or stops; PredictFunction after a SnapStart
    restore). Parsed service models are kept."""
    _client.cache_clear()
    _session.cache_clear()


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Translate any remaining botocore failure into StackError naming the operation."""
    try:
        yield
    except ClientError as exc:
        raise StackError(f"{what}: {error_code(exc)}: {exc}", code=error_code(exc)) from exc
    except BotoCoreError as exc:
        raise StackError(f"{what}: {exc}") from exc
