"""Powertools' idempotency records in DynamoDB, safe against the SDK retrying its own write.

An invocation first writes its record as INPROGRESS with a conditional PutItem (no record, or an expired
one). When that PutItem is applied but its answer is lost (a read timeout, a reset after the write), the
SDK sends it again; the condition now fails on the record the first attempt wrote, and Powertools takes
it for another invocation's: IdempotencyAlreadyInProgressError until the record's in-progress expiry,
the function's whole timeout (IngestFunction's 300 s). Lambda's asynchronous retries (after 1 and 2
minutes) then meet the same record, and the upload's event is dropped — lost, though nothing ran.

The record the failed condition returns (ReturnValuesOnConditionCheckFailure) tells the two apart: a
write of this invocation carries the same status and the same expiry timestamps, to the millisecond,
which another invocation's cannot (it computed them at another instant, from its own deadline). Such a
record is this invocation's own: the write succeeded.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError


def _same_write(stored: Any, attempted: Any) -> bool:
    return bool(
        stored is not None
        and stored.idempotency_key == attempted.idempotency_key
        and stored.status == attempted.status
        and stored.expiry_timestamp == attempted.expiry_timestamp
        and stored.in_progress_expiry_timestamp is not None
        and stored.in_progress_expiry_timestamp == attempted.in_progress_expiry_timestamp
    )


class RetrySafePersistence(DynamoDBPersistenceLayer):
    """DynamoDBPersistenceLayer whose INPROGRESS write, retried by the SDK after a lost answer,
    recognises the record its first attempt wrote as its own."""

    def _put_record(self, data_record: Any) -> None:
        try:
            super()._put_record(data_record)
        except IdempotencyItemAlreadyExistsError as exc:
            if _same_write(getattr(exc, "old_data_record", None), data_record):
                return  # our own record: the first attempt wrote it, its answer was lost
            raise
