"""`<model>/init.yaml` and a CSV on the local stack: the spec is inferred from the CSV, registered and
announced with its YAML on SNS, and the CSV becomes a dataset whose training run (the inferred
`candidates: auto` search) puts version 1 in production."""

from __future__ import annotations

import pytest
import yaml

from sluice.domain.registry.records import EventType, VersionStatus
from sluice.domain.spec.model_spec import parse_spec
from tests.integration.conftest import Stack
from tests.integration.scenario import FIRST, event_types

MODEL = "it-init"


@pytest.mark.slow
def test_init_yaml_and_a_csv_infer_the_spec_announce_it_and_train(stack: Stack) -> None:
    # Given init.yaml naming the target of a model that has no spec
    stack.notifications()
    stack.upload(f"{MODEL}/init.yaml", b"target: default\nsensitive: gender\n")
    stack.settle()
    assert stack.registry.current_spec(MODEL) is None

    # When a CSV is uploaded under the model's data/
    stack.upload(f"{MODEL}/data/{FIRST[0]}", FIRST[1])
    executions = stack.executions_of(MODEL)  # waits for every delivery and execution

    # Then the spec inferred from the CSV is registered, with its audit event
    current = stack.registry.current_spec(MODEL)
    assert current is not None and current.source_key == f"{MODEL}/init.yaml"
    text = (
        stack.client("s3")
        .get_object(Bucket=stack.outputs["ArtifactBucketName"], Key=current.uri.split("/", 3)[3])["Body"]
        .read()
        .decode()
    )
    spec = parse_spec(text)
    assert (spec.target, spec.sensitive, spec.candidates, spec.sha256) == (
        "default",
        "gender",
        "auto",
        current.sha256,
    )
    assert event_types(stack, MODEL)[:2] == [
        EventType.SPEC_REGISTERED.value,
        EventType.DATASET_REGISTERED.value,
    ]
    # and announced on SNS with its YAML
    (announced,) = [
        n["message"] for n in stack.notifications() if n["message"].get("event") == "spec_inferred"
    ]
    assert announced["model"] == MODEL and announced["spec_yaml"] == text
    assert yaml.safe_load(announced["spec_yaml"])["target"] == "default"
    # and the CSV is a dataset whose one training run finished (none left running) with version 1 decided
    (dataset,) = stack.registry.list_datasets(MODEL)
    assert dataset.n_rows == 300 and dataset.spec_sha256 == current.sha256
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    version = stack.registry.get_version(MODEL, 1)
    assert version.status is VersionStatus.PRODUCTION, version.reason
    assert "experiments" in version.artifacts  # trained by the inferred spec's candidate search
    assert version.spec_sha256 == current.sha256 and version.dataset_sha256 == dataset.sha256
