"""Explanations through the local stack: a model trained by the state machine stores its background
with the version; POST /models/{model}/explain over signed HTTP, `sluice predict --explain` as typed,
and a batch job with explain: true (`sluice batch --explain`) answer the same Shapley values."""

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
from sluice.tools.local.api.gateway import LocalApi
from sluice.tools.local.api.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY
from tests.integration.conftest import INSTANCE, Stack
from tests.integration.local_api import signed_request

MODEL = "it-explain"


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[LocalApi]:
    """MODEL trained and promoted by the state machine (version 1), the API over HTTP."""
    stack.train(MODEL, ("first.csv", to_csv_bytes(credit_risk(rows=500, seed=21))))
    served = stack.local.serve_api(0)
    yield served
    served.stop()


def test_explain_over_signed_http_and_sluice_predict_explain_agree(
    api: LocalApi, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the version's artifacts: its background is recorded beside its model, with its sha256
    artifacts = stack.registry.get_version(MODEL, 1).artifacts
    assert artifacts["background"].uri.endswith(f"/models/{MODEL}/1/background.csv.gz")
    stack.artifacts.get_verified(artifacts["background"])  # raises unless the bytes match the sha256

    # When two instances are explained over signed HTTP
    instances = [INSTANCE, {**INSTANCE, "income": 18000.0, "debt_ratio": 1.9, "region": None}]
    response = signed_request(api, "POST", f"/models/{MODEL}/explain", {"instances": instances})
    # Then each explanation adds up to its predicted class's probability and reads as three sentences
    assert response.status == 200, response.body
    body = response.json()
    assert body["version"] == 1 and len(body["explanations"]) == 2
    for explanation, prediction, probabilities in zip(
        body["explanations"], body["predictions"], body["probabilities"], strict=True
    ):
        assert explanation["prediction"] == prediction and explanation["method"] == "exact"
        assert abs(explanation["output"] - probabilities[body["classes"].index(prediction)]) < 1e-6
        assert (
            abs(
                explanation["base_value"] + sum(explanation["contributions"].values()) - explanation["output"]
            )
            < 1e-6
        )
        assert len(explanation["sentences"]) == 3 and "the probability of" in explanation["sentences"][0]

    # When a person runs `sluice predict --explain` with the stack's credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    document = json.dumps({"instances": instances})
    capsys.readouterr()
    assert main(["predict", MODEL, "--explain", "--json", document, "--api-url", api.url]) == 0
    table = capsys.readouterr().out
    assert main(["predict", MODEL, "--explain", "--json", document, "--json", "--api-url", api.url]) == 0
    answered = json.loads(capsys.readouterr().out)
    # Then it prints each row's explanation in words, and with --json the API's very contributions
    assert body["explanations"][1]["sentences"][0] in table and "base value" in table
    assert [e["contributions"] for e in answered["explanations"]] == [
        e["contributions"] for e in body["explanations"]
    ]


def test_a_batch_job_with_explain_writes_contributions_beside_the_scores(
    api: LocalApi, stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given rows in the raw bucket (outside batch/, so no upload starts a job)
    raw = stack.outputs["RawBucketName"]
    stack.client("s3").put_object(
        Bucket=raw, Key="elsewhere/explain.csv", Body=to_csv_bytes(credit_risk(30, seed=8))
    )
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    # When `sluice batch --explain` runs as typed, waiting
    arguments = ["batch", MODEL, f"s3://{raw}/elsewhere/explain.csv", "--explain", "--wait", "--json"]
    assert main([*arguments, "--stack-outputs", str(outputs)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "SUCCEEDED" and result["manifest"]["rows_scored"] == 30
    # Then each part has base_value and a contribution per input beside the scores, adding up to the
    # predicted class's probability (as the CSV rounds it: 6 places)
    rows: list[dict[str, Any]] = []
    for part in result["manifest"]["parts"]:
        rows += csv.DictReader(io.StringIO(stack.artifacts.get_bytes(part).decode()))
    assert len(rows) == 30
    features = [c.removeprefix("contribution_") for c in rows[0] if c.startswith("contribution_")]
    assert features == ["income", "age", "debt_ratio", "credit_lines", "months_employed", "segment", "region"]
    for row in rows:
        total = float(row["base_value"]) + sum(float(row[f"contribution_{f}"]) for f in features)
        assert abs(total - float(row[f"probability_{row['prediction']}"])) < 1e-5
