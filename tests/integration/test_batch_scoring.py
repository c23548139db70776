"""Batch scoring on the BatchScore state machine (a Distributed Map over the CSV): an upload under
batch/<model>/ and `sluice batch` score every row with the pinned production version, or name it in
the errors file; a file for an unknown model is refused with its reason and kept."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.domain.data.table import to_csv_bytes
from sluice.tools.cli import main
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack

MODEL = "it-batch"
ROWS = 250
# 1-based data rows made bad, and the field each names: wrong type, missing value, unknown category
BAD = {7: ("income", "abc"), 20: ("debt_ratio", ""), 33: ("segment", "bank"), 50: ("credit_lines", "-3")}


def batch_file(rows: int = ROWS, seed: int = 5) -> bytes:
    table = credit_risk(rows=rows, seed=seed)
    for row, (field, value) in BAD.items():
        if row <= rows:
            table.columns[field][row - 1] = value
    return to_csv_bytes(table)


def read_csv_rows(stack: Stack, uri: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(stack.artifacts.get_bytes(uri).decode())))


def manifest_of(stack: Stack, job_prefix: str) -> dict[str, Any]:
    return json.loads(stack.artifacts.get_bytes(stack.artifacts.uri(job_prefix + "manifest.json")))


@pytest.fixture(scope="module")
def trained(stack: Stack) -> Iterator[Stack]:
    """The model in production, and batches of 100 rows (the BatchMaxItemsPerBatch parameter, as a
    deployment would set it), so a few hundred rows make several children."""
    overrides = stack.local.env_overrides
    saved = overrides.get("BatchScoreFunction")
    overrides["BatchScoreFunction"] = {**(saved or {}), "BATCH_MAX_ITEMS_PER_BATCH": "100"}
    stack.train(MODEL, ("first.csv", to_csv_bytes(credit_risk(rows=400, seed=41))))
    assert stack.registry.get_alias(MODEL) is not None
    yield stack
    if saved is None:
        overrides.pop("BatchScoreFunction")
    else:
        overrides["BatchScoreFunction"] = saved


def job_prefixes(stack: Stack, model: str) -> list[str]:
    keys = stack.artifacts.list_keys(f"batch-results/{model}/")
    return sorted({k.rsplit("/", 1)[0] + "/" for k in keys if k.endswith("/manifest.json")})


def test_an_upload_scores_every_row_or_names_it_in_the_errors_file(trained: Stack) -> None:
    stack = trained
    # Given a batch file with four bad rows, uploaded under batch/<model>/
    stack.upload(f"batch/{MODEL}/scores.csv", batch_file())
    executions = stack.settle()

    # Then one BatchScore job ran and its manifest's counts add up
    batch_runs = [e for e in executions if e["name"].startswith(f"batch-{MODEL}-")]
    assert [e["status"] for e in batch_runs] == ["SUCCEEDED"]
    [prefix] = job_prefixes(stack, MODEL)
    manifest = manifest_of(stack, prefix)
    production = stack.registry.get_alias(MODEL)
    assert production is not None
    record = stack.registry.get_version(MODEL, production.version)
    assert manifest["status"] == "succeeded"
    assert manifest["version"] == production.version
    assert manifest["model_sha256"] == record.artifacts["model"].sha256
    assert manifest["rows_in"] == ROWS
    assert (manifest["rows_scored"], manifest["rows_rejected"], manifest["rows_failed"]) == (ROWS - 4, 4, 0)
    assert len(manifest["parts"]) == 3  # 100 rows a batch: 3 batches

    # And every row is either scored (once) or in the errors file with its field
    scored = [int(r["row"]) for part in manifest["parts"] for r in read_csv_rows(stack, part)]
    errors = [r for part in manifest["errors"] for r in read_csv_rows(stack, part)]
    assert sorted(scored + sorted({int(e["row"]) for e in errors})) == list(range(1, ROWS + 1))
    assert {(int(e["row"]), e["field"]) for e in errors} == {(row, f) for row, (f, _) in BAD.items()}
    assert any("must be a number" in e["reason"] for e in errors if e["field"] == "income")
    assert any("not one of" in e["reason"] for e in errors if e["field"] == "segment")
    first = read_csv_rows(stack, manifest["parts"][0])[0]
    assert set(first) >= {"row", "prediction", "probability_0", "probability_1"}

    # And the job's start and finish are audit events naming the version
    events = [e for e in stack.registry.list_events(MODEL) if e.type.value.startswith("batch_")]
    assert {e.type.value for e in events} == {"batch_started", "batch_finished"}
    assert all(e.version == production.version for e in events)


def test_sluice_batch_as_typed_waits_and_reports_the_manifest(
    trained: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = trained
    # Given a file anywhere in the raw bucket (not under batch/, so no upload starts a job)
    raw = stack.outputs["RawBucketName"]
    stack.client("s3").put_object(Bucket=raw, Key="elsewhere/rows.csv", Body=batch_file(rows=120, seed=6))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))

    # When `sluice batch` runs as typed, waiting
    code = main(
        [
            "batch",
            MODEL,
            f"s3://{raw}/elsewhere/rows.csv",
            "--wait",
            "--json",
            "--stack-outputs",
            str(outputs),
        ]
    )

    # Then it reports the finished job and its counts
    assert code == 0
    result = json.loads(capsys.readouterr().out)  # the functions' output is in their own logs
    assert result["status"] == "SUCCEEDED"
    manifest = result["manifest"]
    assert (manifest["rows_in"], manifest["rows_scored"], manifest["rows_rejected"]) == (120, 116, 4)
    assert result["results"].endswith(f"/batch-results/{MODEL}/{result['job_id']}/")


def test_a_file_for_an_unknown_model_is_refused_with_its_reason_and_kept(
    trained: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = trained
    raw = stack.outputs["RawBucketName"]
    # When a batch file is uploaded for a model that does not exist
    stack.upload("batch/nobody-here/rows.csv", batch_file(rows=10))
    executions = stack.settle()

    # Then no job starts; the file is quarantined with the reason, and the upload stays
    assert not [e for e in executions if e["name"].startswith("batch-nobody-here-")]
    report = json.loads(
        stack.artifacts.get_bytes(stack.artifacts.uri("quarantine/batch/nobody-here/rows.csv.report.json"))
    )
    assert report["reason"] == "batch_rejected"
    assert "no model named 'nobody-here'" in report["message"]
    stack.client("s3").head_object(Bucket=raw, Key="batch/nobody-here/rows.csv")

    # And `sluice batch` says why, with exit code 1
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    code = main(
        ["batch", "nobody-here", f"s3://{raw}/batch/nobody-here/rows.csv", "--stack-outputs", str(outputs)]
    )
    assert code == 1
    assert "no model named 'nobody-here'" in capsys.readouterr().err


def test_a_job_scores_with_the_version_it_pinned_even_when_production_moves_on(trained: Stack) -> None:
    stack = trained
    raw, table = stack.outputs["RawBucketName"], stack.outputs["RegistryTableName"]
    body = batch_file(rows=30, seed=7)
    stack.client("s3").put_object(Bucket=raw, Key="elsewhere/pinned.csv", Body=body)
    source = f"s3://{raw}/elsewhere/pinned.csv"
    # Given a job whose first task pinned production's version
    pin = {"step": "pin", "model": MODEL, "source": source, "job_id": "pinned-job"}
    job = stack.local.invoke("BatchScoreFunction", pin).payload
    pinned = job["version"]

    # When production moves to another version before the job's batch runs
    ddb = stack.client("dynamodb")
    key = {"PK": {"S": f"MODEL#{MODEL}"}, "SK": {"S": "ALIAS#production"}}
    saved = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #v = :v",
        ExpressionAttributeNames={"#v": "version"},
        ExpressionAttributeValues={":v": {"N": str(pinned + 41)}},
    )
    try:
        items = [{"index": i, "row": row} for i, row in enumerate(csv.DictReader(io.StringIO(body.decode())))]
        scored = stack.local.invoke("BatchScoreFunction", {"BatchInput": {"job": job}, "Items": items})
        state = {"model": MODEL, "source": source, "job_id": "pinned-job", "job": job}
        finished = stack.local.invoke("BatchScoreFunction", {"step": "finish", "state": state})
    finally:
        ddb.put_item(TableName=table, Item=saved)

    # Then the batch scored with the pinned model, and the manifest names the pinned version
    assert scored.error is None and finished.error is None
    assert (scored.payload["scored"], scored.payload["rejected"]) == (28, 2)  # rows 7 and 20 are bad
    assert finished.payload["version"] == pinned
    assert finished.payload["model_sha256"] == job["model_sha256"]
    assert (finished.payload["rows_in"], finished.payload["rows_failed"]) == (30, 0)
