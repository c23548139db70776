"""The prediction API over HTTP, authenticated as API Gateway expects: `SignedClient` signs every request
with SigV4 (service `execute-api`, botocore's `SigV4Auth`) for the API's AWS_IAM auth, or sends an API
key in `x-api-key` for its API_KEY auth. `sluice predict`, the demo, the bench and the tests use it, so
nothing reaches the API unsigned; the local stack's front checks both (sluice.tools.local.api.signing)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

SERVICE = "execute-api"
AWS_IAM = "AWS_IAM"
API_KEY = "API_KEY"
MODES = (AWS_IAM, API_KEY)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SignedClient:
    """A keep-alive HTTP/1.1 client of the API at `api_url` (http://host:port locally, or the stack's
    `PredictionApiUrl` with its stage path). Give `credentials` to sign with SigV4, or `api_key`."""

    def __init__(
        self,
        api_url: str,
        credentials: Credentials | ReadOnlyCredentials | None = None,
        *,
        api_key: str | None = None,
        region: str = "us-east-1",
        timeout: float = 30.0,
    ) -> None:
        if (credentials is None) == (api_key is None):
            raise ValueError("give either credentials (SigV4) or an api_key")
        url = urlsplit(api_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self.credentials = credentials
        self.api_key = api_key
        self.region = region
        self.timeout = timeout
        self._base_path = url.path.rstrip("/")
        self._origin = f"{url.scheme}://{url.netloc}"
        self._connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        self._host, self._port = url.hostname, url.port
        self._connection: http.client.HTTPConnection | None = None

    def signed_headers(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The headers to send: the caller's, plus X-Amz-Date and Authorization (or x-api-key)."""
        out = dict(headers or {})
        if self.api_key is not None:
            out["x-api-key"] = self.api_key
            return out
        request = AWSRequest(method=method.upper(), url=self._origin + self._base_path + path, data=body)
        for key, value in out.items():
            request.headers[key] = value
        assert self.credentials is not None
        SigV4Auth(self.credentials, SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request; a dict or list body is sent as JSON. `path` is relative to the API URL."""
        headers = dict(headers or {})
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        sent = self.signed_headers(method, path, data, headers)
        for attempt in (1, 2):  # a kept-alive connection the server closed is opened again once
            connection = self._connect()
            try:
                connection.request(method.upper(), self._base_path + path, body=data or None, headers=sent)
                response = connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = self._connection_class(self._host or "", self._port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def credentials_of(document: Mapping[str, Any]) -> Credentials:
    """Credentials from a ready document's `{"access_key_id", "secret_access_key"}`."""
    return Credentials(str(document["access_key_id"]), str(document["secret_access_key"]))
