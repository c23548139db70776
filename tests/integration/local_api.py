"""Calls to a local stack as a client makes them: signed requests to its API, and what its Firehose
streams delivered to the artifact bucket."""

from __future__ import annotations

import gzip
import json
from typing import Any

from botocore.credentials import Credentials

from sluice.adapters.prediction_api import Response, SignedClient
from sluice.tools.local.api.gateway import LocalApi
from sluice.tools.local.api.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY
from sluice.tools.local.stack import LocalStack
from tests.integration.conftest import Stack


def signed_request(
    api: LocalApi, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """One request signed with SigV4 and the local stack's credentials, as every caller must; a dict
    or list body is sent as JSON."""
    client = SignedClient(api.url, Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY))
    try:
        return client.request(method, path, body, headers)
    finally:
        client.close()


def delivered(stack: Stack | LocalStack, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every object under `prefix` of the artifact bucket (gzip JSON lines, as Firehose writes them)."""
    s3, bucket = stack.client("s3"), stack.outputs["ArtifactBucketName"]
    return {
        item["Key"]: [
            json.loads(line)
            for line in gzip.decompress(
                s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            ).splitlines()
        ]
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    }


def delivered_request_ids(stack: Stack | LocalStack, prefix: str) -> set[str]:
    """The request ids of every record delivered under `prefix`."""
    return {r["request_id"] for records in delivered(stack, prefix).values() for r in records}
