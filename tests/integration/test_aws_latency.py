"""AWS-like latency on the local stack (docs/guides/local-stack.md): in an in-process stack, the calls of
its functions are delayed by the seeded draws of their operations, and the deployer's are not (asserted
through an injected sleeper: nothing sleeps); `sluice local up --aws-latency` says so in its ready line,
delays its functions' calls and the calls of other processes, and sums them up when it stops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.tools.local.api.gateway import Route, proxy_event
from sluice.tools.local.in_process import in_process_stack
from sluice.tools.local.latency import OTHER_PROCESS, AwsLatency
from sluice.tools.local.stack import LocalStack
from tests.integration.conftest import ROOT, spec_text
from tests.integration.test_local_up import serve_one_spec

SEED = 3


class Sleeper:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def delayed() -> Iterator[tuple[LocalStack, AwsLatency, Sleeper]]:
    sleeper = Sleeper()
    latency = AwsLatency(SEED, sleep=sleeper)
    with in_process_stack(ROOT, stack_name="sluice-latency", aws_latency=latency) as stack:
        yield stack, latency, sleeper


def test_a_stacks_functions_are_delayed_by_their_draws_and_the_deployer_is_not(
    delayed: tuple[LocalStack, AwsLatency, Sleeper],
) -> None:
    stack, latency, sleeper = delayed
    # When the deployer uploads a spec (its own call: not delayed) and IngestFunction registers it
    stack.client("s3").put_object(
        Bucket=stack.outputs["RawBucketName"], Key="slow/spec.yaml", Body=spec_text("slow").encode()
    )
    stack.drain()
    # and the API is asked for a model that does not exist (PredictFunction reads the registry)
    route = Route("POST", "/models/{model}/predict", "PredictFunction")
    event = proxy_event(route, "POST", "/models/nobody/predict", {}, b'{"instances": [{"income": 1}]}')
    assert stack.invoke("PredictFunction", event).payload["statusCode"] == 404
    tallies = latency.tallies()
    # Then every delayed call was a role's: the functions', never the deployer's
    roles = {principal.rsplit("/", 1)[-1].split("-")[-2] for principal, _ in tallies}
    assert {"IngestFunctionRole", "PredictFunctionRole"} <= roles
    assert all(":role/" in principal for principal, _ in tallies)
    assert any(op.startswith("dynamodb:") for principal, op in tallies if "PredictFunctionRole" in principal)
    # And each operation's calls slept its sequence's first draws, nothing else
    by_operation: dict[str, list[float]] = {}
    for (_, operation), tally in tallies.items():
        by_operation.setdefault(operation, []).append(tally.seconds)
        assert tally.calls > 0
    calls = {op: sum(t.calls for (_, o), t in tallies.items() if o == op) for op in by_operation}
    for operation, seconds in by_operation.items():
        expected = sum(latency.model.nth(operation, n) for n in range(calls[operation]))
        assert sum(seconds) == pytest.approx(expected, rel=1e-9)
    assert sum(sleeper.slept) == pytest.approx(sum(t.seconds for t in tallies.values()), rel=1e-9)
    assert len(sleeper.slept) == sum(calls.values())


def test_sluice_local_up_with_aws_latency_says_so_delays_and_sums_up(tmp_path: Path) -> None:
    # Given `sluice local up --aws-latency --latency-seed 5` / When a spec is uploaded from this process
    # (another process, for the stack) and ingested
    ready, lines = serve_one_spec(tmp_path, ("--aws-latency", "--latency-seed", "5"), "slowly")
    # Then its ready line says so
    assert ready["aws_latency"] == {"seed": 5}
    # And when it stopped it summed up the delays, by principal and operation: this process's calls and
    # IngestFunction's
    (summary,) = [json.loads(line) for line in lines if line.startswith('{"aws_latency"')]
    assert summary["aws_latency"] == {"seed": 5}
    principals = {row["principal"] for row in summary["table"]}
    assert {OTHER_PROCESS, "IngestFunctionRole"} <= principals
    assert ("s3:PutObject", OTHER_PROCESS) in {
        (row["operation"], row["principal"]) for row in summary["table"]
    }
    assert summary["calls_delayed"] == sum(row["calls"] for row in summary["table"])
    assert summary["added_ms"] > 0
