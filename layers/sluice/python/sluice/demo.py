"""`sluice demo`: the whole loop told as a story on the local stack.

template.yaml is deployed into an embedded moto server, the prediction API is served over HTTP on
127.0.0.1 (like `sam local start-api`), and everything after that goes through the stack the way a
user would: uploads to the raw bucket, HTTP requests to the API, the scheduled drift check, the SNS
topic (read through a subscribed SQS queue) and the registry's rollback. Nothing here trains, scores or
decides by itself; it only drives the stack and reports what the stack did.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from sluice import catalog
from sluice.adapters.artifacts import ArtifactStore
from sluice.adapters.registry import Registry
from sluice.errors import SluiceError
from sluice.examples import credit_risk
from sluice.records import ModelVersion
from sluice.spec import ModelSpec, NumericFeature, load_spec
from sluice.table import RawTable, is_missing, write_csv

if TYPE_CHECKING:
    from sluice.local.stack import LocalStack

MODEL = "credit-risk"
STEPS = 8


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
    shift: float = 1.0
    after_rollback_requests: int = 20
    # The template's default is 60 s; a short TTL lets promotions and the rollback reach the warm API
    # within the demo's two minutes. It is a stack parameter (env override), not a change of behaviour.
    alias_ttl_seconds: float = 1.0


class VersionRow(BaseModel):
    version: int
    status: str
    trigger: str
    metric: str
    value: float | None
    champion_version: int | None
    dataset: str | None
    rows: int | None
    reason: str | None
    failed_gates: list[dict[str, Any]] = Field(default_factory=list)
    card: str | None = None


class TrafficSummary(BaseModel):
    requests: int
    rows: int
    by_version: dict[int, int]
    latency_ms_median: float
    latency_ms_p95: float


class DriftSummary(BaseModel):
    checked_version: int
    status: str
    rows: int
    dataset_drift: bool
    drift_share: float
    drifted_features: list[str]
    alerted: bool
    alerts_received: list[str]
    retraining_execution: str | None
    retraining_status: str | None
    retrained_version: int | None
    retrained_outcome: str | None
    retrain_skipped: str | None
    report_json: str
    report_html: str


class RollbackSummary(BaseModel):
    from_version: int | None
    to_version: int | None
    served_after: dict[int, int]


class DemoSummary(BaseModel):
    model: str
    duration_seconds: float
    api_url: str
    endpoint_url: str
    alias_ttl_seconds: float
    algorithm: dict[str, Any]
    versions: list[VersionRow]
    traffic: TrafficSummary
    shifted_traffic: TrafficSummary
    drift: DriftSummary
    rollback: RollbackSummary
    notifications: list[str]
    executions: list[dict[str, str]]
    events: list[dict[str, Any]]
    files: list[str]


# ------------------------------------------------------------------------------------------ helpers
def csv_bytes(table: RawTable) -> bytes:
    buffer = io.StringIO()
    write_csv(table, buffer)
    return buffer.getvalue().encode()


def instances_of(table: RawTable, spec: ModelSpec) -> list[dict[str, Any]]:
    """The rows as API instances: numbers for numeric features, strings for categorical ones, null for
    missing cells; the target and the sensitive column are left out, as a client would."""
    rows = []
    for i in range(table.n_rows):
        instance: dict[str, Any] = {}
        for feature in spec.features:
            cell = table.columns[feature.name][i]
            if is_missing(cell):
                instance[feature.name] = None
            elif isinstance(feature, NumericFeature):
                instance[feature.name] = float(cell)
            else:
                instance[feature.name] = cell
        rows.append(instance)
    return rows


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class ApiClient:
    """A keep-alive HTTP/1.1 client of the local API that signs every request as the API requires
    (SigV4 with the stack's credentials, or its API key in API_KEY mode)."""

    def __init__(self, api_url: str, stack: LocalStack, timeout: float = 30.0) -> None:
        from sluice.local.signing import API_KEY, SignedClient, credentials_of

        if stack.api_auth == API_KEY:
            self._client = SignedClient(api_url, api_key=stack.api_key, timeout=timeout)
        else:
            credentials = credentials_of(stack.credentials)
            self._client = SignedClient(api_url, credentials, region=stack.region, timeout=timeout)
        self.last_response = 0.0  # time.monotonic() of the last answer

    def post(self, path: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self._client.request("POST", path, document)
        answer = response.json() or {}
        self.last_response = time.monotonic()
        return response.status, answer

    def close(self) -> None:
        self._client.close()


@dataclass
class Story:
    """Progress lines: numbered steps with their durations, and indented facts under each."""

    out: IO[str]
    started: float = field(default_factory=time.monotonic)

    def say(self, message: str = "") -> None:
        self.out.write(message + "\n")
        self.out.flush()

    def fact(self, message: str) -> None:
        self.say(f"      {message}")

    @contextlib.contextmanager
    def step(self, number: int, title: str) -> Iterator[None]:
        self.say(f"[{number}/{STEPS}] {title}")
        begun = time.monotonic()
        yield
        self.say(f"      done in {time.monotonic() - begun:.1f} s (total {self.elapsed():.1f} s)")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


# ------------------------------------------------------------------------------------------ the story
class Demo:
    """The steps of the story against one running local stack."""

    def __init__(self, stack: LocalStack, api_url: str, root: Path, plan: DemoPlan, story: Story) -> None:
        self.stack = stack
        self.api_url = api_url
        self.plan = plan
        self.story = story
        self.spec_path = root / "examples" / MODEL / "spec.yaml"
        self.spec = load_spec(self.spec_path)
        self.outputs: dict[str, str] = stack.outputs
        self.registry = Registry(self.outputs["RegistryTableName"], stack.client("dynamodb"))
        self.artifacts = ArtifactStore(self.outputs["ArtifactBucketName"], stack.client("s3"))
        self.notifications: list[str] = []
        self.queue_url = self._subscribe_queue()
        self.api = ApiClient(api_url, stack)

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
            self.story.fact(f"SNS → SQS: {subject!r}")
        return received

    def upload(self, key: str, body: bytes) -> None:
        self.stack.client("s3").put_object(Bucket=self.outputs["RawBucketName"], Key=key, Body=body)

    def settle(self) -> list[dict[str, Any]]:
        executions: list[dict[str, Any]] = self.stack.wait_for_executions(timeout=300.0)
        return executions

    def dataset_names(self) -> dict[str, tuple[str, int]]:
        """Dataset sha256 → (file name as uploaded, rows)."""
        return {
            d.sha256: (d.source_key.rsplit("/", 1)[-1], d.n_rows) for d in self.registry.list_datasets(MODEL)
        }

    def version_row(self, version: ModelVersion) -> VersionRow:
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
        row = self.version_row(version)
        metric = f"{row.metric} {row.value:.4f}" if row.value is not None else f"{row.metric} n/a"
        champion = version.champion_metrics.get(row.metric)
        against = (
            f" vs champion v{row.champion_version} {champion:.4f} on the same holdout"
            if row.champion_version and champion is not None
            else ""
        )
        self.story.fact(
            f"v{row.version}: {row.status.upper()} — {metric}{against}, trained on {row.dataset} "
            f"({row.rows} rows), trigger {row.trigger}"
        )
        if version.gates is not None:
            for failed in version.gates.failed:
                value = "n/a" if failed.value is None else f"{failed.value:.4f}"
                self.story.fact(f"  failed gate {failed.gate}: {value} (limit {failed.limit:g})")
        if row.reason and not (version.gates and version.gates.failed):
            self.story.fact(f"  reason: {row.reason}")

    def train_on(self, name: str, table: RawTable) -> ModelVersion:
        """Upload a dataset; wait for ingestion and its TrainAndPromote run; return the version it made."""
        before = {v.version for v in self.registry.list_versions(MODEL)}
        data = csv_bytes(table)
        self.story.fact(f"PUT s3://{self.outputs['RawBucketName']}/{MODEL}/data/{name} ({len(data):,} bytes)")
        self.upload(f"{MODEL}/data/{name}", data)
        executions = self.settle()
        made = [v for v in self.registry.list_versions(MODEL) if v.version not in before]
        if len(made) != 1:
            raise DemoError(f"{name}: expected one new version, found {[v.version for v in made]}")
        version = made[0]
        run = next((e for e in executions if e["executionArn"] == version.execution_arn), None)
        if run is not None:
            self.story.fact(f"Step Functions execution {run['name']}: {run['status']}")
        self.describe_version(version)
        self.drain_alerts()
        return version

    def send(self, instances: list[dict[str, Any]], label: str) -> TrafficSummary:
        """One HTTP request per instance; every response must be a 200 naming the version."""
        latencies: list[float] = []
        versions: Counter[int] = Counter()
        path = f"/models/{MODEL}/predict"
        for instance in instances:
            begun = time.perf_counter()
            status, body = self.api.post(path, {"instances": [instance]})
            latencies.append((time.perf_counter() - begun) * 1000)
            if status != 200:
                raise DemoError(f"POST {path} answered {status}: {body}")
            versions[int(body["version"])] += 1
        summary = TrafficSummary(
            requests=len(instances),
            rows=len(instances),
            by_version=dict(sorted(versions.items())),
            latency_ms_median=round(_percentile(latencies, 0.5), 2),
            latency_ms_p95=round(_percentile(latencies, 0.95), 2),
        )
        served = ", ".join(f"v{v}: {n}" for v, n in summary.by_version.items())
        self.story.fact(
            f"{summary.requests} {label} POST {self.api_url}{path} → 200 (served by {served}); "
            f"latency median {summary.latency_ms_median} ms, p95 {summary.latency_ms_p95} ms"
        )
        return summary

    def wait_for_alias_ttl(self) -> float:
        """Wait until the warm PredictFunction must re-read the production alias (ALIAS_TTL seconds
        after the last request it served); returns the seconds waited."""
        remaining = self.plan.alias_ttl_seconds - (time.monotonic() - self.api.last_response)
        if remaining > 0:
            time.sleep(remaining + 0.05)
        return max(0.0, remaining)

    def send_to(self, version: int, instances: list[dict[str, Any]], label: str) -> TrafficSummary:
        """`send`, after the alias TTL; every response must come from `version` (what production is)."""
        self.wait_for_alias_ttl()
        sent = self.send(instances, label)
        if set(sent.by_version) != {version}:
            raise DemoError(f"expected every response from v{version}, got {sent.by_version}")
        return sent


def _write(out: Path, name: str, data: bytes, files: list[str]) -> None:
    (out / name).write_bytes(data)
    files.append(name)


def run_story(demo: Demo, out: Path) -> DemoSummary:
    """Steps 2 to 8 (step 1, starting the stack, is `run_demo`'s)."""
    story, plan, spec = demo.story, demo.plan, demo.spec
    first = credit_risk(plan.first_rows, seed=1)
    better = credit_risk(plan.better_rows, seed=2)
    noisy = credit_risk(plan.noisy_rows, seed=3, label_noise=plan.label_noise)
    traffic = instances_of(credit_risk(plan.requests + plan.after_rollback_requests, seed=10), spec)
    shifted = instances_of(credit_risk(plan.shifted_requests, seed=11, shift=plan.shift), spec)

    with story.step(2, f"upload the {MODEL} spec and a first dataset → train, check, promote"):
        story.fact(
            f"PUT {MODEL}/spec.yaml ({demo.spec_path.relative_to(demo.spec_path.parents[2])}): "
            f"{spec.algorithm.name.value} {spec.algorithm.params}, metric {spec.metric.value}, "
            f"gates {spec.gates.model_dump(exclude_none=True)}"
        )
        demo.upload(f"{MODEL}/spec.yaml", demo.spec_path.read_bytes())
        demo.settle()
        if demo.registry.current_spec(MODEL) is None:
            raise DemoError("the spec was not registered (see stack.log)")
        v1 = demo.train_on("first.csv", first)

    with story.step(3, f"send {plan.requests} prediction requests through the HTTP API"):
        sent = demo.send_to(v1.version, traffic[: plan.requests], "requests")

    with story.step(4, "upload a better (bigger) dataset → challenger vs champion on the same holdout"):
        demo.train_on("better.csv", better)

    with story.step(5, f"upload a noisy dataset ({plan.label_noise:.0%} of labels flipped) → gates"):
        demo.train_on("noisy.csv", noisy)

    with story.step(6, "shifted traffic through the API → scheduled drift check → alert → retraining"):
        production = demo.registry.get_alias(MODEL)
        if production is None:
            raise DemoError(f"{MODEL} has no production version to send traffic to")
        shifted_sent = demo.send_to(production.version, shifted, f"shifted (shift={plan.shift})")
        story.fact("DriftFunction, invoked with an EventBridge 'Scheduled Event' (as its schedule would)")
        fired = demo.stack.fire_schedules()["DriftFunction"]
        if fired.failed:
            raise DemoError(f"DriftFunction failed: {fired.error}")
        check = next(c for c in fired.payload["checked"] if c["model"] == MODEL)
        verdict = "DATASET DRIFT" if check["dataset_drift"] else "no dataset drift"
        story.fact(
            f"v{check['version']}, {check['rows']} captured rows vs its reference sample: {verdict}, "
            f"drift share {check['drift_share']:.2f}, drifted: {', '.join(check['drifted_features']) or '-'}"
        )
        report = json.loads(demo.artifacts.get_bytes(check["report_uri"]))
        for name, column in sorted(report["features"].items(), key=lambda kv: not kv[1]["drifted"]):
            score = "n/a" if column["score"] is None else f"{column['score']:.3f}"
            story.fact(
                f"  {name:<16} {column['method']:<14} score {score:>7} (threshold {column['threshold']})"
                f"{'  DRIFTED' if column['drifted'] else ''}"
            )
        story.fact(f"report: {check['report_uri']} (+ .html)")
        alerts = [subject for subject, message in demo.drain_alerts() if "drifted" in message]
        retrained: ModelVersion | None = None
        status = None
        if check.get("retraining"):
            story.fact(f"retraining started (trigger drift): {check['retraining'].rsplit(':', 1)[-1]}")
            executions = demo.settle()
            status = next((e["status"] for e in executions if e["executionArn"] == check["retraining"]), None)
            story.fact(f"Step Functions execution: {status}")
            retrained = next(
                (v for v in demo.registry.list_versions(MODEL) if v.execution_arn == check["retraining"]),
                None,
            )
            if retrained is not None:
                demo.describe_version(retrained)
            demo.drain_alerts()
            alias = demo.registry.get_alias(MODEL)
            story.fact(f"production is v{alias.version if alias else '-'}")
        else:
            story.fact(f"no retraining: {check.get('retrain_skipped')}")
        drift = DriftSummary(
            checked_version=check["version"],
            status=check["status"],
            rows=check["rows"],
            dataset_drift=check["dataset_drift"],
            drift_share=check["drift_share"],
            drifted_features=check["drifted_features"],
            alerted=check["alerted"],
            alerts_received=alerts,
            retraining_execution=check.get("retraining"),
            retraining_status=status,
            retrained_version=retrained.version if retrained else None,
            retrained_outcome=retrained.status.value if retrained else None,
            retrain_skipped=check.get("retrain_skipped"),
            report_json=check["report_uri"],
            report_html=check["html_uri"],
        )

    with story.step(7, "roll back production to the previous version (sluice models rollback)"):
        event = catalog.rollback(demo.registry, demo.artifacts, MODEL, reason="demo: undo the last promotion")
        story.fact(f"registry: {event.type.value} v{event.from_version} → v{event.to_version} (audit event)")
        if event.to_version is None:
            raise DemoError("the rollback named no version")
        waited = demo.wait_for_alias_ttl()
        story.fact(
            f"waited {waited:.1f} s for the alias TTL"
            if waited
            else f"the alias TTL ({plan.alias_ttl_seconds:g} s) has passed since the API's last request"
        )
        after = demo.send_to(event.to_version, traffic[plan.requests :], "requests after the rollback")
        rollback = RollbackSummary(
            from_version=event.from_version,
            to_version=event.to_version,
            served_after=after.by_version,
        )

    with story.step(8, f"summary, model cards and the drift report → {out}"):
        out.mkdir(parents=True, exist_ok=True)
        files: list[str] = []
        rows = []
        for version in demo.registry.list_versions(MODEL):
            row = demo.version_row(version)
            card = version.artifacts.get("card_html")
            if card is not None:
                row.card = f"{MODEL}-v{version.version}-card.html"
                _write(out, row.card, demo.artifacts.get_verified(card), files)
            rows.append(row)
        _write(out, "drift-report.json", demo.artifacts.get_bytes(drift.report_json), files)
        _write(out, "drift-report.html", demo.artifacts.get_bytes(drift.report_html), files)
    return DemoSummary(
        model=MODEL,
        duration_seconds=0.0,
        api_url=demo.api_url,
        endpoint_url=str(demo.stack.endpoint_url),
        alias_ttl_seconds=plan.alias_ttl_seconds,
        algorithm={"name": spec.algorithm.name.value, "params": spec.algorithm.params},
        versions=rows,
        traffic=sent,
        shifted_traffic=shifted_sent,
        drift=drift,
        rollback=rollback,
        notifications=demo.notifications,
        executions=[{"name": e["name"], "status": e["status"]} for e in demo.settle()],
        events=[
            e.model_dump(mode="json", include={"type", "version", "from_version", "to_version", "trigger"})
            for e in demo.registry.list_events(MODEL)
        ],
        files=files,
    )


def summary_table(summary: DemoSummary) -> list[str]:
    """The closing table: one line per version, then traffic and drift."""
    production = {r.version for r in summary.versions if r.status == "production"}
    lines = [
        f"{'version':<8} {'status':<11} {'roc_auc':>8}  {'trigger':<8} {'dataset':<12} {'rows':>6}  note"
    ]
    for row in summary.versions:
        value = f"{row.value:.4f}" if row.value is not None else "-"
        if row.failed_gates:
            note = "failed " + ", ".join(
                f"{g['gate']} ({g['value']:.4f} vs {g['limit']})" if g.get("value") is not None else g["gate"]
                for g in row.failed_gates
            )
        else:
            note = "serving" if row.version in production else ""
        lines.append(
            f"v{row.version:<7} {row.status:<11} {value:>8}  {row.trigger:<8} {row.dataset or '-':<12} "
            f"{row.rows or 0:>6}  {note}"
        )
    t, s = summary.traffic, summary.shifted_traffic
    after = sum(summary.rollback.served_after.values())
    lines.append(
        f"predictions sent: {t.requests + s.requests + after} requests over HTTP "
        f"({t.requests} normal, {s.requests} shifted, {after} after the rollback)"
    )
    d = summary.drift
    retraining = (
        f"retraining (trigger drift) → v{d.retrained_version} {d.retrained_outcome}"
        if d.retrained_version is not None
        else f"no retraining ({d.retrain_skipped})"
    )
    lines.append(
        f"drift on v{d.checked_version}: {'DRIFT' if d.dataset_drift else 'no drift'} "
        f"(share {d.drift_share:.2f}; {', '.join(d.drifted_features) or 'no column'}); "
        f"alerts {len(d.alerts_received)}; {retraining}"
    )
    lines.append(
        f"rollback: v{summary.rollback.from_version} → v{summary.rollback.to_version}, "
        f"serving v{summary.rollback.to_version} again"
    )
    return lines


def run_demo(
    root: Path,
    out: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4566,
    api_port: int = 3000,
    plan: DemoPlan | None = None,
    stream: IO[str],
) -> DemoSummary:
    """Run the whole story; returns its summary (also written to `out`/summary.json)."""
    story = Story(stream)
    from sluice.local.server import running_server

    plan = plan or DemoPlan()
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "stack.log"
    with log_path.open("w", encoding="utf-8") as log_file, contextlib.redirect_stderr(log_file):
        story.say(
            f"[1/{STEPS}] start the local stack: template.yaml → SAM translator → moto on {host}:{port}"
        )
        begun = time.monotonic()
        with running_server(root, host=host, port=port) as stack:
            configured = stack.function_environment("PredictFunction").get("ALIAS_TTL_SECONDS", "?")
            stack.env_overrides.setdefault("PredictFunction", {})["ALIAS_TTL_SECONDS"] = str(
                plan.alias_ttl_seconds
            )
            api = stack.serve_api(api_port, host=host)
            story.fact(
                f"AWS endpoint {stack.endpoint_url}; HTTP API {api.url} (like sam local start-api, "
                f"{stack.api_auth} auth: every request the demo sends is signed)"
            )
            story.fact(
                f"buckets {stack.outputs['RawBucketName']}, {stack.outputs['ArtifactBucketName']}; "
                f"handler logs → {log_path}"
            )
            story.fact(
                f"PredictFunction ALIAS_TTL_SECONDS={plan.alias_ttl_seconds:g} for the demo (configured: "
                f"{configured}), so promotions and the rollback reach the warm API within a second"
            )
            story.say(f"      done in {time.monotonic() - begun:.1f} s (total {story.elapsed():.1f} s)")
            demo = Demo(stack, api.url, root, plan, story)
            try:
                summary = run_story(demo, out)
            finally:
                demo.api.close()
    summary.duration_seconds = round(story.elapsed(), 1)
    summary.files.append("summary.json")
    summary.files.append("stack.log")
    (out / "summary.json").write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    story.say("")
    for line in summary_table(summary):
        story.say(line)
    story.say("")
    story.say(f"files in {out}:")
    for name in summary.files:
        story.say(f"  {out / name}")
    story.say(f"finished in {summary.duration_seconds:.1f} s")
    return summary
