"""IngestFunction: an upload to RawBucket (EventBridge "Object Created") → spec, dataset or quarantine."""

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.adapters import client
from sluice.adapters.idempotency import RetrySafePersistence
from sluice.app.ingest.upload import IngestLimits, Upload, ingest_upload
from sluice.entrypoints.wiring import ingest_services
from sluice.observability import logger, metrics, tracer
from sluice.settings import IngestSettings

Settings = IngestSettings


@cache
def ingest_once() -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
    """The idempotent ingest, built on the first invocation and kept for the container (as Powertools
    recommends). S3 delivers at least once: the same object version is processed once (content hashes
    and execution names make any later duplicate harmless too)."""
    settings = IngestSettings()
    services = ingest_services(settings)
    limits = IngestLimits(max_upload_bytes=settings.max_upload_bytes)
    config = IdempotencyConfig(
        event_key_jmespath="[bucket, key, version_id, etag]", expires_after_seconds=3600
    )
    # its in-progress write, retried by the SDK after a lost answer, is recognised as its own
    persistence = RetrySafePersistence(table_name=settings.idempotency_table, boto3_client=client("dynamodb"))

    @idempotent_function(data_keyword_argument="upload", persistence_store=persistence, config=config)
    def ingest(upload: dict[str, Any]) -> dict[str, Any]:
        result = ingest_upload(Upload.model_validate(upload), limits, services)
        metrics.add_metric(name=f"Ingest_{result.status}", unit="Count", value=1)
        return result.model_dump(mode="json")

    return config, ingest


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, ingest = ingest_once()
    config.register_lambda_context(context)
    return ingest(upload=Upload.from_event(event).model_dump(mode="json"))
