"""The Artifacts port's contract, kept alike by the in-memory store of the use-case tests and the S3
store (on moto, its buckets versioned as template.yaml declares them): what a write returns and reads
back, a missing object's ArtifactNotFound, a corrupt one's ArtifactCorrupt, conditional writes that lose,
listings in key order, and object versions uploaded to the raw bucket."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from moto import mock_aws

from sluice.adapters.artifacts import ArtifactStore
from sluice.app.ports import Artifacts
from sluice.domain.registry.records import Artifact, sha256_hex
from sluice.errors import ArtifactCorrupt, ArtifactNotFound
from tests.unit.app.fakes import InMemoryArtifacts
from tests.unit.contracts.conftest import IMPLEMENTATIONS, aws_client

BUCKET = "artifacts"
RAW = "raw"


@dataclass
class World:
    """The port, and how a person's upload lands in the raw bucket (returning its version id)."""

    store: Artifacts
    upload: Callable[[str, bytes], str]


@pytest.fixture(params=IMPLEMENTATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        fake = InMemoryArtifacts(BUCKET)

        def add(uri: str, data: bytes) -> str:
            version_id = uuid.uuid4().hex
            fake.add(uri, data, version_id)
            return version_id

        yield World(fake, add)
        return
    with mock_aws():
        s3 = aws_client("s3")
        for bucket in (BUCKET, RAW):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

        def put(uri: str, data: bytes) -> str:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            return str(s3.put_object(Bucket=bucket, Key=key, Body=data)["VersionId"])

        yield World(ArtifactStore(BUCKET, s3), put)


def test_a_write_returns_its_uri_and_sha256_and_reads_back(world: World) -> None:
    store = world.store
    # Given bytes and a JSON document written under keys of the bucket
    written = store.put_bytes("models/loans/1/model.onnx", b"onnx bytes")
    document = store.put_json("models/loans/1/metrics.json", {"b": 1, "a": [1.5, None]})
    # Then each names its object and the sha256 of what was stored
    assert written == Artifact(
        uri="s3://artifacts/models/loans/1/model.onnx", sha256=sha256_hex(b"onnx bytes")
    )
    assert store.uri("models/loans/1/model.onnx") == written.uri
    stored_json = json.dumps({"a": [1.5, None], "b": 1}, indent=2, sort_keys=True).encode()
    assert document.sha256 == sha256_hex(stored_json)
    # And every read gives those bytes back
    assert store.get_bytes(written.uri) == b"onnx bytes"
    assert store.get_verified(document) == stored_json
    assert store.open(written.uri).read() == b"onnx bytes"
    assert store.size(written.uri) == len(b"onnx bytes") and store.exists(written.uri)
    # And writing a key again replaces its object
    store.put_bytes("models/loans/1/model.onnx", b"new")
    assert store.get_bytes(written.uri) == b"new"


def test_a_missing_object_is_not_found(world: World) -> None:
    store = world.store
    missing = "s3://artifacts/models/loans/9/model.onnx"
    # Given nothing written, When it is read any way, Then ArtifactNotFound (and exists says no)
    assert store.exists(missing) is False and store.etag("models/loans/9/model.onnx") is None
    for read in (
        lambda: store.get_bytes(missing),
        lambda: store.get_verified(Artifact(uri=missing, sha256="0" * 64)),
        lambda: store.open(missing),
        lambda: store.size(missing),
        lambda: store.get_with_etag("models/loans/9/model.onnx"),
        lambda: store.copy_in(missing, "datasets/loans/copy.csv"),
        lambda: store.get_bytes("s3://raw/loans/data.csv"),
    ):
        with pytest.raises(ArtifactNotFound):
            read()
    assert list(store.list_keys("models/")) == []


def test_bytes_that_do_not_match_their_sha256_are_refused(world: World) -> None:
    # Given an artifact recorded, then its object overwritten
    artifact = world.store.put_bytes("models/loans/1/model.onnx", b"trained")
    world.store.put_bytes("models/loans/1/model.onnx", b"tampered")
    # When it is read verified, Then it is ArtifactCorrupt
    with pytest.raises(ArtifactCorrupt):
        world.store.get_verified(artifact)


def test_a_conditional_write_lands_only_on_the_state_it_read(world: World) -> None:
    store = world.store
    key = "dashboard/index.json"
    # Given a create-only write that lands, and a second one that loses
    first = store.put_json_if_unchanged(key, {"n": 1}, None)
    assert first is not None and store.put_json_if_unchanged(key, {"n": "again"}, None) is None
    # When two writers read the same state and both write
    data, etag = store.get_with_etag(key)
    assert json.loads(data) == {"n": 1} and etag == first == store.etag(key)
    won = store.put_json_if_unchanged(key, {"n": 2}, etag)
    lost = store.put_json_if_unchanged(key, {"n": 3}, etag)
    # Then the first wins with a new ETag, the second is told it lost, and the object is the winner's
    assert won is not None and won != etag and lost is None
    assert store.get_with_etag(key) == (json.dumps({"n": 2}, indent=2, sort_keys=True).encode(), won)
    # And the ETag names the bytes: S3's single-part ETag, the quoted MD5
    assert won == store.etag(key) and won.startswith('"') and won.endswith('"')


def test_keys_are_listed_in_order_under_their_prefix(world: World) -> None:
    store = world.store
    # Given objects written out of key order, one outside the prefix
    for key in ("reports/loans/b.json", "reports/loans/a/2.json", "reports/loans/a/10.json", "models/x"):
        store.put_bytes(key, b"{}")
    # Then the prefix lists its keys (not URIs), in S3's order
    assert list(store.list_keys("reports/loans/")) == [
        "reports/loans/a/10.json",
        "reports/loans/a/2.json",
        "reports/loans/b.json",
    ]


def test_an_upload_is_read_and_copied_in_by_its_version(world: World) -> None:
    store = world.store
    uri = "s3://raw/loans/data/train.csv"
    # Given an upload to the raw bucket, then a second upload over it
    first = world.upload(uri, b"a,b\n1,2\n")
    world.upload(uri, b"a,b\n3,4\n5,6\n")
    # Then a read without a version is the latest, and with one is that version
    assert store.get_bytes(uri) == b"a,b\n3,4\n5,6\n"
    assert store.get_bytes(uri, version_id=first) == b"a,b\n1,2\n"
    assert store.open(uri, version_id=first).read() == b"a,b\n1,2\n"
    assert store.size(uri, version_id=first) == 8 and store.exists(uri)
    # When the first version is copied into the artifact bucket
    copied = store.copy_in(uri, "datasets/loans/abc/data.csv", version_id=first)
    # Then the copy is that version's bytes, under the key's URI
    assert copied == "s3://artifacts/datasets/loans/abc/data.csv"
    assert store.get_bytes(copied) == b"a,b\n1,2\n"
    assert list(store.list_keys("datasets/")) == ["datasets/loans/abc/data.csv"]


def test_a_version_that_does_not_exist_is_not_found(world: World) -> None:
    store = world.store
    uri = "s3://raw/loans/data/train.csv"
    # Given an upload, and a version id that is not one of its versions
    world.upload(uri, b"a,b\n1,2\n")
    unknown = "Wv2RTaPXqLk9bf1ncXJeqnwIvZkyM.Qn"
    # When that version is read any way, Then ArtifactNotFound (as for a missing key)
    for read in (
        lambda: store.get_bytes(uri, version_id=unknown),
        lambda: store.open(uri, version_id=unknown),
        lambda: store.size(uri, version_id=unknown),
        lambda: store.copy_in(uri, "datasets/loans/abc/data.csv", version_id=unknown),
    ):
        with pytest.raises(ArtifactNotFound):
            read()
