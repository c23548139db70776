"""A model without a spec and `<model>/init.yaml` naming its target: its first CSV gives the spec, registered
as an uploaded spec.yaml is and announced with its YAML, then ingested as usual — in either order."""

from __future__ import annotations

from typing import Any

import yaml

from sluice.app.ingest.upload import IngestResult
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import EventType, s3_uri
from sluice.domain.spec.model_spec import Task, parse_spec
from sluice.tools.example_data import credit_risk
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_ingest import RAW, ingest, put_upload

MODEL = "loans"
DATA = to_csv_bytes(credit_risk(80, seed=3))
INIT = b"target: default\nsensitive: gender\ndescription: Who defaults on a loan.\n"


def upload(fakes: FakePorts, name: str, body: bytes) -> IngestResult:
    return ingest(fakes, put_upload(fakes, f"{MODEL}/{name}", body))


def assert_spec_inferred(fakes: FakePorts, data_key: str) -> dict[str, Any]:
    """The model's spec came from `data_key` as init.yaml asked, registered as an uploaded spec is and
    announced with its YAML; returns the announcement."""
    current = fakes.registry.current_spec(MODEL)
    assert current is not None and current.source_key == f"{MODEL}/init.yaml"
    text = fakes.artifacts.get_bytes(current.uri).decode()
    spec = parse_spec(text)
    assert (spec.name, spec.task, spec.target, spec.sensitive) == (MODEL, Task.BINARY, "default", "gender")
    assert spec.description == "Who defaults on a loan." and spec.sha256 == current.sha256
    registered = next(e for e in fakes.registry.list_events(MODEL) if e.type is EventType.SPEC_REGISTERED)
    assert registered.details["inferred_from"] == data_key
    assert registered.details["spec_sha256"] == spec.sha256
    (message,) = [m for _, m in fakes.notifier.published if m["event"] == "spec_inferred"]
    assert message["spec_yaml"] == text and yaml.safe_load(message["spec_yaml"])["target"] == "default"
    assert message["source"] == s3_uri(RAW, data_key)
    return message


def test_init_then_csv_infers_registers_announces_and_trains(fakes: FakePorts) -> None:
    # Given init.yaml uploaded for a model without a spec
    first = upload(fakes, "init.yaml", INIT)
    assert first.status == "init_received" and fakes.registry.current_spec(MODEL) is None
    # When its first CSV arrives
    result = upload(fakes, "data/first.csv", DATA)
    # Then the spec is inferred from it, registered and announced, and the CSV becomes a dataset that trains
    assert_spec_inferred(fakes, f"{MODEL}/data/first.csv")
    assert (result.status, result.spec_inferred_from, result.rows) == (
        "dataset",
        f"{MODEL}/data/first.csv",
        80,
    )
    assert result.execution_started is True and len(fakes.executions.executions) == 1
    assert fakes.registry.event_types(MODEL)[:2] == [EventType.SPEC_REGISTERED, EventType.DATASET_REGISTERED]
    # and a second CSV is validated against that spec, not inferred again
    second = upload(fakes, "data/second.csv", to_csv_bytes(credit_risk(80, seed=4)))
    assert (second.status, second.spec_inferred_from) == ("dataset", None)
    assert fakes.registry.event_types(MODEL).count(EventType.SPEC_REGISTERED) == 1


def test_init_after_a_csv_quarantined_for_no_spec_takes_that_csv_up(fakes: FakePorts) -> None:
    # Given a CSV quarantined because the model had no spec
    early = upload(fakes, "data/early.csv", DATA)
    assert (
        early.status,
        fakes.artifacts.json(f"quarantine/{MODEL}/data/early.csv.report.json")["reason"],
    ) == (
        "quarantined",
        "no_spec",
    )
    # When init.yaml arrives
    result = upload(fakes, "init.yaml", INIT)
    # Then the spec is inferred from that CSV, which is ingested from the raw bucket and trains
    assert_spec_inferred(fakes, f"{MODEL}/data/early.csv")
    assert (result.status, result.key, result.spec_inferred_from) == (
        "dataset",
        f"{MODEL}/init.yaml",
        f"{MODEL}/data/early.csv",
    )
    assert result.reason is not None and "early.csv" in result.reason
    assert result.execution_started is True and len(fakes.executions.executions) == 1


def test_init_naming_a_column_the_csv_lacks_quarantines_the_csv_naming_both(fakes: FakePorts) -> None:
    # Given init.yaml naming a target the data does not have
    upload(fakes, "init.yaml", b"target: defaulted\n")
    # When a CSV arrives
    result = upload(fakes, "data/first.csv", DATA)
    # Then the CSV is quarantined with a report naming init.yaml and the column, and no spec exists
    assert result.status == "quarantined"
    report = fakes.artifacts.json(f"quarantine/{MODEL}/data/first.csv.report.json")
    assert report["reason"] == "init_failed"
    assert report["message"].startswith(f"{MODEL}/init.yaml: target: column 'defaulted' is not in")
    assert fakes.registry.current_spec(MODEL) is None and fakes.executions.executions == {}


def test_an_unreadable_init_is_rejected_with_a_report_naming_the_key(fakes: FakePorts) -> None:
    # Given init.yaml files with no target, an unknown key, and not YAML at all
    for body, problem in [
        (b"sensitive: gender\n", "target: Field required"),
        (b"target: default\ntarget_column: x\n", "target_column: unknown key"),
        (b"[target", "not valid UTF-8 YAML"),
    ]:
        # When one is uploaded
        result = upload(fakes, "init.yaml", body)
        # Then it is rejected (quarantined with its report), naming init.yaml and what is wrong
        assert result.status == "spec_rejected", body
        assert result.reason is not None and result.reason.startswith(f"{MODEL}/init.yaml: ")
        assert problem in result.reason
        assert fakes.artifacts.json(f"quarantine/{MODEL}/init.yaml.report.json")["reason"] == "invalid_init"


def test_init_for_a_model_with_a_spec_changes_nothing(fakes: FakePorts) -> None:
    # Given a model whose spec was inferred from its first CSV
    upload(fakes, "init.yaml", INIT)
    upload(fakes, "data/first.csv", DATA)
    spec = fakes.registry.current_spec(MODEL)
    # When another init.yaml is uploaded
    result = upload(fakes, "init.yaml", b"target: income\n")
    # Then it is ignored, saying why, and the spec stays
    assert result.status == "ignored" and result.reason is not None and "already has a spec" in result.reason
    assert fakes.registry.current_spec(MODEL) == spec
