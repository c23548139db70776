"""Serving logic without AWS: the alias TTL (with a clock the test controls), integrity refusals and
capture that never fails a prediction. The registry and artifact store here are in-memory stand-ins
for Sluice's own ports (the adapters are exercised on the local stack in tests/integration)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from sluice import predictions
from sluice.errors import (
    ArtifactCorrupt,
    InvalidRequest,
    ModelNotFound,
    ModelUnavailable,
    NoProductionVersion,
)
from sluice.examples import credit_risk
from sluice.observability import metrics
from sluice.records import Alias, Artifact, ModelVersion, Trigger, VersionStatus
from sluice.runs import TrainingRun, train_and_evaluate
from sluice.serving import OnnxModel
from sluice.spec import load_spec
from tests.conftest import spec_path

SPEC = load_spec(spec_path("credit-risk")).model_copy(
    update={
        "algorithm": load_spec(spec_path("credit-risk")).algorithm.model_copy(
            update={"params": {"n_estimators": 10}}
        )
    }
)
INSTANCE = {"income": 52000.0, "age": 41, "debt_ratio": 0.35, "credit_lines": 4, "segment": "retail"}


@pytest.fixture(autouse=True)
def no_metrics_left_over() -> Iterator[None]:
    """Metrics these tests record (outside a handler, nothing flushes them) are cleared after each."""
    yield
    metrics.clear_metrics()


@pytest.fixture(scope="module")
def runs() -> dict[int, TrainingRun]:
    trained = {}
    for version, seed in ((1, 1), (2, 2)):
        run = train_and_evaluate(
            SPEC, credit_risk(800, seed=seed), dataset_sha256="0" * 64, version=str(version)
        )
        assert run.onnx_model is not None
        trained[version] = run
    return trained


@pytest.fixture(scope="module")
def model_files(runs: dict[int, TrainingRun]) -> dict[int, bytes]:
    return {version: run.onnx_model for version, run in runs.items() if run.onnx_model is not None}


@dataclass
class MemoryRegistry:
    production: int | None
    files: dict[int, bytes]
    reads: int = 0

    def get_alias(self, model: str) -> Alias | None:
        self.reads += 1
        return (
            None if self.production is None else Alias(model=model, version=self.production, updated_at="t")
        )

    def get_version(self, model: str, version: int) -> ModelVersion:
        sha = hashlib.sha256(self.files[version]).hexdigest()
        return ModelVersion(
            model=model,
            version=version,
            status=VersionStatus.PRODUCTION,
            trigger=Trigger.UPLOAD,
            created_at="t",
            updated_at="t",
            artifacts={"model": Artifact(uri=f"mem://{version}", sha256=sha)},
        )

    def model_meta(self, model: str) -> dict[str, Any] | None:
        return {"model": model} if model == "credit-risk" else None


@dataclass
class MemoryArtifacts:
    stored: dict[str, bytes]

    def get_verified(self, artifact: Artifact) -> bytes:
        data = self.stored[artifact.uri]
        if hashlib.sha256(data).hexdigest() != artifact.sha256:
            raise ArtifactCorrupt(artifact.uri)
        return data


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def _models(
    files: dict[int, bytes], production: int | None, ttl: float = 60
) -> tuple[predictions.ProductionModels, MemoryRegistry, MemoryArtifacts, Clock]:
    registry = MemoryRegistry(production, files)
    artifacts = MemoryArtifacts({f"mem://{v}": data for v, data in files.items()})
    clock = Clock()
    return predictions.ProductionModels(registry, artifacts, ttl, clock), registry, artifacts, clock


def test_the_alias_is_reread_only_after_the_ttl(model_files: dict[int, bytes]) -> None:
    models, registry, _, clock = _models(model_files, production=1, ttl=60)
    assert models.get("credit-risk").version == 1
    # When production moves to 2 within the TTL / Then the warm container still serves 1, without a read
    registry.production = 2
    clock.now = 59.9
    assert models.get("credit-risk").version == 1
    assert registry.reads == 1
    # When the TTL has passed / Then it re-reads the alias and serves 2
    clock.now = 60.0
    assert models.get("credit-risk").version == 2
    assert registry.reads == 2


def test_a_file_that_fails_its_hash_is_refused(model_files: dict[int, bytes]) -> None:
    models, registry, artifacts, _ = _models(model_files, production=1, ttl=0)
    assert models.get("credit-risk").version == 1
    artifacts.stored["mem://2"] = b"tampered"
    registry.files = {**model_files}  # the registry still records the real hash of version 2
    registry.production = 2
    # A warm container keeps serving what it verified, and counts the refusal
    assert models.get("credit-risk").version == 1
    assert metrics.metric_set["ModelIntegrityFailures"]["Value"] == [1.0]
    # A cold one has nothing verified and refuses
    cold, _, cold_artifacts, _ = _models(model_files, production=2, ttl=0)
    cold_artifacts.stored["mem://2"] = b"tampered"
    with pytest.raises(ModelUnavailable, match="integrity"):
        cold.get("credit-risk")


def test_unknown_model_and_no_production_version_are_distinguished(model_files: dict[int, bytes]) -> None:
    models, *_ = _models(model_files, production=None)
    with pytest.raises(NoProductionVersion):
        models.get("credit-risk")
    with pytest.raises(ModelNotFound, match="no model named"):
        models.get("other")


@dataclass
class BrokenSink:
    calls: list[str] = field(default_factory=list)

    def write(self, model: str, request_id: str, records: list[dict[str, Any]]) -> None:
        self.calls.append(request_id)
        raise OSError("S3 is down")


def test_capture_failure_never_fails_the_prediction(model_files: dict[int, bytes]) -> None:
    metrics.clear_metrics()
    models, *_ = _models(model_files, production=1)
    served = models.get("credit-risk")
    body = predictions.predict(served, [INSTANCE], max_instances=10, request_id="r1")
    sink = BrokenSink()
    # When the sink fails / Then capture reports False and the response is intact
    assert predictions.capture(sink, 1.0, [INSTANCE], body) is False
    assert sink.calls == ["r1"]
    assert body["predictions"] and body["version"] == 1
    # And a zero fraction never touches the sink
    assert predictions.capture(sink, 0.0, [INSTANCE], body) is False
    assert sink.calls == ["r1"]
    assert metrics.metric_set["CaptureFailures"]["Value"] == [1.0]  # counted (the alarm's metric)


# ------------------------------------------------------------------------------ request checks and limits
def _served(model_files: dict[int, bytes]) -> predictions.ServedModel:
    models, *_ = _models(model_files, production=1)
    return models.get("credit-risk")


def test_a_batch_is_scored_exactly_as_its_rows_one_by_one(model_files: dict[int, bytes]) -> None:
    # Given valid rows, some with nullable features null or left out (the column-wise path)
    served = _served(model_files)
    rows = [
        INSTANCE,
        {**INSTANCE, "age": None},
        {k: v for k, v in INSTANCE.items() if k != "age"},
        {**INSTANCE, "income": 10**6, "segment": "sme", "credit_lines": 0},
        {**INSTANCE, "debt_ratio": 1e-30, "segment": "corporate"},
    ]
    # When scored together and one at a time / Then the same labels and probabilities
    together = predictions.predict(served, rows, max_instances=10)
    alone = [predictions.predict(served, [row], max_instances=10) for row in rows]
    assert together["predictions"] == [a["predictions"][0] for a in alone]
    assert together["probabilities"] == [a["probabilities"][0] for a in alone]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (10**400, "finite number"),  # an integer beyond float64: float() used to raise OverflowError
        (-(10**309), "finite number"),
        (float("nan"), "finite number"),
        (float("inf"), "finite number"),
        (1e39, "float32"),
        ("52000", "must be a number"),
        (True, "must be a number"),
        ([1], "must be a number"),
    ],
)
def test_numbers_a_model_cannot_hold_are_named_not_raised(
    model_files: dict[int, bytes], value: Any, message: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        predictions.predict(_served(model_files), [INSTANCE, {**INSTANCE, "income": value}], max_instances=10)
    assert [(d["instance"], d["field"]) for d in raised.value.details] == [(1, "income")]
    assert message in str(raised.value.details[0]["message"])


def test_problems_are_counted_but_only_the_first_hundred_named(model_files: dict[int, bytes]) -> None:
    # Given 1,000 instances with 100 unknown fields each, and one with a very long category
    wide = {**INSTANCE, **{f"colour_{j:03d}": "red" for j in range(100)}}
    with pytest.raises(InvalidRequest) as raised:
        predictions.predict(_served(model_files), [wide] * 1000, max_instances=1000)
    # Then 100 details (in order) and the other 99,900 counted
    assert len(raised.value.details) == 100 and raised.value.truncated == 99_900
    assert raised.value.details[0] == {
        "instance": 0,
        "field": "colour_000",
        "message": "is not an input of this model",
    }
    assert "100000 problem(s)" in str(raised.value)
    # And a long value is refused for its length, and never echoed whole
    with pytest.raises(InvalidRequest) as raised:
        predictions.predict(
            _served(model_files), [{**INSTANCE, "segment": "s" * 100_000, "x" * 5000: 1}], max_instances=10
        )
    messages = {str(d["field"]): str(d["message"]) for d in raised.value.details}
    assert messages["segment"] == "is longer than 256 characters"
    assert all(len(field) <= 81 and len(message) < 400 for field, message in messages.items())


# ------------------------------------------------------------------------------------------- feedback
def test_labels_are_checked_against_the_task_and_classes(runs: dict[int, TrainingRun]) -> None:
    # Given the schema read from the model card and from the model itself
    run = runs[1]
    assert run.onnx_model is not None
    from_card = predictions.LabelSchema.of_card(run.card.model_dump(mode="json"))
    from_model = predictions.LabelSchema.of_model(OnnxModel(run.onnx_model))
    # Then they agree: a binary model with classes 0 and 1
    assert from_card == from_model == predictions.LabelSchema("binary", ("0", "1"))
    assert from_model.check(1) == (1, None) and from_model.check("0") == ("0", None)
    for wrong in (2, "yes", True, 0.5, None, [1], 10**400):
        label, problem = from_model.check(wrong)
        assert label is None and problem is not None and "classes" in problem
    # And a regressor takes finite numbers only
    regression = predictions.LabelSchema("regression")
    assert regression.check(3) == (3.0, None) and regression.check(-0.5) == (-0.5, None)
    for wrong in (float("inf"), float("nan"), 10**400, "3", True, None):
        assert regression.check(wrong)[1] is not None


@dataclass
class CardRegistry(MemoryRegistry):
    """A registry whose versions also record their model card."""

    cards: dict[int, bytes] = field(default_factory=dict)

    def get_version(self, model: str, version: int) -> ModelVersion:
        record = super().get_version(model, version)
        card = Artifact(uri=f"mem://card-{version}", sha256=hashlib.sha256(self.cards[version]).hexdigest())
        return record.model_copy(update={"artifacts": {**record.artifacts, "card": card}})


@dataclass
class CountingArtifacts(MemoryArtifacts):
    reads: list[str] = field(default_factory=list)

    def get_verified(self, artifact: Artifact) -> bytes:
        self.reads.append(artifact.uri)
        return super().get_verified(artifact)


@dataclass
class MemoryFeedback:
    captured: dict[str, int]
    stored: list[tuple[str, int, Any, bool | None]] = field(default_factory=list)

    def captured_instances(self, model: str, request_id: str) -> int | None:
        return self.captured.get(request_id)

    def put_feedback(
        self, model: str, request_id: str, instance: int, label: Any, matched: bool | None = None
    ) -> str:
        self.stored.append((request_id, instance, label, matched))
        return f"mem://feedback/{request_id}-{instance}"


def test_feedback_is_matched_with_capture_and_never_loads_the_model(
    runs: dict[int, TrainingRun], model_files: dict[int, bytes]
) -> None:
    # Given a cold container (nothing loaded) whose registry records the production version's card
    card = runs[1].card.model_dump_json().encode()
    registry = CardRegistry(production=1, files=model_files, cards={1: card})
    artifacts = CountingArtifacts({"mem://1": model_files[1], "mem://card-1": card})
    models = predictions.ProductionModels(registry, artifacts, 60)
    sink = MemoryFeedback(captured={"r-captured": 3})

    def send(request_id: str, instance: int, label: Any) -> bool:
        return predictions.record_feedback(
            models,
            sink,
            "credit-risk",
            request_id=request_id,
            instance=instance,
            label=label,
            max_instances=1000,
        )

    # When labels arrive for a captured request and for one capture did not sample
    assert send("r-captured", 2, 1) is True
    assert send("r-elsewhere", 7, "0") is False
    # Then both are stored, marked matched or not, the unmatched one counted, and only the card was read
    assert sink.stored == [("r-captured", 2, 1, True), ("r-elsewhere", 7, "0", False)]
    assert metrics.metric_set["FeedbackUnmatched"]["Value"] == [1.0]
    assert artifacts.reads == ["mem://card-1"]
    # When the instance is beyond the captured request, or the label is not a class / Then 400s naming them
    with pytest.raises(InvalidRequest) as raised:
        send("r-captured", 3, 1)
    assert raised.value.details[0]["field"] == "instance" and "had 3 instance(s)" in str(
        raised.value.details[0]
    )
    with pytest.raises(InvalidRequest) as raised:
        send("r-captured", 0, 2)
    assert raised.value.details[0]["field"] == "label"
    with pytest.raises(InvalidRequest):
        send("r-elsewhere", 1000, 1)  # unmatched: at most max_instances
    assert len(sink.stored) == 2 and artifacts.reads == ["mem://card-1"]  # the card is read once
    # And a model with no version in production is a 404, as for predictions
    registry.production = None
    cold = predictions.ProductionModels(registry, artifacts, 60)
    with pytest.raises(NoProductionVersion):
        predictions.record_feedback(
            cold, sink, "credit-risk", request_id="r", instance=0, label=1, max_instances=1000
        )
