"""The model items (`META`): which models the registry knows, each with its current spec and version
counter."""

from __future__ import annotations

from sluice.adapters.registry import items
from sluice.adapters.registry.table import RegistryTable
from sluice.domain.registry.records import ModelMeta


class Models:
    """The models, read from their `META` items (written by `SpecsAndDatasets.register_spec` and
    `Versions.allocate_version`)."""

    def __init__(self, table: RegistryTable) -> None:
        self._table = table

    def list_models(self) -> list[ModelMeta]:
        """Every model, by name."""
        return sorted((items.model_meta(i) for i in self._table.scan(items.META)), key=lambda m: m.model)

    def model_meta(self, model: str) -> ModelMeta | None:
        """The model's item; None for a model the registry does not know."""
        item = self._table.get(model, items.META)
        return items.model_meta(item) if item else None
