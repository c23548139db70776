"""The drift check writes the production version's live quality onto its model card (card.json and
card.html), and the registry records the rewritten card's sha256, so the card stays verifiable."""

from __future__ import annotations

import pytest

from sluice.app.monitoring.act import act_on_drift
from sluice.domain.candidate import train_candidate
from sluice.domain.monitoring.drift.live import LiveMetric
from sluice.domain.monitoring.estimation.basis import PerformanceEstimate
from sluice.domain.reports.card import ModelCard
from sluice.tools.example_data import credit_risk
from tests.unit.app.drift_world import LOANS_SPEC, NOW, SETTINGS, register_model
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_drift_act import assessment
from tests.unit.app.test_serving import SPEC


@pytest.fixture(scope="module")
def card_json() -> bytes:
    """A real card (a trained candidate's), as the loans model's version 1 would have it."""
    candidate = train_candidate(SPEC, credit_risk(400, seed=1), dataset_sha256="0" * 64, version="1")
    return candidate.card.model_copy(update={"model": "loans"}).model_dump_json().encode()


def test_the_card_shows_live_quality_after_a_drift_check(fakes: FakePorts, card_json: bytes) -> None:
    # Given loans version 1 in production with its card, and a check that measured it live
    spec = register_model(fakes, LOANS_SPEC)
    record = fakes.train_version("loans", {"card": ("card.json", card_json)}, spec_sha256=spec.sha256)
    fakes.put_in_production("loans", record.version)
    live: LiveMetric = {"accuracy": 0.62, "labelled_rows": 40}
    estimate = PerformanceEstimate(
        method="cbpe",
        values={"accuracy": 0.71},
        sampling_error={"accuracy": 0.02},
        band={"accuracy": (0.65, 0.77)},
        rows=200,
    )
    found = assessment(spec, shift=0.0, live=live, estimate=estimate)

    # When the check acts on it
    check = act_on_drift(fakes.deps(), SETTINGS, found, NOW)

    # Then the card (read back through its new, verified sha256) carries the live quality
    stored = fakes.registry.get_version("loans", 1).artifacts
    card = ModelCard.model_validate_json(fakes.artifacts.get_verified(stored["card"]))
    assert card.live is not None
    assert (card.live.metrics, card.live.labelled_rows, card.live.estimated) == (
        {"accuracy": 0.62},
        40,
        {"accuracy": 0.71},
    )
    assert (card.live.estimated_band, card.live.estimated_rows) == ({"accuracy": [0.65, 0.77]}, 200)
    assert card.live.report == check.html_uri and card.live.checked_at == NOW.isoformat(timespec="seconds")
    # and the page says it in words
    html = fakes.artifacts.get_verified(stored["card_html"]).decode()
    assert "Live quality (last drift check)" in html
    assert "On 40 labelled rows of live traffic: accuracy 0.620." in html
    assert "Estimated without labels on 200 captured rows: accuracy 0.710 (0.650–0.770)." in html
    # and what the card said before is kept
    before = ModelCard.model_validate_json(card_json)
    assert card.evaluation == before.evaluation and card.lineage == before.lineage


def test_a_version_without_a_card_or_labels_is_left_alone(fakes: FakePorts) -> None:
    # Given loans version 1 in production without a card
    spec = register_model(fakes, LOANS_SPEC)
    record = fakes.train_version("loans", {"model": ("model.onnx", b"onnx")}, spec_sha256=spec.sha256)
    fakes.put_in_production("loans", record.version)
    # When a check with labels acts on it
    act_on_drift(fakes.deps(), SETTINGS, assessment(spec, shift=0.0), NOW)
    # Then nothing is added (no card to show it on) and the check still succeeds
    assert "card" not in fakes.registry.get_version("loans", 1).artifacts
