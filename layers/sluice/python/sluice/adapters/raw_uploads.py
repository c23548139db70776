"""The raw bucket as the console uses it: init.yaml written beside a new model's data, and pre-signed
POSTs that let a browser upload a CSV straight to S3 (no size limit from API Gateway), signed with the
function's own credentials and bound to one key and a size range."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from sluice.adapters import aws_call, client, error_code


class RawUploads:
    def __init__(self, bucket: str, s3: Any | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = client("s3")
        return self._s3

    def exists(self, key: str) -> bool:
        with aws_call(f"head s3://{self.bucket}/{key}"):
            try:
                self.s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
                    return False
                raise
        return True

    def put_text(self, key: str, text: str) -> None:
        with aws_call(f"put s3://{self.bucket}/{key}"):
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType="text/yaml"
            )

    def presigned_post(self, key: str, max_bytes: int, expires_seconds: int) -> dict[str, Any]:
        post: dict[str, Any] = self.s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Conditions=[{"key": key}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_seconds,
        )
        return {"url": post["url"], "fields": dict(post["fields"])}

    def post_origin(self) -> str:
        url = urlsplit(self.presigned_post("origin", 1, 60)["url"])
        return f"{url.scheme}://{url.netloc}"
