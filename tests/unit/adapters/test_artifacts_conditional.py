"""S3's conditional writes through the artifact store (on moto's S3): a write names the state of the
object it read, and loses, writing nothing, when another writer changed it first."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from sluice.adapters.artifacts import ArtifactStore
from sluice.errors import ArtifactNotFound

BUCKET = "artifacts"


@pytest.fixture
def store() -> Iterator[ArtifactStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield ArtifactStore(BUCKET, s3)


def test_a_conditional_write_lands_only_on_the_state_it_read(store: ArtifactStore) -> None:
    # Given no object yet: a read finds nothing, and a create-only write lands once
    with pytest.raises(ArtifactNotFound):
        store.get_with_etag("dashboard/index.json")
    first = store.put_json_if_unchanged("dashboard/index.json", {"n": 1}, None)
    assert first is not None
    assert store.put_json_if_unchanged("dashboard/index.json", {"n": "again"}, None) is None

    # When two writers read the same state and both write
    data, etag = store.get_with_etag("dashboard/index.json")
    assert json.loads(data) == {"n": 1} and etag == first
    won = store.put_json_if_unchanged("dashboard/index.json", {"n": 2}, etag)
    lost = store.put_json_if_unchanged("dashboard/index.json", {"n": 3}, etag)

    # Then the first wins, the second is told it lost, and the object is the winner's
    assert won is not None and won != etag and lost is None
    data, etag = store.get_with_etag("dashboard/index.json")
    assert json.loads(data) == {"n": 2} and etag == won
    # And a HEAD names the same state, and nothing for a key never written
    assert store.etag("dashboard/index.json") == won and store.etag("dashboard/none.json") is None
