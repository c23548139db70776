"""S3: datasets, model artifacts, quarantine and reports. Objects are addressed by `s3://` URIs. A call the
SDK's retries did not outlast is a StackError (ClientError or BotoCoreError alike: `aws_call`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters import aws_call, client, error_code
from sluice.domain.registry.records import Artifact, s3_uri, sha256_hex, split_uri
from sluice.errors import ArtifactCorrupt, ArtifactNotFound

_MISSING = {"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"}
# A conditional write that lost: the object changed (412), another conditional write was in flight (409),
# or the object read is gone
_LOST_RACE = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey"}


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, default=str).encode()


class ArtifactStore:
    """One bucket's objects. Reads may address any bucket by URI; writes go to `bucket`."""

    def __init__(self, bucket: str, s3: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3 or client("s3")

    def uri(self, key: str) -> str:
        return s3_uri(self.bucket, key)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> Artifact:
        with aws_call(f"put {self.uri(key)}"):
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return Artifact(uri=self.uri(key), sha256=sha256_hex(data))

    def put_json(self, key: str, obj: Any) -> Artifact:
        return self.put_bytes(key, _json_bytes(obj), "application/json")

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """The bytes of `key` in this bucket and its ETag, which names this state of the object for a
        `put_json_if_unchanged`. ArtifactNotFound when there is no such object."""
        with aws_call(f"get {self.uri(key)}"):
            try:
                response = self._s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    raise ArtifactNotFound(f"{self.uri(key)}: no such object") from exc
                raise
            return response["Body"].read(), str(response["ETag"])

    def etag(self, key: str) -> str | None:
        """The ETag of `key` in this bucket (a HEAD, no body read); None when there is no such object."""
        with aws_call(f"head {self.uri(key)}"):
            try:
                return str(self._s3.head_object(Bucket=self.bucket, Key=key)["ETag"])
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    return None
                raise

    def put_json_if_unchanged(self, key: str, obj: Any, etag: str | None) -> str | None:
        """Write `obj` as JSON to `key` only if the object is still the one whose ETag was read (`etag`),
        or, with None, only if there is no object yet (S3's conditional writes). Returns the new ETag,
        or None when another writer changed the object first (nothing was written)."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        with aws_call(f"put {self.uri(key)}"):
            try:
                response = self._s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=_json_bytes(obj),
                    ContentType="application/json",
                    **condition,
                )
            except ClientError as exc:
                if error_code(exc) in _LOST_RACE:
                    return None
                raise
        return str(response["ETag"])

    def get_bytes(self, uri: str, *, version_id: str | None = None) -> bytes:
        stream = self.open(uri, version_id=version_id)
        with aws_call(f"read {uri}"):  # the body can fail mid-way too (a reset, a read timeout)
            body: bytes = stream.read()
        return body

    def get_verified(self, artifact: Artifact) -> bytes:
        """The artifact's bytes, refusing them when their sha256 is not the recorded one."""
        data = self.get_bytes(artifact.uri)
        actual = sha256_hex(data)
        if actual != artifact.sha256:
            raise ArtifactCorrupt(
                f"{artifact.uri}: sha256 is {actual}, the registry recorded {artifact.sha256}"
            )
        return data

    def open(self, uri: str, *, version_id: str | None = None) -> Any:
        """A streaming body (read in chunks; never loaded whole unless the caller reads it all)."""
        bucket, key = split_uri(uri)
        extra = {"VersionId": version_id} if version_id else {}
        with aws_call(f"get {uri}"):
            try:
                return self._s3.get_object(Bucket=bucket, Key=key, **extra)["Body"]
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    raise ArtifactNotFound(f"{uri}: no such object") from exc
                raise

    def size(self, uri: str, *, version_id: str | None = None) -> int:
        bucket, key = split_uri(uri)
        extra = {"VersionId": version_id} if version_id else {}
        with aws_call(f"head {uri}"):
            try:
                return int(self._s3.head_object(Bucket=bucket, Key=key, **extra)["ContentLength"])
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    raise ArtifactNotFound(f"{uri}: no such object") from exc
                raise

    def exists(self, uri: str) -> bool:
        try:
            self.size(uri)
        except ArtifactNotFound:
            return False
        return True

    def copy_in(self, source_uri: str, key: str, *, version_id: str | None = None) -> str:
        """Server-side copy of an object (from any bucket) to `key` in this bucket."""
        bucket, source_key = split_uri(source_uri)
        source: dict[str, str] = {"Bucket": bucket, "Key": source_key}
        if version_id:
            source["VersionId"] = version_id
        with aws_call(f"copy {source_uri} to {self.uri(key)}"):
            try:
                self._s3.copy_object(Bucket=self.bucket, Key=key, CopySource=source)
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    raise ArtifactNotFound(f"{source_uri}: no such object") from exc
                raise
        return self.uri(key)

    def list_keys(self, prefix: str) -> Iterator[str]:
        with aws_call(f"list {self.uri(prefix)}"):
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    yield str(obj["Key"])
