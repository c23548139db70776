"""The spec's `rollout` section: auto (the default) or manual with a timeout; the issue's shadow and
canary are refused by name until they exist; specs without the section keep their hash."""

from __future__ import annotations

import pytest

from sluice.domain.spec import RolloutMode, parse_spec
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


@pytest.mark.parametrize("mode", ["shadow", "canary"])
def test_modes_not_built_yet_are_refused_naming_the_key(mode: str) -> None:
    with pytest.raises(SpecError, match=rf"rollout\.mode: '{mode}' is not available yet; use auto or manual"):
        parse_spec(VALID + f"rollout: {{mode: {mode}}}\n")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("{mode: sometimes}", "rollout.mode"),
        ("{mode: manual, timeout_hours: 0}", "rollout.timeout_hours"),
        ("{mode: manual, timeout_hours: 9000}", "rollout.timeout_hours"),
        ("{mode: manual, weight: 0.1}", "rollout.weight: unknown key"),
    ],
)
def test_a_bad_rollout_is_refused_naming_the_key(section: str, key: str) -> None:
    with pytest.raises(SpecError, match=key):
        parse_spec(VALID + f"rollout: {section}\n")
