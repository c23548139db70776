"""The prediction API when AWS fails under it (on moto, with the local stack's fault injector failing
every attempt of the function's role): each failure the SDK's retries do not outlast — a throttle, a
500, a connection reset, a read timeout — is answered 503 with Retry-After, never a 500 or a 502."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice import adapters
from sluice.entrypoints.api import create_app
from sluice.settings import PredictSettings
from sluice.tools.local.faults import (
    CONNECTION_RESET,
    READ_TIMEOUT,
    SERVER_ERROR,
    THROTTLING,
    FaultInjector,
    injecting,
)
from tests.unit.registry_table import create_registry_table

ROOT = Path(__file__).resolve().parents[3]
EVENT = json.loads((ROOT / "events" / "api-predict.json").read_text())
REGION = "us-east-1"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPREDICTROLE")  # the function's role: a stack principal
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # as template.yaml sets it for PredictFunction
    adapters.clear_clients()
    with mock_aws():
        admin: dict[str, Any] = {
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        boto3.client("s3", **admin).create_bucket(Bucket="artifacts")
        create_registry_table(boto3.client("dynamodb", **admin))
        settings = PredictSettings(
            artifact_bucket="artifacts", registry_table="registry", capture_stream="c", feedback_stream="f"
        )
        yield create_app(lambda: settings)
    adapters.clear_clients()


@pytest.mark.parametrize("kind", [THROTTLING, SERVER_ERROR, CONNECTION_RESET, READ_TIMEOUT])
def test_an_aws_failure_the_retries_do_not_outlast_is_a_503_with_retry_after(app: Any, kind: str) -> None:
    injector = FaultInjector(1.0, time_scale=0.0, kinds=(kind,), kill=False)
    with injecting(injector):
        answer = app.resolve(EVENT, None)
    assert answer["statusCode"] == 503, answer
    assert answer["multiValueHeaders"]["Retry-After"] == ["1"]
    assert "send the request again" in json.loads(answer["body"])["error"]
    assert len(injector.faults) == 2  # one retry (AWS_MAX_ATTEMPTS=2), then the answer


def test_without_faults_the_same_request_is_a_404_for_a_model_never_trained(app: Any) -> None:
    answer = app.resolve(EVENT, None)
    assert answer["statusCode"] == 404 and "Retry-After" not in answer.get("multiValueHeaders", {})
