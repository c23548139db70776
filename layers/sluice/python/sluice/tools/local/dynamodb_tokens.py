"""DynamoDB's idempotent transactions, which moto leaves out.

TransactWriteItems takes a `ClientRequestToken` (botocore fills one in for every call, and sends the same
one on each of its retries): "if the original TransactWriteItems call was successful, subsequent
TransactWriteItems calls with the same client token return successfully without making any changes" for
10 minutes, and the same token with other parameters is refused with IdempotentParameterMismatchException
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html). moto
ignores the token, so a transaction whose response was lost and which the SDK then retried would be
applied twice (or fail its own conditions the second time) where AWS answers the retry with success;
here the token is honoured as AWS honours it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

TOKEN_SECONDS = 600.0  # how long DynamoDB remembers a token


@contextlib.contextmanager
def idempotent_transactions() -> Iterator[None]:
    """While inside, moto's TransactWriteItems honours ClientRequestToken as DynamoDB does."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    lock = threading.Lock()
    done: dict[tuple[str, str, str], tuple[str, float]] = {}  # (account, region, token) -> (digest, when)

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        key = (str(self.current_account), str(self.region), str(token))
        digest = hashlib.sha256(
            json.dumps(self.body.get("TransactItems"), sort_keys=True).encode()
        ).hexdigest()
        now = time.monotonic()
        with lock:
            for stale in [k for k, (_, when) in done.items() if now - when > TOKEN_SECONDS]:
                del done[stale]
            prior = done.get(key)
        if prior is not None:
            if prior[0] != digest:
                raise DynamodbException(
                    ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                    "Transaction with the same ClientRequestToken was called with different parameters",
                )
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = original(self)  # a cancelled transaction raises: only a success is remembered
        with lock:
            done[key] = (digest, now)
        return result

    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.transact_write_items = original  # type: ignore[method-assign]
