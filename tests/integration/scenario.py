"""What the training and promotion tests on the local stack share: the datasets they upload and how they
read the registry back."""

from __future__ import annotations

from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack

FIRST = ("first.csv", to_csv_bytes(credit_risk(rows=300, seed=1)))
BETTER = ("better.csv", to_csv_bytes(credit_risk(rows=1500, seed=2)))
NOISY = ("noisy.csv", to_csv_bytes(credit_risk(rows=800, seed=3, label_noise=0.45)))


def statuses(stack: Stack, model: str) -> dict[int, str]:
    """Each version of the model and its status."""
    return {v.version: v.status.value for v in stack.registry.list_versions(model)}


def event_types(stack: Stack, model: str) -> list[str]:
    """The model's audit trail, oldest first, by event type."""
    return [e.type.value for e in stack.registry.list_events(model)]
