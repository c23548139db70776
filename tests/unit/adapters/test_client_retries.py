"""Botocore's retries, as chosen for each caller: standard mode everywhere, 5 attempts for background
work, AWS_MAX_ATTEMPTS where a function sets it (PredictFunction: 2, so the API answers 503 rather than
wait on backoff), and the attempts counted as botocore counts them (the first included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice import adapters
from sluice.tools.local.faults import THROTTLING, FaultInjector, injecting
from tests.unit.test_template import RESOURCES


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFUNCTIONROLE")  # a principal of the stack: faulted
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    adapters.clear_clients()
    yield
    adapters.clear_clients()


def attempts_made(service: str) -> int:
    """How many attempts one call of `service` makes when every attempt is throttled."""
    injector = FaultInjector(1.0, time_scale=0.0, kinds=(THROTTLING,), kill=False)
    with mock_aws(), injecting(injector), pytest.raises(ClientError):
        adapters.client(service).list_tables() if service == "dynamodb" else adapters.client(
            service
        ).list_buckets()
    return len(injector.faults)


def test_background_work_tries_each_call_five_times_in_standard_mode() -> None:
    config = adapters.client("s3").meta.config
    assert (
        config.retries
        == {"mode": "standard", "total_max_attempts": adapters.DEFAULT_MAX_ATTEMPTS}
        == {
            "mode": "standard",
            "total_max_attempts": 5,
        }
    )
    assert attempts_made("dynamodb") == attempts_made("s3") == 5


def test_a_function_that_sets_aws_max_attempts_gets_that_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    assert adapters.client("dynamodb").meta.config.retries["total_max_attempts"] == 2
    assert attempts_made("dynamodb") == 2


def test_the_prediction_api_retries_once_then_answers() -> None:
    variables = RESOURCES["PredictFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["AWS_MAX_ATTEMPTS"] == "2"
