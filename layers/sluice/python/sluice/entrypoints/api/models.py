"""GET /models and GET /models/{model}: what is in production, as API callers may see it. Included on
the first request under /models that no other route answers (LAZY_ROUTERS), with its response models."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Request  # at run time: Powertools injects it by annotation
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from sluice.app.registry.catalog import list_models
from sluice.app.serving.production import MODEL_ARTIFACT
from sluice.domain.registry.records import ModelVersion
from sluice.entrypoints.api.container import container_of
from sluice.entrypoints.api.schemas import answers

router = Router()


class ModelSummary(BaseModel):
    model: str
    production_version: int | None
    latest_version: int | None
    versions: int


class ModelList(BaseModel):
    models: list[ModelSummary]


class ProductionVersion(BaseModel):
    """What API callers see of the production version (operators see the full record with `sluice
    models show`)."""

    version: int
    status: str
    trigger: str
    trained_at: str
    promoted_at: str | None = None
    metrics: dict[str, float | None]
    dataset_sha256: str | None
    spec_sha256: str | None
    model_sha256: str | None


class InputFeature(BaseModel):
    name: str
    type: str
    nullable: bool
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


class ModelView(BaseModel):
    model: str
    version: int
    production: ProductionVersion
    input_schema: list[InputFeature]
    classes: list[Any] | None
    outputs: list[str]


@router.get("/models", summary="Models", responses=answers(ModelList, 403))
def models(http: Request) -> dict[str, Any]:
    """Every model with its production version."""
    listed = list_models(container_of(http).deps.registry)
    return {"models": [ModelSummary.model_validate(m, from_attributes=True).model_dump() for m in listed]}


@router.get("/models/<model>", summary="Model", responses=answers(ModelView, 403, 404, 503))
def model_detail(model: str, http: Request) -> dict[str, Any]:
    """The production version of a model: its metrics, lineage hashes, input schema and classes.
    No internals (S3 locations, execution ARNs): operators read those with `sluice models show`."""
    live = container_of(http)
    served = live.models.get(model)
    production = live.deps.registry.get_version(model, served.version)
    alias = live.deps.registry.get_alias(model)
    view = ModelView(
        model=model,
        version=served.version,
        production=_public_version(production, alias.updated_at if alias else None),
        input_schema=[InputFeature.model_validate(f.model_dump()) for f in served.onnx.features],
        classes=served.onnx.classes,
        outputs=served.onnx.output_names,
    )
    return view.model_dump(mode="json", exclude_none=True)


def _public_version(record: ModelVersion, promoted_at: str | None) -> ProductionVersion:
    model = record.artifacts.get(MODEL_ARTIFACT)
    return ProductionVersion(
        version=record.version,
        status=record.status.value,
        trigger=record.trigger.value,
        trained_at=record.created_at,
        promoted_at=promoted_at,
        metrics=record.metrics,
        dataset_sha256=record.dataset_sha256,
        spec_sha256=record.spec_sha256,
        model_sha256=model.sha256 if model else None,
    )
