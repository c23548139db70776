"""DynamoDB's idempotent transactions, which moto leaves out.

TransactWriteItems takes a `ClientRequestToken` (botocore fills one in for every call, and sends the same
one on each of its retries): "if the original TransactWriteItems call was successful, subsequent
TransactWriteItems calls with the same client token return successfully without making any changes" for
10 minutes, and the same token with other parameters is refused with IdempotentParameterMismatchException
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html). moto
ignores the token, so a transaction whose response was lost and which the SDK then retried would be
applied twice (or fail its own conditions the second time) where AWS answers the retry with success;
here the token is honoured as AWS honours it.

Also, for speed only: before a transaction moto deep-copies every table it writes (once per item of the
transaction), to put the copies back if the transaction is cancelled, so each transaction costs time in
proportion to the whole table (the registry table of a stack the whole suite shares grows to thousands of
items). `transactions_roll_back_their_items` copies only the items the transaction names and, when moto
cancels it, puts back those items: the same table afterwards, at the cost of the transaction's own items.
"""

from __future__ import annotations

import contextlib
import copy
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


@contextlib.contextmanager
def transactions_roll_back_their_items() -> Iterator[None]:
    """While inside, a cancelled TransactWriteItems is rolled back by putting back the items it names,
    instead of the deep copies of whole tables moto takes before each transaction (see above). A table
    with a stream keeps moto's way (its stream records are part of what moto's copy restores)."""
    from moto.dynamodb import models
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    moto_copy = models.copy
    skipping = threading.local()  # set while this thread's transaction rolls back item by item

    class TablesNotCopied:
        """`copy` as moto.dynamodb.models sees it: a table is its own "copy" during such a transaction."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, Table) and getattr(skipping, "on", False):
                return value
            return copy.deepcopy(value, memo)

    def saved_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[Any] | None:
        """Each named item's state before the transaction, to put back; None where moto's own way is
        needed (a table with a stream)."""
        saved: list[Any] = []
        for entry in transact_items:
            if not isinstance(entry, dict) or not entry:
                continue
            op = next(iter(entry.values()))
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            if table.stream_shard is not None:
                return None
            key = op.get("Item") if "Put" in entry else op.get("Key")
            if not isinstance(key, dict) or table.hash_key_attr not in key:
                continue  # moto refuses it before writing anything for it
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    continue
                range_key = DynamoType(key[table.range_key_attr])
            bucket = table.items.get(hash_key)  # .get: reading moto's defaultdict must not add to it
            item = bucket if range_key is None else (bucket or {}).get(range_key)
            saved.append((table, hash_key, range_key, bucket is not None, copy.deepcopy(item)))
        return saved

    def put_back(saved: list[Any]) -> None:
        for table, hash_key, range_key, had_key, item in reversed(saved):
            if range_key is None:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
            elif item is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items.get(hash_key, {}).pop(range_key, None)
                if not had_key and not table.items.get(hash_key, True):
                    table.items.pop(hash_key, None)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = saved_items(self, transact_items) if len(transact_items) <= 100 else None
        if saved is None:
            return original(self, transact_items)
        skipping.on = True
        try:
            return original(self, transact_items)
        except (TransactionCanceledException, MultipleTransactionsException, MockValidationException):
            put_back(saved)  # where moto puts back its copies of the tables
            raise
        finally:
            skipping.on = False

    models.copy = TablesNotCopied()  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        models.copy = moto_copy
