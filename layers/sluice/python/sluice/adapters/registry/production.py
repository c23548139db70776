"""The production alias (`ALIAS#production`): which version serves, and the live rollout (shadow or
canary) trying a candidate beside it. The alias changes only through a transaction whose condition is
the expected current version, with both versions' items and the audit event; its `updated_at` is when
production last changed (what `sluice models show` and `GET /models/{model}` call `since` and
`promoted_at`), so a rollout starting or ending beside production leaves it as it is."""

from __future__ import annotations

from typing import NoReturn

from sluice.adapters.registry import items
from sluice.adapters.registry.table import Cancellation, RegistryTable
from sluice.domain.registry.records import Alias, AuditEvent, ModelVersion, VersionStatus, utc_now
from sluice.domain.rollout.live import RolloutState, RolloutStatus
from sluice.errors import ModelNotFound, PromotionConflict, RolloutBusy

# The actions of a promotion's transaction, in order (the last only when it replaces a version).
_PROMOTION = ("the alias", "the promoted version", "the event", "the replaced version")
_REPLACED = 3
_ROLLOUT_START = ("the alias", "the rollout's version", "the event")


class ProductionAlias:
    def __init__(self, table: RegistryTable) -> None:
        self._table = table

    def get_alias(self, model: str) -> Alias | None:
        """The production alias; None while no version of the model was promoted."""
        item = self._table.get(model, items.ALIAS)
        return Alias.model_validate(item) if item else None

    def promote(
        self,
        record: ModelVersion,
        *,
        expected: int | None,
        event: AuditEvent,
        rollout: RolloutState | None = None,
    ) -> None:
        """Make `record` the production version if production is still `expected` (None: no production
        version yet). The alias, both version items (the replaced one archived) and the audit event
        change in one transaction. PromotionConflict when the alias moved (or a concurrent write
        cancelled the transaction); ModelNotFound when the version production names has no item to
        archive. The new alias carries `rollout` (the finished rollout that led here) or none: a
        promotion ends any rollout that was running."""
        table, now = self._table, utc_now()
        promoted = record.model_copy(update={"status": VersionStatus.PRODUCTION, "updated_at": now})
        alias = items.alias_item(record, expected, now, rollout)
        if expected is None:
            alias_put = table.put_action(alias, "attribute_not_exists(PK)")
        else:
            alias_put = table.put_action(
                alias, "#v = :expected", names={"#v": "version"}, values={":expected": expected}
            )
        actions = [
            alias_put,
            table.put_action(items.version_item(promoted)),
            table.put_action(items.event_item(event)),
        ]
        if expected is not None and expected != record.version:
            actions.append(
                table.update_action(
                    record.model,
                    items.version_sk(expected),
                    "SET #s = :archived, updated_at = :now",
                    condition="attribute_exists(PK)",
                    names={"#s": "status"},
                    values={":archived": VersionStatus.ARCHIVED.value, ":now": now},
                )
            )
        cancelled = table.transact(actions)
        if cancelled is not None:
            self._refused_promotion(record, expected, cancelled)

    def _refused_promotion(
        self, record: ModelVersion, expected: int | None, cancelled: Cancellation
    ) -> NoReturn:
        """Raise what refused `record`'s promotion, as the alias now stands."""
        model, version = record.model, record.version
        current = self.get_alias(model)
        found = current.version if current else None
        if found != expected:
            raise PromotionConflict(
                f"{model}: expected production version {expected}, found {found}; "
                f"version {version} was not promoted"
            )
        if cancelled.only_failed(_REPLACED):
            raise ModelNotFound(
                f"{model}: production version {expected} has no version item to archive; "
                f"version {version} was not promoted"
            )
        production = f"version {expected}" if expected is not None else "no version"
        raise PromotionConflict(
            f"{model}: version {version} was not promoted, production is still {production}: "
            f"the transaction was cancelled ({cancelled.describe(_PROMOTION)})"
        )

    def start_rollout(self, record: ModelVersion, rollout: RolloutState, event: AuditEvent) -> None:
        """Put `rollout` on the production alias if production is still `rollout.production_version` and
        no other rollout runs, record the version (shadow or canary) and audit it, in one transaction.
        RolloutBusy when another version's rollout runs; PromotionConflict when production moved (or a
        concurrent write cancelled the transaction)."""
        table = self._table
        version = record.model_copy(update={"updated_at": utc_now()})
        cancelled = table.transact(
            [
                table.update_action(
                    record.model,
                    items.ALIAS,
                    "SET rollout = :r",
                    condition="#v = :expected AND (attribute_not_exists(rollout) "
                    "OR rollout.#s <> :running OR rollout.#v = :mine)",
                    names={"#v": "version", "#s": "status"},
                    values={
                        ":r": rollout.model_dump(mode="json"),
                        ":expected": rollout.production_version,
                        ":running": RolloutStatus.RUNNING.value,
                        ":mine": rollout.version,
                    },
                ),
                table.put_action(items.version_item(version)),
                table.put_action(items.event_item(event)),
            ]
        )
        if cancelled is not None:
            self._refused_rollout(record, rollout, cancelled)

    def _refused_rollout(
        self, record: ModelVersion, rollout: RolloutState, cancelled: Cancellation
    ) -> NoReturn:
        """Raise what refused `record`'s rollout, as the alias now stands."""
        model, expected = record.model, rollout.production_version
        current = self.get_alias(model)
        found = current.version if current else None
        if found != expected:
            raise PromotionConflict(
                f"{model}: expected production version {expected}, found {found}; "
                f"version {record.version} was not tried"
            )
        other = current.rollout if current else None
        if other is not None and other.status is RolloutStatus.RUNNING and other.version != rollout.version:
            raise RolloutBusy(
                f"{model} version {other.version}'s {other.mode} rollout is running; "
                "one live rollout at a time"
            )
        raise PromotionConflict(
            f"{model}: version {record.version} was not tried, production is still version {expected}: "
            f"the transaction was cancelled ({cancelled.describe(_ROLLOUT_START)})"
        )

    def stop_rollout(self, model: str, version: int, status: RolloutStatus, reason: str) -> bool:
        """Mark version's running rollout on the alias as ended (requests stop going to it); False when
        the alias carries no running rollout of that version (it was replaced or already ended)."""
        return self._table.update(
            model,
            items.ALIAS,
            "SET rollout.#s = :status, rollout.reason = :reason",
            condition="rollout.#v = :v AND rollout.#s = :running",
            names={"#s": "status", "#v": "version"},
            values={
                ":status": status.value,
                ":reason": reason,
                ":v": version,
                ":running": RolloutStatus.RUNNING.value,
            },
        )
