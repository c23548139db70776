"""The demo as an API client: signed HTTP calls to the local API, the instances it sends, and the
latency percentiles it reports."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sluice.domain.data.table import RawTable, is_missing
from sluice.domain.spec.model_spec import ModelSpec, NumericFeature

if TYPE_CHECKING:
    from sluice.tools.local.stack import LocalStack


class ApiClient:
    """A keep-alive HTTP/1.1 client of the local API that signs every request as the API requires
    (SigV4 with the stack's credentials, or its API key in API_KEY mode)."""

    def __init__(self, api_url: str, stack: LocalStack, timeout: float = 30.0) -> None:
        from sluice.adapters.prediction_api import API_KEY, SignedClient, credentials_of

        if stack.api_auth == API_KEY:
            self._client = SignedClient(api_url, api_key=stack.api_key, timeout=timeout)
        else:
            credentials = credentials_of(stack.credentials)
            self._client = SignedClient(api_url, credentials, region=stack.region, timeout=timeout)
        self.last_response = 0.0  # time.monotonic() of the last answer

    def post(
        self, path: str, document: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST `document` as JSON (with `headers`, e.g. X-Request-Id); the status and the JSON answer
        ({} when there is none)."""
        response = self._client.request("POST", path, document, headers)
        answer = response.json() or {}
        self.last_response = time.monotonic()
        return response.status, answer

    def close(self) -> None:
        self._client.close()


def instances_of(table: RawTable, spec: ModelSpec) -> list[dict[str, Any]]:
    """The rows as API instances: numbers for numeric features, strings for categorical ones, null for
    missing cells; the target and the sensitive column are left out, as a client would."""
    rows = []
    for i in range(table.n_rows):
        instance: dict[str, Any] = {}
        for feature in spec.features:
            cell = table.columns[feature.name][i]
            if is_missing(cell):
                instance[feature.name] = None
            elif isinstance(feature, NumericFeature):
                instance[feature.name] = float(cell)
            else:
                instance[feature.name] = cell
        rows.append(instance)
    return rows


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0 to 1) of `values` by nearest rank; 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
