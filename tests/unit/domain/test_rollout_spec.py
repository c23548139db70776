"""The spec's `rollout` section: auto (the default) or manual with a timeout; the issue's shadow and
canary are refused by name until they exist; specs without the section keep their hash."""

from __future__ import annotations

import pytest

from sluice.domain.spec.model_spec import RolloutMode, parse_spec
from sluice.errors import SpecError
from tests.unit.domain.test_spec import VALID


def test_a_spec_without_rollout_has_none_and_keeps_its_hash() -> None:
    # Given a spec written before the rollout section existed
    spec = parse_spec(VALID)
    # Then it has no rollout (auto), and an explicit `rollout: null` hashes the same
    assert spec.rollout is None
    assert parse_spec(VALID + "rollout: null\n").sha256 == spec.sha256


def test_a_manual_rollout_with_its_timeout_is_read_and_changes_the_hash() -> None:
    spec = parse_spec(VALID + "rollout: {mode: manual, timeout_hours: 24}\n")
    assert spec.rollout is not None
    assert (spec.rollout.mode, spec.rollout.timeout_hours) == (RolloutMode.MANUAL, 24)
    assert spec.sha256 != parse_spec(VALID).sha256


def test_a_manual_rollout_waits_72_hours_unless_told() -> None:
    spec = parse_spec(VALID + "rollout: {mode: manual}\n")
    assert spec.rollout is not None and spec.rollout.timeout_hours == 72


@pytest.mark.parametrize(("mode", "weight"), [("shadow", 1.0), ("canary", 0.1)])
def test_live_modes_default_to_the_documented_share_of_traffic(mode: str, weight: float) -> None:
    # When a spec asks for a live rollout without a weight
    rollout = parse_spec(VALID + f"rollout: {{mode: {mode}}}\n").rollout
    # Then a canary answers a tenth of the requests and a shadow scores them all
    assert rollout is not None and rollout.mode.is_live
    assert rollout.traffic_weight == weight
    assert (rollout.min_requests, rollout.max_error_rate_increase, rollout.max_latency_p99_ratio) == (
        1000,
        0.01,
        1.5,
    )


def test_a_canary_with_every_limit_is_read_as_written() -> None:
    section = (
        "{mode: canary, weight: 0.2, min_requests: 50, min_hours: 1, max_error_rate_increase: 0.02, "
        "max_latency_p99_ratio: 2, max_metric_drop: 0.03, min_labelled_rows: 40, check_seconds: 30, "
        "timeout_hours: 12}"
    )
    rollout = parse_spec(VALID + f"rollout: {section}\n").rollout
    assert rollout is not None
    assert (rollout.weight, rollout.min_requests, rollout.min_hours, rollout.max_metric_drop) == (
        0.2,
        50,
        1,
        0.03,
    )
    assert (rollout.min_labelled_rows, rollout.check_seconds, rollout.timeout_hours) == (40, 30, 12)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("{mode: sometimes}", "rollout.mode"),
        ("{mode: manual, timeout_hours: 0}", "rollout.timeout_hours"),
        ("{mode: manual, timeout_hours: 9000}", "rollout.timeout_hours"),
        ("{mode: manual, weight: 0.1}", "weight applies to shadow and canary rollouts, not manual"),
        ("{mode: auto, min_requests: 10}", "min_requests applies to shadow and canary rollouts, not auto"),
        ("{mode: canary, weight: 0}", "rollout.weight"),
        ("{mode: canary, weight: 1.5}", "rollout.weight"),
        ("{mode: canary, min_agreement: 0.9}", "min_agreement applies to shadow rollouts"),
        ("{mode: canary, max_latency_p99_ratio: 0.5}", "rollout.max_latency_p99_ratio"),
        ("{mode: canary, check_seconds: 1}", "at most 2500 fit in an execution's history"),
        ("{mode: shadow, min_hours: 80}", "min_hours must be below timeout_hours"),
        ("{mode: canary, flavour: blue}", "rollout.flavour: unknown key"),
    ],
)
def test_a_bad_rollout_is_refused_naming_the_key(section: str, key: str) -> None:
    with pytest.raises(SpecError, match=key):
        parse_spec(VALID + f"rollout: {section}\n")
