"""Serving on the in-memory ports: the alias TTL (with a clock the test controls), integrity refusals,
capture that never fails a prediction, request checks and feedback. How the adapters keep the ports'
promises is exercised on the local stack in tests/integration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sluice.app.serving import production as serving
from sluice.domain.candidate import Candidate, train_candidate
from sluice.domain.registry.records import ModelVersion
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.spec.model_spec import load_spec
from sluice.errors import InvalidRequest, ModelNotFound, ModelUnavailable, NoProductionVersion
from sluice.tools.example_data import credit_risk
from tests.conftest import spec_path
from tests.unit.app.fakes import FakePorts

SPEC = load_spec(spec_path("credit-risk")).model_copy(
    update={
        "algorithm": load_spec(spec_path("credit-risk")).estimator.model_copy(
            update={"params": {"n_estimators": 10}}
        )
    }
)
MODEL = SPEC.name
INSTANCE = {"income": 52000.0, "age": 41, "debt_ratio": 0.35, "credit_lines": 4, "segment": "retail"}


@pytest.fixture(scope="module")
def candidates() -> dict[int, Candidate]:
    trained = {}
    for version, seed in ((1, 1), (2, 2)):
        candidate = train_candidate(
            SPEC, credit_risk(800, seed=seed), dataset_sha256="0" * 64, version=str(version)
        )
        assert candidate.onnx_model is not None
        trained[version] = candidate
    return trained


@pytest.fixture(scope="module")
def model_files(candidates: dict[int, Candidate]) -> dict[int, bytes]:
    return {
        version: candidate.onnx_model
        for version, candidate in candidates.items()
        if candidate.onnx_model is not None
    }


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def trained(fakes: FakePorts, model_file: bytes, *, card: bytes | None = None) -> ModelVersion:
    """The next version of the model, its file (and card) stored and recorded; not in production."""
    files = {serving.MODEL_ARTIFACT: ("model.onnx", model_file)}
    if card is not None:
        files[serving.CARD_ARTIFACT] = ("card.json", card)
    return fakes.train_version(MODEL, files, spec_sha256=SPEC.sha256)


def serving_models(
    fakes: FakePorts, model_files: dict[int, bytes], production: int | None, ttl: float = 60
) -> tuple[serving.ProductionModels, Clock]:
    """A container's ProductionModels on the fakes, with every model file trained as the version of its
    number and `production` in production, and the clock it reads."""
    for version, model_file in sorted(model_files.items()):
        assert trained(fakes, model_file).version == version
    if production is not None:
        fakes.put_in_production(MODEL, production)
    clock = Clock()
    return serving.ProductionModels(fakes.registry, fakes.artifacts, ttl, clock, fakes.outcomes), clock


def tamper_with(fakes: FakePorts, version: int) -> None:
    """Overwrite the version's model file; the registry still records the real file's sha256."""
    uri = fakes.registry.get_version(MODEL, version).artifacts[serving.MODEL_ARTIFACT].uri
    fakes.artifacts.objects[uri] = b"tampered"


def test_the_alias_is_reread_only_after_the_ttl(fakes: FakePorts, model_files: dict[int, bytes]) -> None:
    # Given a container serving version 1
    models, clock = serving_models(fakes, model_files, production=1, ttl=60)
    assert models.get(MODEL).version == 1
    # When production moves to 2 within the TTL / Then the warm container still serves 1, without a read
    fakes.put_in_production(MODEL, 2)
    clock.now = 59.9
    assert models.get(MODEL).version == 1
    assert fakes.registry.alias_reads == 1
    # When the TTL has passed / Then it re-reads the alias and serves 2
    clock.now = 60.0
    assert models.get(MODEL).version == 2
    assert fakes.registry.alias_reads == 2


def test_a_file_that_fails_its_hash_is_refused(fakes: FakePorts, model_files: dict[int, bytes]) -> None:
    # Given a warm container serving version 1, and version 2 promoted with a tampered file
    models, _ = serving_models(fakes, model_files, production=1, ttl=0)
    assert models.get(MODEL).version == 1
    tamper_with(fakes, 2)
    fakes.put_in_production(MODEL, 2)
    # Then the warm container keeps serving what it verified, and reports the refusal (counted by the
    # entry point in ModelIntegrityFailures)
    assert models.get(MODEL).version == 1
    assert fakes.outcomes.counted == ["model_integrity_failure"]
    # And a cold one has nothing verified and refuses
    cold_fakes = FakePorts()
    cold, _ = serving_models(cold_fakes, model_files, production=2, ttl=0)
    tamper_with(cold_fakes, 2)
    with pytest.raises(ModelUnavailable, match="integrity"):
        cold.get(MODEL)


def test_unknown_model_and_no_production_version_are_distinguished(
    fakes: FakePorts, model_files: dict[int, bytes]
) -> None:
    # Given a model with versions but none in production
    models, _ = serving_models(fakes, model_files, production=None)
    # Then it is "no production version", and a model never registered is "no model named"
    with pytest.raises(NoProductionVersion):
        models.get(MODEL)
    with pytest.raises(ModelNotFound, match="no model named"):
        models.get("other")


def test_capture_failure_never_fails_the_prediction(fakes: FakePorts, model_files: dict[int, bytes]) -> None:
    # Given a prediction and a capture store that is down
    models, _ = serving_models(fakes, model_files, production=1)
    body = serving.predict(models.get(MODEL), [INSTANCE], max_instances=10, request_id="r1")
    fakes.traffic.outage = OSError("S3 is down")
    # When it is captured / Then capture reports the failure (the entry point counts it in
    # CaptureFailures, the alarm's metric) and the response is intact
    assert serving.capture(fakes.traffic, 1.0, [INSTANCE], body) == "failed"
    assert fakes.traffic.writes == ["r1"]
    assert body["predictions"] and body["version"] == 1
    # And a zero fraction never touches the sink
    assert serving.capture(fakes.traffic, 0.0, [INSTANCE], body) == "skipped"
    assert fakes.traffic.writes == ["r1"]


# ------------------------------------------------------------------------------ request checks and limits
def _served(model_files: dict[int, bytes]) -> serving.ServedModel:
    models, _ = serving_models(FakePorts(), model_files, production=1)
    return models.get(MODEL)


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
    together = serving.predict(served, rows, max_instances=10)
    alone = [serving.predict(served, [row], max_instances=10) for row in rows]
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
    # When the second instance's income is a value the model cannot take / Then a 400 naming it
    with pytest.raises(InvalidRequest) as raised:
        serving.predict(_served(model_files), [INSTANCE, {**INSTANCE, "income": value}], max_instances=10)
    assert [(d["instance"], d["field"]) for d in raised.value.details] == [(1, "income")]
    assert message in str(raised.value.details[0]["message"])


def test_problems_are_counted_but_only_the_first_hundred_named(model_files: dict[int, bytes]) -> None:
    # Given 1,000 instances with 100 unknown fields each, and one with a very long category
    wide = {**INSTANCE, **{f"colour_{j:03d}": "red" for j in range(100)}}
    with pytest.raises(InvalidRequest) as raised:
        serving.predict(_served(model_files), [wide] * 1000, max_instances=1000)
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
        serving.predict(
            _served(model_files), [{**INSTANCE, "segment": "s" * 100_000, "x" * 5000: 1}], max_instances=10
        )
    messages = {str(d["field"]): str(d["message"]) for d in raised.value.details}
    assert messages["segment"] == "is longer than 256 characters"
    assert all(len(field) <= 81 and len(message) < 400 for field, message in messages.items())


# ------------------------------------------------------------------------------------------- feedback
def test_labels_are_checked_against_the_task_and_classes(candidates: dict[int, Candidate]) -> None:
    # Given the schema read from the model card and from the model itself
    candidate = candidates[1]
    assert candidate.onnx_model is not None
    from_card = serving.LabelSchema.of_card(candidate.card.model_dump(mode="json"))
    from_model = serving.LabelSchema.of_model(OnnxModel(candidate.onnx_model))
    # Then they agree: a binary model with classes 0 and 1
    assert from_card == from_model == serving.LabelSchema("binary", ("0", "1"))
    assert from_model.check(1) == (1, None) and from_model.check("0") == ("0", None)
    for wrong in (2, "yes", True, 0.5, None, [1], 10**400):
        label, problem = from_model.check(wrong)
        assert label is None and problem is not None and "classes" in problem
    # And a regressor takes finite numbers only
    regression = serving.LabelSchema("regression")
    assert regression.check(3) == (3.0, None) and regression.check(-0.5) == (-0.5, None)
    for wrong in (float("inf"), float("nan"), 10**400, "3", True, None):
        assert regression.check(wrong)[1] is not None


def captured_request(fakes: FakePorts, request_id: str, instances: int) -> None:
    """A served request of `instances` instances that capture sampled."""
    response = {"model": MODEL, "version": 1, "request_id": request_id, "predictions": [1] * instances}
    fakes.traffic.write(MODEL, request_id, serving.capture_records([INSTANCE] * instances, response))


def stored_labels(fakes: FakePorts) -> list[tuple[str, int, Any]]:
    return [(f["request_id"], f["instance"], f["label"]) for f in fakes.traffic.labels[MODEL]]


def test_feedback_is_checked_and_sent_without_reading_capture_or_loading_the_model(
    fakes: FakePorts, candidates: dict[int, Candidate], model_files: dict[int, bytes]
) -> None:
    # Given a cold container (nothing loaded) whose registry records the production version's card
    card = candidates[1].card.model_dump_json().encode()
    card_uri = trained(fakes, model_files[1], card=card).artifacts[serving.CARD_ARTIFACT].uri
    fakes.put_in_production(MODEL, 1)
    models = serving.ProductionModels(fakes.registry, fakes.artifacts, 60)
    # And a captured request of 3 instances
    captured_request(fakes, "r-captured", 3)

    def send(request_id: str, instance: int, label: Any) -> None:
        serving.record_feedback(
            models,
            fakes.traffic,
            MODEL,
            request_id=request_id,
            instance=instance,
            label=label,
            max_instances=1000,
        )

    # When labels arrive for a captured request, for one capture did not sample, and twice for one
    send("r-captured", 2, 1)
    send("r-elsewhere", 7, "0")
    send("r-captured", 2, 0)
    # Then all are sent as they came (the join and "latest wins" happen when a window is read), and
    # only the card was read: capture is not looked up at send time
    assert stored_labels(fakes) == [("r-captured", 2, 1), ("r-elsewhere", 7, "0"), ("r-captured", 2, 0)]
    assert fakes.artifacts.reads == [card_uri]
    # When the instance is beyond the largest request, or the label is not a class / Then 400s naming them
    with pytest.raises(InvalidRequest) as raised:
        send("r-captured", 1000, 1)
    assert raised.value.details[0]["field"] == "instance" and "must be below 1000" in str(
        raised.value.details[0]
    )
    with pytest.raises(InvalidRequest) as raised:
        send("r-captured", 0, 2)
    assert raised.value.details[0]["field"] == "label"
    assert len(stored_labels(fakes)) == 3 and fakes.artifacts.reads == [card_uri]  # the card is read once
    # And a model with no version in production is a 404, as for predictions
    unpromoted = FakePorts()
    trained(unpromoted, model_files[1], card=card)
    cold = serving.ProductionModels(unpromoted.registry, unpromoted.artifacts, 60)
    with pytest.raises(NoProductionVersion):
        serving.record_feedback(
            cold, fakes.traffic, MODEL, request_id="r", instance=0, label=1, max_instances=1000
        )
