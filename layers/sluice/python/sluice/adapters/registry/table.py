"""The registry's table: one DynamoDB table, partition `MODEL#<name>`, and the few low-level calls every
registry item goes through (consistent reads, conditional puts, paged queries, transactions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sluice.adapters import aws_call, client, error_code
from sluice.adapters.dynamodb_items import deserialize, serialize
from sluice.domain.registry.records import AuditEvent, ModelVersion
from sluice.errors import StackError

META = "META"
ALIAS = "ALIAS#production"
_MAX_ALLOCATION_ATTEMPTS = 20


def pk(model: str) -> str:
    return f"MODEL#{model}"


def version_sk(version: int) -> str:
    return f"VERSION#{version:08d}"


def _event_item(event: AuditEvent) -> dict[str, Any]:
    return {"PK": pk(event.model), "SK": f"EVENT#{event.time}#{event.id}", **event.model_dump(mode="json")}


class RegistryTable:
    """The table and its low-level calls; `Registry` adds what the items mean."""

    def __init__(self, table: str, dynamodb: Any | None = None) -> None:
        self.table = table
        self._ddb = dynamodb or client("dynamodb")

    # ------------------------------------------------------------------ low level
    def _get(self, model: str, sk: str) -> dict[str, Any] | None:
        with aws_call(f"get {pk(model)}/{sk} from {self.table}"):
            response = self._ddb.get_item(
                TableName=self.table, Key=serialize({"PK": pk(model), "SK": sk}), ConsistentRead=True
            )
        item = response.get("Item")
        return deserialize(item) if item else None

    def _put(self, item: dict[str, Any], condition: str | None = None) -> bool:
        """Put an item; with a condition, False when the condition failed."""
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": serialize(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        return self._conditional(self._ddb.put_item, kwargs, f"put {item['PK']}/{item['SK']}")

    def _query(self, model: str, prefix: str, *, newest_first: bool = False) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": serialize({":pk": pk(model), ":prefix": prefix}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        with aws_call(f"query {pk(model)}/{prefix}* in {self.table}"):
            while True:
                response = self._ddb.query(**kwargs)
                items.extend(deserialize(i) for i in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    return items
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _transact(self, items: list[dict[str, Any]]) -> list[str]:
        """Run a transaction; returns [] on success or the cancellation reason codes."""
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                codes = [str(r.get("Code", "")) for r in reasons]
                return codes or ["ConditionalCheckFailed"]
            raise StackError(f"transaction on {self.table}: {exc}", code=error_code(exc)) from exc
        except BotoCoreError as exc:  # no answer (a reset, a read timeout) after the SDK's retries
            raise StackError(f"transaction on {self.table}: {exc}") from exc
        return []

    def _update(self, kwargs: dict[str, Any]) -> bool:
        """An UpdateItem; with a condition, False when the condition failed."""
        return self._conditional(self._ddb.update_item, kwargs, f"update {kwargs['Key']}")

    def _conditional(self, call: Callable[..., Any], kwargs: dict[str, Any], what: str) -> bool:
        """One write; False when its condition failed, StackError for any other refusal."""
        try:
            call(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise StackError(f"{what} in {self.table}: {exc}", code=error_code(exc)) from exc
        except BotoCoreError as exc:  # no answer (a reset, a read timeout) after the SDK's retries
            raise StackError(f"{what} in {self.table}: {exc}") from exc
        return True

    @staticmethod
    def _version_item(record: ModelVersion) -> dict[str, Any]:
        return {"PK": pk(record.model), "SK": version_sk(record.version), **record.model_dump(mode="json")}
