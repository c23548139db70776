"""The only modules that talk to AWS. Each wraps one service and turns botocore errors into
`sluice.errors` exceptions, so the domain and the handlers never see a ClientError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sluice.errors import StackError

if TYPE_CHECKING:
    import botocore.session

# Clients come from a botocore session (boto3's clients are botocore's; boto3 adds only resources and
# S3 transfer helpers, which Sluice does not use). botocore is imported with the first client, not with
# this module: requests that never reach AWS (a 400, /openapi.json) do not pay for it.
_CLIENT_OPTIONS: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 5},
    "connect_timeout": 5,
    "read_timeout": 60,
}


class AwsSettings(BaseSettings):
    """Where boto3 connects: AWS_ENDPOINT_URL (a local stack) and the region, like the AWS CLI."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    aws_default_region: str | None = None

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
def _client(service: str, endpoint_url: str | None, region: str) -> Any:
    from botocore.config import Config

    return _session().create_client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(**_CLIENT_OPTIONS),
    )


def client(service: str) -> Any:
    """A client (botocore's, as boto3.client returns) for the current endpoint and region, reused
    while they stay the same."""
    aws = AwsSettings()
    return _client(service, aws.aws_endpoint_url, aws.region)


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
