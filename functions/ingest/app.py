"""IngestFunction: an upload to RawBucket (EventBridge "Object Created") → spec, dataset or quarantine.

S3 delivers at least once: the same object version is processed once (Powertools' idempotency on the
bucket, key, version and ETag); content hashes and execution names make any later duplicate harmless."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.app.ingest.upload import Upload, ingest_upload
from sluice.entrypoints import wiring
from sluice.entrypoints.handler import lambda_handler_of
from sluice.observability import metrics
from sluice.settings import IngestSettings

Settings = IngestSettings
IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[bucket, key, version_id, etag]", expires_after_seconds=3600
)


def idempotent_ingest() -> Callable[..., dict[str, Any]]:
    """The ingest of one upload, idempotent on its object version, with the function's deps: built on
    the container's first invocation and kept."""
    function = wiring.ingest_function()

    @idempotent_function(
        data_keyword_argument="upload", persistence_store=function.persistence, config=IDEMPOTENCY
    )
    def ingest(upload: dict[str, Any]) -> dict[str, Any]:
        result = ingest_upload(Upload.model_validate(upload), function.limits, function.deps)
        metrics.add_metric(name=f"Ingest_{result.status}", unit="Count", value=1)
        return result.model_dump(mode="json")

    return ingest


@lambda_handler_of(idempotent_ingest)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, ingest: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    IDEMPOTENCY.register_lambda_context(context)
    return ingest(upload=Upload.from_event(event).model_dump(mode="json"))
