"""The model registry on DynamoDB (one table, partition `MODEL#<name>`).

Version numbers come from a per-model counter, allocated at the start of a run (idempotently per
execution) so the ONNX metadata can carry the number; rejected and failed runs keep theirs. The
production alias changes only through a transaction whose condition is the expected current version,
and every decision writes its `EVENT#` item in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sluice.adapters import aws_call
from sluice.adapters.dynamodb_items import deserialize, serialize
from sluice.adapters.registry.experiments import ExperimentItems
from sluice.adapters.registry.rollout import RolloutItems
from sluice.adapters.registry.table import _MAX_ALLOCATION_ATTEMPTS, ALIAS, META, _event_item, pk, version_sk
from sluice.domain.registry.records import (
    Artifact,
    AuditEvent,
    DatasetRecord,
    EventType,
    ModelVersion,
    SpecRecord,
    Trigger,
    VersionStatus,
    new_event_id,
    utc_now,
)
from sluice.domain.rollout.live import RolloutState
from sluice.errors import ModelNotFound, PromotionConflict, StackError


class Registry(RolloutItems, ExperimentItems):
    """The model registry: models and specs, datasets, versions (with their candidate searches,
    `ExperimentItems`), the production alias (with its live rollout, `RolloutItems`) and the audit
    trail."""

    # ------------------------------------------------------------------ models and specs
    def list_models(self) -> list[dict[str, Any]]:
        """The META item of every model (scan: registries hold few models)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "SK = :meta",
            "ExpressionAttributeValues": serialize({":meta": META}),
        }
        with aws_call(f"scan {self.table}"):
            while True:
                response = self._ddb.scan(**kwargs)
                items.extend(deserialize(i) for i in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(items, key=lambda i: str(i.get("model", "")))

    def model_meta(self, model: str) -> dict[str, Any] | None:
        return self._get(model, META)

    def register_spec(self, record: SpecRecord, event: AuditEvent) -> None:
        """Store the spec by hash and make it the model's current spec."""
        now = utc_now()
        update = {
            "Update": {
                "TableName": self.table,
                "Key": serialize({"PK": pk(record.model), "SK": META}),
                "UpdateExpression": "SET model = :m, current_spec_sha256 = :sha, current_spec_uri = :uri, "
                "updated_at = :now, created_at = if_not_exists(created_at, :now)",
                "ExpressionAttributeValues": serialize(
                    {":m": record.model, ":sha": record.sha256, ":uri": record.uri, ":now": now}
                ),
            }
        }
        spec_item = {"PK": pk(record.model), "SK": f"SPEC#{record.sha256}", **record.model_dump(mode="json")}
        codes = self._transact(
            [
                {"Put": {"TableName": self.table, "Item": serialize(spec_item)}},
                update,
                {"Put": {"TableName": self.table, "Item": serialize(_event_item(event))}},
            ]
        )
        if codes:
            raise StackError(f"registering spec {record.sha256} of {record.model}: {codes}")

    def current_spec(self, model: str) -> SpecRecord | None:
        meta = self.model_meta(model)
        if not meta or "current_spec_sha256" not in meta:
            return None
        item = self._get(model, f"SPEC#{meta['current_spec_sha256']}")
        return SpecRecord.model_validate(item) if item else None

    # ------------------------------------------------------------------ datasets
    def put_dataset(self, record: DatasetRecord, event: AuditEvent | None = None) -> bool:
        """Record a dataset version, and with it `event` (its `dataset_registered`) in the same
        transaction: both or neither, so an invocation stopped between them, then run again, cannot leave
        the dataset without its event. False when that content was already registered (nothing written)."""
        item = {"PK": pk(record.model), "SK": f"DATASET#{record.sha256}", **record.model_dump(mode="json")}
        if event is None:
            return self._put(item, condition="attribute_not_exists(PK)")
        return not self._transact(
            [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": serialize(item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {"Put": {"TableName": self.table, "Item": serialize(_event_item(event))}},
            ]
        )

    def get_dataset(self, model: str, sha256: str) -> DatasetRecord | None:
        item = self._get(model, f"DATASET#{sha256}")
        return DatasetRecord.model_validate(item) if item else None

    def list_datasets(self, model: str) -> list[DatasetRecord]:
        return [DatasetRecord.model_validate(i) for i in self._query(model, "DATASET#")]

    # ------------------------------------------------------------------ versions
    def allocate_version(
        self,
        model: str,
        run_id: str,
        *,
        trigger: Trigger,
        execution_arn: str | None,
        dataset_sha256: str,
        dataset_uri: str,
        spec_sha256: str,
    ) -> int:
        """The version number of run `run_id`: allocated once from the model's counter, then the same
        number on every retry of the same run."""
        for _ in range(_MAX_ALLOCATION_ATTEMPTS):
            existing = self._get(model, f"RUN#{run_id}")
            if existing:
                return int(existing["version"])
            meta = self.model_meta(model) or {}
            current = int(meta.get("version_counter", 0))
            version = current + 1
            now = utc_now()
            record = ModelVersion(
                model=model,
                version=version,
                status=VersionStatus.TRAINING,
                trigger=trigger,
                created_at=now,
                updated_at=now,
                execution_arn=execution_arn,
                dataset_sha256=dataset_sha256,
                dataset_uri=dataset_uri,
                spec_sha256=spec_sha256,
            )
            event = AuditEvent(
                model=model,
                type=EventType.VERSION_ALLOCATED,
                id=new_event_id(),
                version=version,
                execution_arn=execution_arn,
                trigger=trigger,
                details={"dataset_sha256": dataset_sha256},
            )
            counter_condition = (
                "attribute_not_exists(version_counter)" if current == 0 else "version_counter = :current"
            )
            values: dict[str, Any] = {":next": version, ":now": now, ":m": model}
            if current:
                values[":current"] = current
            codes = self._transact(
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": serialize({"PK": pk(model), "SK": META}),
                            "UpdateExpression": "SET version_counter = :next, updated_at = :now, model = :m",
                            "ConditionExpression": counter_condition,
                            "ExpressionAttributeValues": serialize(values),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": serialize(
                                {
                                    "PK": pk(model),
                                    "SK": f"RUN#{run_id}",
                                    "version": version,
                                    "created_at": now,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": serialize(self._version_item(record)),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": serialize(_event_item(event))}},
                ]
            )
            if not codes:
                return version
        raise StackError(f"could not allocate a version of {model} after {_MAX_ALLOCATION_ATTEMPTS} attempts")

    def run_version(self, model: str, run_id: str) -> int | None:
        """The version allocated to run `run_id` (None: none was)."""
        existing = self._get(model, f"RUN#{run_id}")
        return int(existing["version"]) if existing else None

    def get_version(self, model: str, version: int) -> ModelVersion:
        item = self._get(model, version_sk(version))
        if not item:
            raise ModelNotFound(f"model {model!r} has no version {version}")
        return ModelVersion.model_validate(item)

    def list_versions(self, model: str) -> list[ModelVersion]:
        return [ModelVersion.model_validate(i) for i in self._query(model, "VERSION#")]

    def set_version_artifacts(self, model: str, version: int, artifacts: dict[str, Artifact]) -> None:
        """Point the version's named artifacts at new objects (e.g. a card rewritten with live quality)."""
        names = {f"#a{i}": name for i, name in enumerate(artifacts)}
        values: dict[str, Any] = {
            f":a{i}": artifact.model_dump(mode="json") for i, artifact in enumerate(artifacts.values())
        }
        values[":now"] = utc_now()
        self._update(
            {
                "TableName": self.table,
                "Key": serialize({"PK": pk(model), "SK": version_sk(version)}),
                "UpdateExpression": "SET "
                + ", ".join(f"artifacts.{key} = {key.replace('#', ':')}" for key in names)
                + ", updated_at = :now",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": serialize(values),
            }
        )

    def decide(self, record: ModelVersion, event: AuditEvent) -> None:
        """Record a non-promotion decision (rejected, failed, candidate, pending approval) with its audit
        event. A final one (rejected, failed) is recorded once per version: made again (a step run again
        after its answer was lost), it changes nothing."""
        item = self._version_item(record.model_copy(update={"updated_at": utc_now()}))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": serialize(item),
                    "ConditionExpression": "attribute_not_exists(PK) OR #s <> :production",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": serialize({":production": VersionStatus.PRODUCTION.value}),
                }
            },
            {"Put": {"TableName": self.table, "Item": serialize(_event_item(event))}},
        ]
        final = record.status in (VersionStatus.REJECTED, VersionStatus.FAILED)
        if final:
            marker = {"PK": pk(record.model), "SK": f"DECIDED#{record.version:08d}#{record.status.value}"}
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": serialize(marker | {"created_at": event.time}),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        codes = self._transact(items)
        if not codes:
            return
        if final and codes[0] in ("", "None") and codes[-1] == "ConditionalCheckFailed":
            return  # decided so before: nothing changes
        raise PromotionConflict(f"{record.model} version {record.version} is in production already")

    # ------------------------------------------------------------------ alias and promotion
    def promote(
        self,
        record: ModelVersion,
        *,
        expected: int | None,
        event: AuditEvent,
        rollout: RolloutState | None = None,
    ) -> None:
        """Make `record` the production version if production is still `expected` (None: no production
        version yet). The alias, both version items and the audit event change in one transaction;
        PromotionConflict when the alias moved. The new alias carries `rollout` (the finished rollout
        that led here) or none: a promotion ends any rollout that was running."""
        now = utc_now()
        new_item = self._version_item(
            record.model_copy(update={"status": VersionStatus.PRODUCTION, "updated_at": now})
        )
        alias_item = {
            "PK": pk(record.model),
            "SK": ALIAS,
            "model": record.model,
            "name": "production",
            "version": record.version,
            "previous_version": expected,
            "updated_at": now,
            "rollout": rollout.model_dump(mode="json") if rollout else None,
        }
        if expected is None:
            alias_condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            alias_condition = {
                "ConditionExpression": "#v = :expected",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": serialize({":expected": expected}),
            }
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": serialize(alias_item), **alias_condition}},
            {"Put": {"TableName": self.table, "Item": serialize(new_item)}},
            {"Put": {"TableName": self.table, "Item": serialize(_event_item(event))}},
        ]
        if expected is not None and expected != record.version:
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": serialize({"PK": pk(record.model), "SK": version_sk(expected)}),
                        "UpdateExpression": "SET #s = :archived, updated_at = :now",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": serialize(
                            {":archived": VersionStatus.ARCHIVED.value, ":now": now}
                        ),
                    }
                }
            )
        codes = self._transact(items)
        if codes:
            current = self.get_alias(record.model)
            raise PromotionConflict(
                f"{record.model}: expected production version {expected}, "
                f"found {current.version if current else None}; version {record.version} was not promoted"
            )

    # ------------------------------------------------------------------ audit
    def append_event(self, event: AuditEvent) -> None:
        self._put(_event_item(event))

    def record_run_started(self, execution_name: str, event: AuditEvent) -> bool:
        """Write a run's `training_started` event once per execution name (a `STARTED#` marker and the
        event in one transaction); False when it was recorded before."""
        return self.record_once(f"STARTED#{execution_name}", event)

    def record_once(self, marker: str, event: AuditEvent) -> bool:
        """Write `event` once per `marker` (the marker item and the event in one transaction), whoever
        writes it how often: a decision made again (a retried invocation) is not recorded twice. False
        when it was recorded before."""
        marker_item = {
            "PK": pk(event.model),
            "SK": marker,
            "execution_arn": event.execution_arn,
            "created_at": event.time,
        }
        codes = self._transact(
            [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": serialize(marker_item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {"Put": {"TableName": self.table, "Item": serialize(_event_item(event))}},
            ]
        )
        return not codes

    def list_events(self, model: str) -> list[AuditEvent]:
        return [AuditEvent.model_validate(i) for i in self._query(model, "EVENT#")]
