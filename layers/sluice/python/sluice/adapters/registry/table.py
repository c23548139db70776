"""The registry's one DynamoDB table and its low-level calls (reads, conditional writes, paged queries and
scans, transactions), shared by every repository of the registry. Items go in and come out as plain
dicts (`sluice.adapters.dynamodb_items`); what they mean is `items.py`'s."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sluice.adapters import aws_call, client, error_code
from sluice.adapters.dynamodb_items import deserialize, serialize
from sluice.adapters.registry.items import key, pk
from sluice.errors import StackError

CONDITION_FAILED = "ConditionalCheckFailed"


@dataclass(frozen=True)
class Cancellation:
    """Why DynamoDB cancelled a transaction: one reason code per action, in the actions' order ("None":
    that action was not the reason)."""

    codes: tuple[str, ...]

    def failed(self, action: int) -> bool:
        """Whether action `action`'s condition failed."""
        return len(self.codes) > action and self.codes[action] == CONDITION_FAILED

    def only_failed(self, action: int) -> bool:
        """Whether action `action`'s condition failed and nothing else cancelled the transaction."""
        return self.failed(action) and all(
            code in ("", "None") for i, code in enumerate(self.codes) if i != action
        )

    def describe(self, actions: Sequence[str]) -> str:
        """The reasons in words, each with the action it concerns: `the alias: TransactionConflict`."""
        named = [
            f"{actions[i] if i < len(actions) else f'action {i}'}: {code}"
            for i, code in enumerate(self.codes)
            if code not in ("", "None")
        ]
        return "; ".join(named) or "no reason given"


class RegistryTable:
    """The table (`name`) and the calls on it; every refusal other than a failed condition is a
    StackError naming the call."""

    def __init__(self, name: str, dynamodb: Any | None = None) -> None:
        self.name = name
        self._ddb = dynamodb or client("dynamodb")

    def get(self, model: str, sk: str) -> dict[str, Any] | None:
        """The item `sk` of `model`'s partition (a consistent read); None when there is none."""
        with aws_call(f"get {pk(model)}/{sk} from {self.name}"):
            response = self._ddb.get_item(
                TableName=self.name, Key=serialize(key(model, sk)), ConsistentRead=True
            )
        item = response.get("Item")
        return deserialize(item) if item else None

    def put(self, item: dict[str, Any], condition: str | None = None) -> bool:
        """Put an item; with a condition, False when the condition failed (nothing written)."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        return self._conditional(self._ddb.put_item, kwargs, f"put {item['PK']}/{item['SK']}")

    def update(
        self,
        model: str,
        sk: str,
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """An UpdateItem of item `sk`; with a condition, False when the condition failed."""
        kwargs = self.update_action(model, sk, expression, condition=condition, names=names, values=values)
        return self._conditional(self._ddb.update_item, kwargs["Update"], f"update {pk(model)}/{sk}")

    def query(self, model: str, prefix: str) -> list[dict[str, Any]]:
        """Every item of `model`'s partition whose sort key starts with `prefix`, in sort-key order."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": serialize({":pk": pk(model), ":prefix": prefix}),
            "ConsistentRead": True,
        }
        with aws_call(f"query {pk(model)}/{prefix}* in {self.name}"):
            while True:
                response = self._ddb.query(**kwargs)
                items.extend(deserialize(i) for i in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    return items
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def scan(self, sk: str) -> list[dict[str, Any]]:
        """Every item of the table whose sort key is `sk`, one per model (a scan: registries hold few
        models)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "FilterExpression": "SK = :sk",
            "ExpressionAttributeValues": serialize({":sk": sk}),
        }
        with aws_call(f"scan {self.name}"):
            while True:
                response = self._ddb.scan(**kwargs)
                items.extend(deserialize(i) for i in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    return items
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # ------------------------------------------------------------------ transactions
    def put_action(
        self,
        item: dict[str, Any],
        condition: str | None = None,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A transaction's Put of `item`, on `condition` when given."""
        put: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        return {"Put": put | _condition(condition, names, values)}

    def update_action(
        self,
        model: str,
        sk: str,
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A transaction's Update of item `sk` of `model`'s partition, on `condition` when given."""
        update: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize(key(model, sk)),
            "UpdateExpression": expression,
        }
        return {"Update": update | _condition(condition, names, values)}

    def transact(self, actions: list[dict[str, Any]]) -> Cancellation | None:
        """Run the actions in one transaction: None when it was applied, else why it was cancelled
        (nothing applied). A refusal of the call itself is a StackError."""
        try:
            self._ddb.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                return Cancellation(tuple(str(r.get("Code", "")) for r in reasons) or (CONDITION_FAILED,))
            raise StackError(f"transaction on {self.name}: {exc}", code=error_code(exc)) from exc
        except BotoCoreError as exc:  # no answer (a reset, a read timeout) after the SDK's retries
            raise StackError(f"transaction on {self.name}: {exc}") from exc
        return None

    def _conditional(self, call: Callable[..., Any], kwargs: dict[str, Any], what: str) -> bool:
        """One write; False when its condition failed, StackError for any other refusal."""
        try:
            call(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise StackError(f"{what} in {self.name}: {exc}", code=error_code(exc)) from exc
        except BotoCoreError as exc:  # no answer (a reset, a read timeout) after the SDK's retries
            raise StackError(f"{what} in {self.name}: {exc}") from exc
        return True


def _condition(
    condition: str | None, names: dict[str, str] | None, values: dict[str, Any] | None
) -> dict[str, Any]:
    """A write's condition and the names and values its expressions use."""
    parts: dict[str, Any] = {}
    if condition:
        parts["ConditionExpression"] = condition
    if names:
        parts["ExpressionAttributeNames"] = names
    if values:
        parts["ExpressionAttributeValues"] = serialize(values)
    return parts
