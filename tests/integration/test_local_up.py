"""`sluice local up` as a user runs it: a separate process serving the stack over HTTP; uploads with
boto3 (as the AWS CLI would) train a model; `sluice models` and `sluice invoke` reach it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.conftest import ROOT, csv_bytes, spec_text

SLUICE = str(Path(sys.executable).parent / "sluice")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("local") / "local.json"
    port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [
            SLUICE,
            "local",
            "up",
            "--port",
            str(port),
            "--api-port",
            str(api_port),
            "--root",
            str(ROOT),
            "--state-file",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    ready = process.stdout.readline()
    try:
        yield {"ready": ready, "state": state, "port": port, "api_port": api_port, "process": process}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def cli_env(endpoint: str) -> dict[str, str]:
    return dict(
        os.environ,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
    )


def wait_for_spec(endpoint: str, table: str, model: str) -> None:
    dynamodb = client("dynamodb", endpoint)
    for _ in range(600):
        meta = dynamodb.get_item(TableName=table, Key={"PK": {"S": f"MODEL#{model}"}, "SK": {"S": "META"}})
        if "current_spec_sha256" in meta.get("Item", {}):
            return
        time.sleep(0.1)
    raise AssertionError("the spec was not registered")


def wait_for_production(endpoint: str, machine: str) -> list[dict[str, Any]]:
    sfn = client("stepfunctions", endpoint)
    for _ in range(600):
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        if executions and all(e["status"] != "RUNNING" for e in executions):
            return list(executions)
        time.sleep(0.1)
    raise AssertionError("the training run did not finish")


def test_ready_line_names_the_endpoint_and_the_stack_outputs(served: dict[str, Any]) -> None:
    document = json.loads(served["ready"])
    assert document["endpoint_url"] == f"http://127.0.0.1:{served['port']}"
    assert set(document["outputs"]) >= {
        "RawBucketName",
        "ArtifactBucketName",
        "RegistryTableName",
        "TrainingStateMachineArn",
        "NotificationTopicArn",
    }
    assert document["api_url"] == f"http://127.0.0.1:{served['api_port']}"
    assert json.loads(served["state"].read_text()) == document


def test_uploads_to_the_served_stack_train_a_model_that_sluice_models_shows(served: dict[str, Any]) -> None:
    # Given the running local stack
    document = json.loads(served["ready"])
    endpoint, outputs = document["endpoint_url"], document["outputs"]
    s3 = client("s3", endpoint)

    # When a spec and a dataset are uploaded over HTTP (a key with a space, as users name files)
    s3.put_object(Bucket=outputs["RawBucketName"], Key="served/spec.yaml", Body=spec_text("served").encode())
    wait_for_spec(endpoint, outputs["RegistryTableName"], "served")  # S3 events are not ordered
    s3.put_object(
        Bucket=outputs["RawBucketName"], Key="served/data/my data.csv", Body=csv_bytes(rows=300, seed=1)
    )
    executions = wait_for_production(endpoint, outputs["TrainingStateMachineArn"])

    # Then the run succeeded and `sluice models show` against the endpoint reports version 1 in production
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    shown = subprocess.run(
        [SLUICE, "models", "--stack-outputs", str(served["state"]), "show", "served", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(endpoint),
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["production"]["version"] == 1
    assert detail["versions"][0]["trigger"] == "upload"

    # And the API the stack serves on api_url answers with that version, as curl would see it
    instance = {"income": 40000, "debt_ratio": 0.4, "credit_lines": 2, "segment": "sme"}
    request = urllib.request.Request(
        document["api_url"] + "/models/served/predict",
        data=json.dumps({"instances": [instance]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert response.status == 200
    assert answer["model"] == "served" and answer["version"] == 1 and len(answer["probabilities"]) == 1


def test_sluice_invoke_against_the_served_stack_resolves_its_resource_names(served: dict[str, Any]) -> None:
    # When a function is invoked against the endpoint with an event naming ${RawBucketName}
    endpoint = json.loads(served["ready"])["endpoint_url"]
    result = subprocess.run(
        [
            SLUICE,
            "invoke",
            "RegisterFunction",
            "-e",
            str(ROOT / "events" / "register-allocate.json"),
            "--endpoint-url",
            endpoint,
            "--root",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        env=cli_env(endpoint),
        check=False,
    )

    # Then the handler ran with the stack's table (the version lands in the served registry)
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["version"] >= 1
    table = json.loads(served["ready"])["outputs"]["RegistryTableName"]
    item = client("dynamodb", endpoint).get_item(
        TableName=table,
        Key={"PK": {"S": "MODEL#credit-risk"}, "SK": {"S": f"VERSION#{response['version']:08d}"}},
    )
    assert item["Item"]["status"]["S"] == "training"


def test_sigterm_stops_the_server_and_removes_the_state_file(served: dict[str, Any]) -> None:
    process: subprocess.Popen[str] = served["process"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not served["state"].exists()
