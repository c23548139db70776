"""A live rollout in the registry: the production alias carries its state (`rollout`), and each version's
requests during it are counted in `ROLLOUT#<version>#<role>` items that every PredictFunction container
adds to (an atomic ADD, so many containers never lose each other's counts)."""

from __future__ import annotations

from typing import Any

from sluice.adapters.dynamodb_items import serialize
from sluice.adapters.registry.table import ALIAS, RegistryTable, _event_item, pk
from sluice.domain.registry.records import Alias, AuditEvent, ModelVersion, utc_now
from sluice.domain.rollout.live import RolloutState, RolloutStatus, VersionTally
from sluice.errors import PromotionConflict, RolloutBusy

_COUNTS = ("requests", "errors", "instances", "agreed", "abs_diff")
_LATENCY_PREFIX = "lat_"


def counts_sk(version: int, role: str) -> str:
    return f"ROLLOUT#{version:08d}#{role}"


class RolloutItems(RegistryTable):
    def get_alias(self, model: str) -> Alias | None:
        item = self._get(model, ALIAS)
        return Alias.model_validate(item) if item else None

    def start_rollout(self, record: ModelVersion, rollout: RolloutState, event: AuditEvent) -> None:
        """Put `rollout` on the production alias if production is still `rollout.production_version` and
        no other rollout runs, record the version (shadow or canary) and audit it, in one transaction.
        PromotionConflict otherwise."""
        now = utc_now()
        item = self._version_item(record.model_copy(update={"updated_at": now}))
        codes = self._transact(
            [
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": serialize({"PK": pk(record.model), "SK": ALIAS}),
                        "UpdateExpression": "SET rollout = :r, updated_at = :now",
                        "ConditionExpression": "#v = :expected AND (attribute_not_exists(rollout) "
                        "OR rollout.#s <> :running OR rollout.#v = :mine)",
                        "ExpressionAttributeNames": {"#v": "version", "#s": "status"},
                        "ExpressionAttributeValues": serialize(
                            {
                                ":r": rollout.model_dump(mode="json"),
                                ":now": now,
                                ":expected": rollout.production_version,
                                ":running": RolloutStatus.RUNNING.value,
                                ":mine": rollout.version,
                            }
                        ),
                    }
                },
                {"Put": {"TableName": self.table, "Item": serialize(item)}},
                {"Put": {"TableName": self.table, "Item": serialize(_event_item(event))}},
            ]
        )
        if codes:
            current = self.get_alias(record.model)
            other = current.rollout if current else None
            if current is not None and current.version == rollout.production_version and other is not None:
                raise RolloutBusy(
                    f"{record.model} version {other.version}'s {other.mode} rollout is running; "
                    "one live rollout at a time"
                )
            raise PromotionConflict(
                f"{record.model}: expected production version {rollout.production_version}, "
                f"found {current.version if current else None}; version {record.version} was not tried"
            )

    def stop_rollout(self, model: str, version: int, status: RolloutStatus, reason: str) -> bool:
        """Mark version's running rollout on the alias as ended (requests stop going to it); False when
        the alias carries no running rollout of that version (it was replaced or already ended)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": serialize({"PK": pk(model), "SK": ALIAS}),
            "UpdateExpression": "SET rollout.#s = :status, rollout.reason = :reason, updated_at = :now",
            "ConditionExpression": "rollout.#v = :v AND rollout.#s = :running",
            "ExpressionAttributeNames": {"#s": "status", "#v": "version"},
            "ExpressionAttributeValues": serialize(
                {
                    ":status": status.value,
                    ":reason": reason,
                    ":now": utc_now(),
                    ":v": version,
                    ":running": RolloutStatus.RUNNING.value,
                }
            ),
        }
        return self._update(kwargs)

    def add_rollout_counts(self, model: str, version: int, role: str, tally: VersionTally) -> None:
        """Add a container's counts of `role` (candidate or production) during version's rollout."""
        values: dict[str, Any] = {f":{name}": getattr(tally, name) for name in _COUNTS}
        adds = [f"{name} :{name}" for name in _COUNTS]
        for bucket, count in tally.latency.items():
            values[f":b{bucket}"] = count
            adds.append(f"{_LATENCY_PREFIX}{bucket:02d} :b{bucket}")
        values[":now"] = utc_now()
        self._update(
            {
                "TableName": self.table,
                "Key": serialize({"PK": pk(model), "SK": counts_sk(version, role)}),
                "UpdateExpression": "ADD " + ", ".join(adds) + " SET updated_at = :now",
                "ExpressionAttributeValues": serialize(values),
            }
        )

    def rollout_counts(self, model: str, version: int) -> dict[str, VersionTally]:
        """Version's rollout counts by role, as added so far."""
        counts: dict[str, VersionTally] = {}
        for item in self._query(model, f"ROLLOUT#{version:08d}#"):
            role = str(item["SK"]).rsplit("#", 1)[-1]
            latency = {
                int(key[len(_LATENCY_PREFIX) :]): int(value)
                for key, value in item.items()
                if key.startswith(_LATENCY_PREFIX)
            }
            counts[role] = VersionTally(**{name: item.get(name, 0) for name in _COUNTS}, latency=latency)
        return counts
