"""Chaos: the core story on a stack of its own while 5% of the AWS calls its principals make fail as AWS
fails them (throttling, 500/503, connection resets, read timeouts after the call was handled) and 5% of
the invocations Step Functions and EventBridge make die mid-way as a Lambda timeout kills them — for three
seeds (`sluice.tools.local.faults`). Spec and uploads to a promotion; 1,000 predictions, each with its
label sent back, through the HTTP API; the scheduled drift check; the retraining it starts on the
labelled traffic; a canary.

Nothing is lost and nothing is done twice: every upload ends as one dataset or in quarantine with its
report, each recorded once; every execution ends in an audited terminal state (promoted, rejected with a
reason, or failed, and trained again with `sluice models train`); one production version, one version per
run; every prediction is answered 200, or 503 with Retry-After (never 500 or 502), and every label is
stored or answered 503 and sent again; no captured record is read twice. The table of faults, by kind and
principal and how each was survived, is printed (`pytest -s`): docs/guides/chaos.md shows it for the seeds.

The waits of retries (botocore's backoff, the state machines' IntervalSeconds, a 503's Retry-After) are
shortened by TIME_SCALE: the retries and their number are AWS's, only the sleeping is not."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.prediction_api import SignedClient
from sluice.adapters.registry.store import Registry
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import DatasetKind, EventType
from sluice.tools.cli import main
from sluice.tools.example_data import credit_risk
from sluice.tools.local.api.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY
from sluice.tools.local.faults import READ_TIMEOUT, FaultInjector, format_table, short_name
from sluice.tools.local.in_process import in_process_stack
from sluice.tools.local.schedules import scheduled_event
from sluice.tools.local.stack import LocalStack
from tests.integration.conftest import ROOT, TEST_ENV, spec_text
from tests.integration.live_rollout import instances_and_labels

RATE = float(os.environ.get("SLUICE_CHAOS_RATE", "0.05"))  # the 5%; higher to hunt
SEEDS = tuple(int(s) for s in os.environ.get("SLUICE_CHAOS_SEEDS", "1,2,3").split(","))
TIME_SCALE = 0.02
MODEL = "chaos"
PREDICTIONS = 1000
PER_REQUEST = 4  # instances per prediction request: 250 requests, then 1,000 labels
RESENDS = 5  # how often the client sends a request again after a 503
TRAIN_ATTEMPTS = 3  # `sluice models train` after a run failed, at most
DECIDED = {"production", "rejected"}
TERMINAL = {"production", "archived", "rejected", "failed"}
DECISIONS = {"version_allocated", "promoted", "rejected", "failed", "rollout_started"}

SPEC = spec_text(MODEL) + "retraining: {window_days: 7, recent_weight: 2.0}\n"
# The canary's gates let it in whatever the retraining left in production: the canary is what is tried.
CANARY_SPEC = SPEC.replace("max_regression: 0.02", "max_regression: 0.5") + (
    "rollout: {mode: canary, weight: 0.5, min_requests: 20, check_seconds: 1, timeout_hours: 0.5, "
    "max_latency_p99_ratio: 50}\n"
)
FIRST = to_csv_bytes(credit_risk(rows=600, seed=1))
BETTER = to_csv_bytes(credit_risk(rows=800, seed=2))
BAD = b"income,age\nnot a number,41\n"
UPLOADS = {"first.csv": FIRST, "bad.csv": BAD, "again.csv": FIRST, "better.csv": BETTER}


@dataclass
class Client:
    """A client of the API that does what a 503 says: waits Retry-After, then sends the request again."""

    api_url: str
    statuses: Counter[int] = field(default_factory=Counter)
    unanswered: list[str] = field(default_factory=list)  # still 503 after RESENDS

    def __post_init__(self) -> None:
        self._client = SignedClient(
            self.api_url, Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY)
        )

    def post(self, path: str, document: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        """The 200 answer's body; None when every attempt was answered 503."""
        body = json.dumps(document).encode()
        for _ in range(1 + RESENDS):
            response = self._client.request(
                "POST", path, body, {"Content-Type": "application/json", **(headers or {})}
            )
            self.statuses[response.status] += 1
            assert response.status in (200, 503), (response.status, response.json())
            if response.status == 200:
                return response.json()
            assert "retry-after" in response.headers, response.headers
            time.sleep(float(response.headers["retry-after"]) * TIME_SCALE)
        self.unanswered.append(path)
        return None

    def close(self) -> None:
        self._client.close()


class Story:
    """The core story on one stack, and what the assertions read back (as the deployer: never faulted)."""

    def __init__(self, local: LocalStack, tmp_path: Path) -> None:
        self.local = local
        self.registry = Registry(local.outputs["RegistryTableName"], local.client("dynamodb"))
        self.artifacts = ArtifactStore(local.outputs["ArtifactBucketName"], local.client("s3"))
        self.outputs_file = tmp_path / "outputs.json"
        self.outputs_file.write_text(json.dumps(local.outputs))
        self.manual_runs = 0

    def upload(self, key: str, body: bytes) -> None:
        """An object put in the raw bucket, as a user puts it (EventBridge tells IngestFunction)."""
        self.local.client("s3").put_object(Bucket=self.local.outputs["RawBucketName"], Key=key, Body=body)

    def settle(self) -> list[dict[str, Any]]:
        return self.local.wait_for_executions(timeout=120)

    def statuses(self) -> dict[int, str]:
        return {v.version: v.status.value for v in self.registry.list_versions(MODEL)}

    def newest(self) -> str:
        versions = self.statuses()
        return versions[max(versions)]

    def train_again(self) -> None:
        """`sluice models train`, the way back after a failed run (its Notify message says so)."""
        with pytest.MonkeyPatch.context() as env:  # the deployer's keys (mock_aws leaves dummy ones)
            env.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            env.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY)
            env.setenv("AWS_SESSION_TOKEN", DEFAULT_SECRET_ACCESS_KEY)
            assert main(["models", "--stack-outputs", str(self.outputs_file), "train", MODEL, "--json"]) == 0
        self.manual_runs += 1

    def until_decided(self) -> str:
        """Settle; while the newest run failed (a fault it could not outlast), train again; its status."""
        for _ in range(TRAIN_ATTEMPTS):
            self.settle()
            if self.newest() != "failed":
                break
            self.train_again()
        self.settle()
        return self.newest()

    def newest_after(self, before: int) -> str:
        """The status of the newest version after `before` ("training" while there is none yet)."""
        versions = self.statuses()
        return versions[max(versions)] if max(versions) > before else "training"

    def has_version_after(self, before: int) -> bool:
        return self.newest_after(before) != "training"

    def canary(self, client: Client, seed: int, before: int) -> str:
        """Once a version after `before` stands in canary beside production, send requests until its run
        decides (a failed run is trained again); the version's status."""
        sent = 0
        for _ in range(TRAIN_ATTEMPTS):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = self.newest_after(before)
                if status not in {"training", "canary"}:
                    break
                if status == "canary":
                    instances = instances_and_labels(credit_risk(2, seed=1000 + sent))[0]
                    client.post(
                        f"/models/{MODEL}/predict",
                        {"instances": instances},
                        {"X-Request-Id": f"canary-{seed}-{sent}"},
                    )
                    sent += 1
                else:  # looked at again each time an invocation, a delivery or an execution ends
                    with contextlib.suppress(TimeoutError):
                        self.local.wait_until(
                            functools.partial(self.has_version_after, before),
                            what=f"a version after v{before}",
                            timeout=max(0.0, deadline - time.monotonic()),
                        )
            if self.newest() != "failed":
                break
            before = max(self.statuses())
            self.train_again()
        self.settle()
        return self.newest()

    def check_drift(self) -> None:
        """The schedule fires: EventBridge delivers the scheduled event to DriftFunction, retrying it as its
        target's policy says; a check that failed every attempt runs again at the next period."""
        event = scheduled_event(self.local.region, self.local.stack_name, "DriftFunction")
        for _ in range(3):
            failures = len(self.local.delivery_errors)
            self.local.deliver("DriftFunction", event, {"RetryPolicy": {"MaximumRetryAttempts": 2}})
            self.local.drain()
            if len(self.local.delivery_errors) == failures:
                return
        raise AssertionError(f"the drift check failed at three periods: {self.local.delivery_errors[-1]}")

    def lines(self, prefix: str) -> list[dict[str, Any]]:
        """Every JSON line Firehose delivered under `prefix` of the artifact bucket."""
        s3, bucket = self.local.client("s3"), self.local.outputs["ArtifactBucketName"]
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
                found += [json.loads(line) for line in text.decode().splitlines() if line.strip()]
        return found


def serve_traffic(client: Client, seed: int) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """1,000 shifted predictions, each instance's true label sent back; the (request id, instance) pairs
    answered 200, and the labels answered 200."""
    instances, labels = instances_and_labels(credit_risk(PREDICTIONS, seed=100 + seed, shift=1.0))
    predicted: set[tuple[str, int]] = set()
    labelled: set[tuple[str, int]] = set()
    for start in range(0, PREDICTIONS, PER_REQUEST):
        request_id = f"chaos-{seed}-{start // PER_REQUEST}"
        batch = {"instances": instances[start : start + PER_REQUEST]}
        answer = client.post(f"/models/{MODEL}/predict", batch, {"X-Request-Id": request_id})
        if answer is None:
            continue
        assert answer["request_id"] == request_id and len(answer["predictions"]) == PER_REQUEST
        for instance in range(PER_REQUEST):
            predicted.add((request_id, instance))
            label = {"request_id": request_id, "instance": instance, "label": labels[start + instance]}
            if client.post(f"/models/{MODEL}/feedback", label) is not None:
                labelled.add((request_id, instance))
    return predicted, labelled


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Iterator[tuple[LocalStack, FaultInjector]]:
    """A stack of its own (IAM enforced, as every test's) with faults injected at RATE for the seed."""
    injector = FaultInjector(RATE, request.param, time_scale=TIME_SCALE)
    name = f"sluice-chaos-{request.param}"
    with in_process_stack(ROOT, stack_name=name, env_overrides=TEST_ENV, faults=injector) as local:
        yield local, injector


@pytest.mark.slow
@pytest.mark.parametrize("chaos", SEEDS, indirect=True, ids=[f"seed{seed}" for seed in SEEDS])
def test_the_core_story_survives_faults_with_nothing_lost_or_done_twice(
    chaos: tuple[LocalStack, FaultInjector], tmp_path: Path
) -> None:
    local, injector = chaos
    started = time.monotonic()
    story = Story(local, tmp_path)

    # Given a spec, a good upload, one that does not match the spec, and the good one again
    story.upload(f"{MODEL}/spec.yaml", SPEC.encode())
    story.settle()
    for name in ("first.csv", "bad.csv", "again.csv"):
        story.upload(f"{MODEL}/data/{name}", UPLOADS[name])
    # Then the good one trains and is promoted (trained again if a fault failed its run)
    assert story.until_decided() == "production"

    api = local.serve_api(0)
    client = Client(api.url)
    try:
        # When 1,000 predictions are served, each with its true label sent back
        predicted, labelled = serve_traffic(client, injector.seed)
        # And the streams' buffer interval passes and the scheduled drift check runs
        local.flush_streams()
        story.check_drift()
        # Then it finds drift and retrains on the accepted upload plus the labelled traffic, to a decision
        assert story.until_decided() in DECIDED
        (retraining,) = [d for d in story.registry.list_datasets(MODEL) if d.kind is DatasetKind.RETRAINING]

        # When a canary rollout starts with a better upload and requests reach it
        before = max(story.statuses())
        story.upload(f"{MODEL}/spec.yaml", CANARY_SPEC.encode())
        story.settle()
        story.upload(f"{MODEL}/data/better.csv", BETTER)
        local.drain()
        canary = story.canary(client, injector.seed, before)
    finally:
        client.close()
        api.stop()
    local.flush_streams()
    elapsed = time.monotonic() - started

    # Then every upload ended as a dataset or in quarantine with its report, each recorded once
    assert [e for e in local.delivery_errors if e["function"] == "IngestFunction"] == []  # none dropped
    events = story.registry.list_events(MODEL)
    datasets = {d.sha256: d for d in story.registry.list_datasets(MODEL)}
    for name in ("first.csv", "again.csv", "better.csv"):
        assert hashlib.sha256(UPLOADS[name]).hexdigest() in datasets, name
    registered = Counter(
        str(e.details["dataset_sha256"]) for e in events if e.type is EventType.DATASET_REGISTERED
    )
    assert registered == Counter(set(datasets)), registered  # one event per dataset, none without
    (quarantined,) = [e for e in events if e.type is EventType.DATA_QUARANTINED]
    assert json.loads(story.artifacts.get_bytes(quarantined.details["report_uri"]))["reason"] == "invalid"
    assert story.artifacts.exists(story.artifacts.uri(f"quarantine/{MODEL}/data/bad.csv"))
    # And every execution ended, audited: started once, its version decided (a failed run, trained again)
    executions = story.settle()
    assert {e["status"] for e in executions} <= {"SUCCEEDED", "FAILED"}
    starts = Counter(e.execution_arn for e in events if e.type is EventType.TRAINING_STARTED)
    assert starts == Counter(e["executionArn"] for e in executions), starts
    versions = story.registry.list_versions(MODEL)
    by_run = Counter(v.execution_arn for v in versions)
    assert set(by_run.values()) == {1}, by_run  # one version per run, no duplicate
    assert all(
        v.status.value in TERMINAL and (v.status.value not in {"rejected", "failed"} or v.reason)
        for v in versions
    )
    decisions = Counter((e.version, e.type.value) for e in events if e.type.value in DECISIONS)
    assert set(decisions.values()) == {1}, decisions  # each decision recorded once, even when re-run
    failed_runs = {e["executionArn"] for e in executions if e["status"] == "FAILED"}
    assert all(arn in by_run or arn in failed_runs for arn in starts)  # no version: failed before allocating
    for failed in [v for v in versions if v.status.value == "failed"]:  # each trained again, by a person
        assert any(v.version > failed.version and v.trigger.value == "manual" for v in versions), failed
    # And one production version, the alias's
    alias = story.registry.get_alias(MODEL)
    assert alias is not None and [v.version for v in versions if v.status.value == "production"] == [
        alias.version
    ]
    # And every prediction was answered 200 or 503 with Retry-After (Client checked each answer), every label
    # stored or answered 503 and sent again
    assert not client.unanswered and set(client.statuses) <= {200, 503}
    stored_labels = {(r["request_id"], r["instance"]) for r in story.lines(f"feedback/{MODEL}/")}
    assert labelled <= stored_labels
    # And no captured record was read twice: Firehose may store one twice when the answer to a
    # PutRecordBatch was lost and the SDK sent it again (at least once, as on AWS), and the retraining
    # joined each labelled capture once
    captured = Counter((r["request_id"], r["instance"]) for r in story.lines(f"capture/{MODEL}/"))
    twice = sum(n - 1 for n in captured.values())
    lost_answers = [
        f for f in injector.faults if f.kind == READ_TIMEOUT and f.operation == "firehose:PutRecordBatch"
    ]
    assert twice <= PER_REQUEST * len(lost_answers)
    joined = {key for key in predicted & labelled if key in captured}
    assert retraining.recent_rows == len(joined) > 0.9 * PREDICTIONS

    rows = injector.table()
    print(
        f"\nseed {injector.seed}: {elapsed:.1f} s, {len(injector.faults)} faults; answers {dict(client.statuses)}; "
        f"versions {story.statuses()} (canary {canary}); `sluice models train` {story.manual_runs}×; "
        f"captured twice by Firehose {twice}\n{format_table(rows)}\n{json.dumps({'seed': injector.seed, 'rows': rows})}"
    )
    assert {short_name(f.principal) for f in injector.faults} and sum(r["faults"] for r in rows) == len(
        injector.faults
    )
