"""A local stack in this process: a fresh moto mock with template.yaml deployed and the handlers run
here (tests, `sluice invoke`, the benches). `sluice local up` serves one over HTTP instead (`server`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from sluice.tools.local.deploy import ACCOUNT_ID, DEFAULT_REGION, DEFAULT_STACK_NAME
from sluice.tools.local.distributed_map import distributed_map_patches
from sluice.tools.local.events import MOTO_CONFIG, moto_patches, moto_settings
from sluice.tools.local.faults import FaultInjector
from sluice.tools.local.iam.enforcement import Enforcer, trace_path_from_env
from sluice.tools.local.iam.hooks import iam_enforced
from sluice.tools.local.lambda_runtime.runtime import RUNTIME_ENV
from sluice.tools.local.latency import AwsLatency, injecting_and_delaying
from sluice.tools.local.stack import LocalStack, deployed


@contextlib.contextmanager
def in_process_stack(
    root: Path,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    env_overrides: dict[str, dict[str, str]] | None = None,
    parameters: dict[str, str] | None = None,
    iam: bool | None = None,
    faults: FaultInjector | None = None,
    aws_latency: AwsLatency | Literal[False] | None = None,
) -> Iterator[LocalStack]:
    """A fresh moto mock with the stack deployed (with template `parameters` overridden); everything
    runs in this process, with IAM enforced per principal unless `iam` is False (by default, unless
    SLUICE_LOCAL_IAM=off), and once deployed `faults` injected into its principals' calls and invocations
    and those calls delayed as on AWS by `aws_latency` (`injecting_and_delaying`)."""
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", *RUNTIME_ENV)}
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(RUNTIME_ENV)
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    if iam is None:  # SLUICE_LOCAL_IAM=off turns it off (to measure what enforcement costs)
        iam = os.environ.get("SLUICE_LOCAL_IAM", "enforced") != "off"
    enforcer = Enforcer(ACCOUNT_ID, DEFAULT_REGION, trace_path=trace_path_from_env()) if iam else None
    stack = LocalStack(
        root, stack_name=stack_name, env_overrides=env_overrides, parameters=parameters, enforcer=enforcer
    )
    try:
        with (
            moto_settings(),  # as they were on exit, however the mocks inside end
            mock_aws(config=MOTO_CONFIG),
            moto_patches(),
            distributed_map_patches(),
            iam_enforced(enforcer),
            deployed(stack),
            injecting_and_delaying(faults, aws_latency, enforcer),
        ):
            yield stack
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
