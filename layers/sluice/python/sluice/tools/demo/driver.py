"""The demo's hands on one running local stack: uploads to the raw bucket, waiting for the state
machines, the registry and artifacts read back, the SNS alerts (through a subscribed SQS queue) and
prediction traffic over HTTP. Each call prints what the stack did as facts under the current step."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sluice.adapters.identity import caller_principal
from sluice.domain.data.table import RawTable, to_csv_bytes
from sluice.domain.registry.records import DatasetKind, ModelVersion, VersionStatus
from sluice.domain.spec.model_spec import parse_spec
from sluice.entrypoints.wiring import stack_deps
from sluice.errors import SluiceError
from sluice.tools.demo.client import ApiClient, percentile
from sluice.tools.demo.summary import TrafficSummary, VersionRow

if TYPE_CHECKING:
    from sluice.tools.local.stack import LocalStack

MODEL = "credit-risk"
STEPS = 10
POLL_LIMIT_SECONDS = 300.0  # how long the demo waits for a version to be decided before giving up
# The demo's spec: the example's, plus how a retraining uses labelled traffic (weighted strongly, so a
# few hundred labelled rows of a changed world count against thousands of uploaded ones).
RETRAINING_SECTION = (
    "retraining: {window_days: 7, recent_weight: 20, recent_holdout_fraction: 0.3, min_labelled_rows: 50}\n"
)


class DemoError(SluiceError):
    """The story could not go on: the stack did something the next step cannot build on."""


@dataclass(frozen=True)
class DemoPlan:
    """The datasets and traffic of the story (seeded, so every run tells the same story)."""

    first_rows: int = 2000
    better_rows: int = 8000
    noisy_rows: int = 4000
    label_noise: float = 0.45
    requests: int = 300  # one row each, before any drift
    shifted_requests: int = 200  # one row each, from a shifted population
    shifted_labels: int = 60  # of which this many get their true label back: the drift retraining's news
    shift: float = 1.0
    after_rollback_requests: int = 20
    concept_shift: float = 1.0  # how much the label's dependence on the inputs changed
    concept_rows: int = 500  # from the changed world, served by production
    concept_labels: int = 300  # of which this many get their true label back through feedback
    after_retraining_rows: int = 300  # served by the retrained version, then labelled in part too
    after_retraining_labels: int = 150
    rows_per_request: int = 10  # the changed world's traffic comes in requests of this many rows
    new_world_rows: int = 4000  # the labelled batch the manual-approval chapter uploads
    # The concept-drift retraining goes through a canary: this share of requests, promoted once it has
    # answered this many (a few seconds of traffic; the spec's default is 1000). p99 latency is only
    # judged from 100 requests of each version, and the ratio allowed is generous: a shared machine's
    # noise must not roll the canary back. The run checks every canary_check_seconds (a check reads
    # captured traffic only when labels arrived since the rollout began; none do in the demo).
    canary_weight: float = 0.2
    canary_min_requests: int = 25
    canary_check_seconds: int = 2
    canary_max_latency_p99_ratio: float = 20.0
    canary_max_requests: int = 600  # the demo gives up if the canary answered too few of this many
    # The template's default is 60 s; a short TTL lets promotions and the rollback reach the warm API
    # within the demo's two minutes. It is a stack parameter (env override), not a change of behaviour.
    alias_ttl_seconds: float = 1.0
    # The template's default is 5 s: a container adds its canary counts to the registry that often. At 0
    # every request's count is written as it is answered, so the run's next check sees the
    # canary's min_requests as soon as they are served.
    rollout_flush_seconds: float = 0.0


@dataclass
class Progress:
    """Progress lines: numbered steps with their durations, and indented facts under each."""

    out: IO[str]
    started: float = field(default_factory=time.monotonic)

    def say(self, message: str = "") -> None:
        self.out.write(message + "\n")
        self.out.flush()

    def fact(self, message: str) -> None:
        self.say(f"      {message}")

    def begin(self, number: int, title: str) -> float:
        """Print the step's title; returns when it began, for `done`."""
        self.say(f"[{number}/{STEPS}] {title}")
        return time.monotonic()

    def done(self, begun: float) -> None:
        """Print how long the step that began at `begun` took, and the total so far."""
        self.say(f"      done in {time.monotonic() - begun:.1f} s (total {self.elapsed():.1f} s)")

    @contextlib.contextmanager
    def step(self, number: int, title: str) -> Iterator[None]:
        begun = self.begin(number, title)
        yield
        self.done(begun)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Demo:
    """The story's model on one running local stack, driven the way a user would drive it."""

    def __init__(
        self, stack: LocalStack, api_url: str, root: Path, plan: DemoPlan, progress: Progress
    ) -> None:
        self.stack = stack
        self.api_url = api_url
        self.plan = plan
        self.progress = progress
        self.spec_path = root / "examples" / MODEL / "spec.yaml"
        self.spec_text = self.spec_path.read_text(encoding="utf-8").rstrip("\n") + "\n" + RETRAINING_SECTION
        self.spec = parse_spec(self.spec_text, str(self.spec_path))
        self.outputs: dict[str, str] = stack.outputs
        # the operator's ports, as `sluice models` gets them, calling the stack with the demo's clients
        self.deps = stack_deps(self.outputs, stack.client)
        self.registry = self.deps.registry
        self.artifacts = self.deps.artifacts
        self.notifications: list[str] = []
        self.queue_url = self._subscribe_queue()
        self.api = ApiClient(api_url, stack)
        self.sent: list[tuple[str, int]] = []  # (request_id, instance) of the last `send`, in order
        # Who the operator's actions (rollback, train, approve) are recorded as: the principal STS answers
        # for the demo's credentials, as for `sluice models` (the local stack's moto answers it).
        self.operator = caller_principal(stack.client("sts"))

    # ---------------------------------------------------------------- stack plumbing
    def _subscribe_queue(self) -> str:
        """An SQS queue subscribed to the stack's topic, so the demo sees every alert it publishes."""
        sqs = self.stack.client("sqs")
        url = str(sqs.create_queue(QueueName="sluice-demo-alerts")["QueueUrl"])
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.stack.client("sns").subscribe(
            TopicArn=self.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=arn
        )
        return url

    def drain_alerts(self) -> list[tuple[str, dict[str, Any]]]:
        """SNS messages that reached the queue since the last call (subject, message), printed."""
        sqs = self.stack.client("sqs")
        received: list[tuple[str, dict[str, Any]]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not batch.get("Messages"):
                break
            for message in batch["Messages"]:
                envelope = json.loads(message["Body"])
                received.append((str(envelope.get("Subject")), json.loads(envelope["Message"])))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        for subject, _ in received:
            self.notifications.append(subject)
            self.progress.fact(f"SNS → SQS: {subject!r}")
        return received

    def upload(self, key: str, body: bytes) -> None:
        self.stack.client("s3").put_object(Bucket=self.outputs["RawBucketName"], Key=key, Body=body)

    def settle(self) -> list[dict[str, Any]]:
        """Wait until no state machine execution is running; every execution so far."""
        executions: list[dict[str, Any]] = self.stack.wait_for_executions(timeout=300.0)
        return executions

    def await_version(self, wanted: Callable[[ModelVersion], bool], what: str) -> ModelVersion:
        """Wait until a version `wanted` picks exists and is decided (any status but training), read
        from the registry again each time an invocation, a delivery or an execution of the stack ends
        (`LocalStack.wait_until`); a run that waits (canary, approval) keeps its execution running, so
        `settle` would wait for its end. Raises DemoError after POLL_LIMIT_SECONDS."""

        def decided() -> ModelVersion | None:
            made = [v for v in self.registry.list_versions(MODEL) if wanted(v)]
            return made[0] if made and made[0].status is not VersionStatus.TRAINING else None

        try:
            return self.stack.wait_until(decided, what=what, timeout=POLL_LIMIT_SECONDS)
        except TimeoutError as exc:
            raise DemoError(f"{what}: its version was never decided") from exc

    # ---------------------------------------------------------------- versions
    def dataset_names(self) -> dict[str, tuple[str, int]]:
        """Dataset sha256 → (name, rows): an upload's file name as uploaded; a retraining dataset's is
        its upload's followed by "+traffic" (its lineage says which window)."""
        datasets = self.registry.list_datasets(MODEL)
        uploads = {
            d.sha256: d.source_key.rsplit("/", 1)[-1] for d in datasets if d.kind is DatasetKind.UPLOAD
        }
        names = {}
        for d in datasets:
            base = next((uploads[s] for s in d.sources if s in uploads), d.kind.value)
            names[d.sha256] = (uploads.get(d.sha256) or f"{base}+traffic", d.n_rows)
        return names

    def version_row(self, version: ModelVersion) -> VersionRow:
        """The version as a row of the summary, named by the dataset file it was trained on."""
        name, rows = self.dataset_names().get(version.dataset_sha256 or "", (None, None))
        metric = self.spec.metric.value
        return VersionRow(
            version=version.version,
            status=version.status.value,
            trigger=version.trigger.value,
            metric=metric,
            value=version.metrics.get(metric),
            champion_version=version.champion_version,
            dataset=name,
            rows=rows,
            reason=version.reason,
            failed_gates=[f.model_dump() for f in (version.gates.failed if version.gates else [])],
        )

    def describe_version(self, version: ModelVersion) -> None:
        """Print the version's outcome, its metric against the champion's, and why it was rejected."""
        row = self.version_row(version)
        metric = f"{row.metric} {row.value:.4f}" if row.value is not None else f"{row.metric} n/a"
        champion = version.champion_metrics.get(row.metric)
        against = (
            f" vs champion v{row.champion_version} {champion:.4f} on the same holdout"
            if row.champion_version and champion is not None
            else ""
        )
        self.progress.fact(
            f"v{row.version}: {row.status.upper()} — {metric}{against}, trained on {row.dataset} "
            f"({row.rows} rows), trigger {row.trigger}"
        )
        if version.gates is not None:
            for failed in version.gates.failed:
                value = "n/a" if failed.value is None else f"{failed.value:.4f}"
                self.progress.fact(f"  failed gate {failed.gate}: {value} (limit {failed.limit:g})")
        if row.reason and not (version.gates and version.gates.failed):
            self.progress.fact(f"  reason: {row.reason}")

    def train_on(self, name: str, table: RawTable) -> ModelVersion:
        """Upload a dataset; wait for ingestion and its TrainAndPromote run; return the version it made."""
        before = {v.version for v in self.registry.list_versions(MODEL)}
        data = to_csv_bytes(table)
        self.progress.fact(
            f"PUT s3://{self.outputs['RawBucketName']}/{MODEL}/data/{name} ({len(data):,} bytes)"
        )
        self.upload(f"{MODEL}/data/{name}", data)
        executions = self.settle()
        made = [v for v in self.registry.list_versions(MODEL) if v.version not in before]
        if len(made) != 1:
            raise DemoError(f"{name}: expected one new version, found {[v.version for v in made]}")
        version = made[0]
        run = next((e for e in executions if e["executionArn"] == version.execution_arn), None)
        if run is not None:
            self.progress.fact(f"Step Functions execution {run['name']}: {run['status']}")
        self.describe_version(version)
        self.drain_alerts()
        return version

    # ---------------------------------------------------------------- traffic
    def send(self, instances: list[dict[str, Any]], label: str, per_request: int = 1) -> TrafficSummary:
        """HTTP requests of `per_request` instances each; every response must be a 200 naming the
        version. `sent` then holds the (request_id, instance) of every instance, in order."""
        latencies: list[float] = []
        versions: Counter[int] = Counter()
        path = f"/models/{MODEL}/predict"
        self.sent = []
        for first in range(0, len(instances), per_request):
            batch = instances[first : first + per_request]
            begun = time.perf_counter()
            status, body = self.api.post(path, {"instances": batch})
            latencies.append((time.perf_counter() - begun) * 1000)
            if status != 200:
                raise DemoError(f"POST {path} answered {status}: {body}")
            versions[int(body["version"])] += 1
            self.sent.extend((str(body["request_id"]), i) for i in range(len(batch)))
        summary = TrafficSummary(
            requests=len(latencies),
            rows=len(instances),
            by_version=dict(sorted(versions.items())),
            latency_ms_median=round(percentile(latencies, 0.5), 2),
            latency_ms_p95=round(percentile(latencies, 0.95), 2),
        )
        served = ", ".join(f"v{v}: {n}" for v, n in summary.by_version.items())
        rows = f" ({summary.rows} rows)" if summary.rows != summary.requests else ""
        self.progress.fact(
            f"{summary.requests} {label} POST {self.api_url}{path}{rows} → 200 (served by {served}); "
            f"latency median {summary.latency_ms_median} ms, p95 {summary.latency_ms_p95} ms"
        )
        return summary

    def send_feedback(self, instances: list[tuple[str, int]], labels: list[str]) -> int:
        """POST /models/{model}/feedback: the true label of each (request_id, instance); every answer
        must be a 200. Returns how many labels were sent."""
        path = f"/models/{MODEL}/feedback"
        for (request_id, instance), label in zip(instances, labels, strict=True):
            status, body = self.api.post(
                path, {"request_id": request_id, "instance": instance, "label": label}
            )
            if status != 200:
                raise DemoError(f"POST {path} answered {status}: {body}")
        self.progress.fact(f"{len(instances)} true labels POST {self.api_url}{path} → 200")
        return len(instances)

    def pass_buffer_interval(self) -> int:
        """The capture and feedback streams' buffer interval passes (CaptureBufferSeconds on AWS): what
        they hold is written to the bucket as one gzip object per stream and model. Returns how many."""
        written = self.stack.flush_streams()
        self.progress.fact(
            f"Firehose's buffer interval passes: {written} gzip object(s) written under capture/ and feedback/"
        )
        return written

    def wait_for_alias_ttl(self) -> float:
        """Wait until the warm PredictFunction must re-read the production alias (ALIAS_TTL seconds
        after the last request it served); returns the seconds waited."""
        remaining = self.plan.alias_ttl_seconds - (time.monotonic() - self.api.last_response)
        if remaining > 0:
            time.sleep(remaining + 0.05)
        return max(0.0, remaining)

    def send_to(
        self, version: int, instances: list[dict[str, Any]], label: str, per_request: int = 1
    ) -> TrafficSummary:
        """`send`, after the alias TTL; every response must come from `version` (what production is)."""
        self.wait_for_alias_ttl()
        sent = self.send(instances, label, per_request)
        if set(sent.by_version) != {version}:
            raise DemoError(f"expected every response from v{version}, got {sent.by_version}")
        return sent
