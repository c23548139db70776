from __future__ import annotations

from collections.abc import Iterator

import pytest

from sluice.domain.spec.model_spec import ModelSpec
from sluice.observability import metrics
from tests.unit.app.drift_world import (
    LOANS_SPEC,
    loan_rows,
    put_in_production,
    reference_bytes,
    register_model,
)
from tests.unit.app.fakes import FakePorts


@pytest.fixture
def fakes() -> FakePorts:
    """Fresh in-memory ports for one test."""
    return FakePorts()


@pytest.fixture
def loans(fakes: FakePorts) -> ModelSpec:
    """The loans model with version 1 in production, its reference holding the model's predictions."""
    spec = register_model(fakes, LOANS_SPEC)
    put_in_production(fakes, spec, reference_bytes(spec, loan_rows(400, seed=1)))
    return spec


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Stdout, where EMF metrics go, and the invocation's metrics emptied before and after."""
    metrics.clear_metrics()
    yield capsys
    metrics.clear_metrics()
