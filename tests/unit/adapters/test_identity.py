"""Who a person's action is recorded as: the principal STS GetCallerIdentity answers (on moto's STS), a
value that only an AWS principal ARN can be, and a clear error when STS cannot answer."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from sluice.adapters.identity import caller_principal
from sluice.domain.registry.records import Principal
from sluice.errors import IdentityUnavailable
from sluice.tools.local import free_port


def test_the_caller_is_the_arn_sts_answers_for_the_credentials() -> None:
    with mock_aws():
        sts = boto3.client("sts", region_name="us-east-1")
        expected = sts.get_caller_identity()["Arn"]
        assert caller_principal(sts) == Principal(expected)
        assert str(caller_principal(sts)) == expected


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:iam::123456789012:user/team/alice",
        "arn:aws:sts::123456789012:assumed-role/SluiceOperators/alice@example.com",
        "arn:aws:sts::123456789012:federated-user/bob",
        "arn:aws:iam::123456789012:root",
        "arn:aws-us-gov:sts::123456789012:assumed-role/Ops/carol",
        "arn:aws-cn:iam::123456789012:user/dave",
    ],
)
def test_a_principal_is_any_arn_sts_answers(arn: str) -> None:
    assert Principal(arn).arn == arn


@pytest.mark.parametrize(
    "name",
    ["alice", "", "demo-operator", "arn:aws:iam::123:user/alice", "arn:aws:s3:::bucket", "user/alice"],
)
def test_a_free_text_name_is_not_a_principal(name: str) -> None:
    with pytest.raises(ValueError, match="not an AWS principal ARN"):
        Principal(name)


def test_sts_out_of_reach_is_a_clear_error_with_no_fallback() -> None:
    # Given an STS endpoint nothing listens on
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    # When the caller is asked for / Then it fails, saying what to check: no name stands in for it
    began = time.monotonic()
    with pytest.raises(IdentityUnavailable, match="cannot establish who you are: STS GetCallerIdentity"):
        caller_principal(sts)
    assert time.monotonic() - began < 30  # not a performance threshold: it must not hang


def test_missing_credentials_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.session.Session(region_name="us-east-1")
    with pytest.raises(IdentityUnavailable, match="Unable to locate credentials"):
        caller_principal(session.client("sts"))
