"""The only modules that talk to AWS. Each wraps one service and turns botocore errors into
`sluice.errors` exceptions, so the domain and the handlers never see a ClientError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sluice.errors import StackError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


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
def _session() -> boto3.session.Session:
    # One session per process: creating sessions re-reads botocore's service models (slow cold starts).
    return boto3.session.Session()


@lru_cache(maxsize=64)
def _client(service: str, endpoint_url: str | None, region: str) -> Any:
    return _session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        config=_CONFIG,
    )


def client(service: str) -> Any:
    """A boto3 client for the current endpoint and region, reused while they stay the same."""
    aws = AwsSettings()
    return _client(service, aws.aws_endpoint_url, aws.region)


def clear_clients() -> None:
    """Forget cached clients and the session (the local stack calls this when it starts or stops)."""
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
