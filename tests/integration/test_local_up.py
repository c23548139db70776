"""`sluice local up` as a user runs it: a separate process serving the stack over HTTP; uploads with
boto3 (as the AWS CLI would) train a model; `sluice models` and `sluice invoke` reach it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from sluice.tools.local import free_port
from sluice.tools.local.api.signing import client_for
from tests.integration.conftest import ROOT, SLUICE, client, local_up, spec_text


def cli_env(endpoint: str) -> dict[str, str]:
    return dict(
        os.environ,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
    )


def serve_one_spec(tmp_path: Path, flags: tuple[str, ...], model: str) -> tuple[dict[str, Any], list[str]]:
    """`sluice local up` with `flags`, its log (stderr) in a file; a spec for `model` uploaded from this
    process and ingested; then SIGTERM. Its ready line, and its log's lines once it stopped."""
    log = tmp_path / "stack.log"
    with log.open("w") as stderr:
        process = local_up(free_port(), free_port(), tmp_path / "local.json", stderr, flags)
        try:
            assert process.stdout is not None
            ready: dict[str, Any] = json.loads(process.stdout.readline())
            outputs = ready["outputs"]
            client("s3", ready["endpoint_url"]).put_object(
                Bucket=outputs["RawBucketName"], Key=f"{model}/spec.yaml", Body=spec_text(model).encode()
            )
            wait_for_spec(ready["endpoint_url"], outputs["RegistryTableName"], model)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
    return ready, log.read_text().splitlines()


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


def upload_served_model(endpoint: str, outputs: dict[str, str]) -> list[dict[str, Any]]:
    """Upload the `served` model's spec, then a dataset, and wait for its run; the executions. Uploading
    the same again starts nothing (same content), so every test needing the model may call it, whichever
    pytest-xdist worker runs it."""
    s3 = client("s3", endpoint)
    s3.put_object(Bucket=outputs["RawBucketName"], Key="served/spec.yaml", Body=spec_text("served").encode())
    wait_for_spec(endpoint, outputs["RegistryTableName"], "served")  # S3 events are not ordered
    s3.put_object(
        Bucket=outputs["RawBucketName"],
        Key="served/data/my data.csv",
        Body=to_csv_bytes(credit_risk(rows=300, seed=1)),
    )
    return wait_for_production(endpoint, outputs["TrainingStateMachineArn"])


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
    # and how to call the API: SigV4 (the template's default ApiAuth) with moto's credentials
    assert document["auth"] == "AWS_IAM"
    assert document["credentials"] == {"access_key_id": "testing", "secret_access_key": "testing"}
    assert "api_key" not in document
    assert json.loads(served["state"].read_text()) == document


@pytest.mark.slow
def test_uploads_to_the_served_stack_train_a_model_that_sluice_models_shows(served: dict[str, Any]) -> None:
    # Given the running local stack
    document = json.loads(served["ready"])
    endpoint, outputs = document["endpoint_url"], document["outputs"]

    # When a spec and a dataset are uploaded over HTTP (a key with a space, as users name files)
    executions = upload_served_model(endpoint, outputs)

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

    # And the API the stack serves on api_url answers a request signed with the ready line's credentials
    instance = {"income": 40000, "debt_ratio": 0.4, "credit_lines": 2, "segment": "sme"}
    api = client_for(document)
    response = api.request("POST", "/models/served/predict", {"instances": [instance]})
    api.close()
    answer = response.json()
    assert response.status == 200, answer
    assert answer["model"] == "served" and answer["version"] == 1 and len(answer["probabilities"]) == 1
    # while the same request unsigned is refused before it reaches the handler
    unsigned = urllib.request.Request(
        document["api_url"] + "/models/served/predict",
        data=json.dumps({"instances": [instance]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=30)
    assert refused.value.code == 403
    assert json.loads(refused.value.read()) == {"message": "Missing Authentication Token"}

    # And `sluice predict` finds the API in the state file and signs with the credentials it announces
    predicted = subprocess.run(
        [SLUICE, "predict", "served", "--json", json.dumps({"instances": [instance]}), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(endpoint),
        cwd=served["state"].parent.parent,
        check=False,
    )
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["predictions"] == answer["predictions"]


def test_sluice_predict_scores_a_csv_signed_with_the_callers_credentials(
    served: dict[str, Any], tmp_path: Path
) -> None:
    # Given the model the uploads above train (on this worker's stack) and a CSV with a header, an empty
    # cell and extra columns
    document = json.loads(served["ready"])
    upload_served_model(document["endpoint_url"], document["outputs"])
    api_url = document["api_url"]
    data = tmp_path / "rows.csv"
    data.write_bytes(to_csv_bytes(credit_risk(rows=5, seed=3)).replace(b",north,", b",,", 1))
    command = [SLUICE, "predict", "served", "--data", str(data), "--api-url", api_url]
    caller = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    # When a person runs it with their AWS credentials in the environment (the local stack's pair)
    good = dict(caller, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    table = subprocess.run(command, capture_output=True, text=True, env=good, cwd=tmp_path, check=False)
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, env=good, cwd=tmp_path)
    # Then it prints one row per CSV row with each class's probability, or the API's JSON with --json
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["row", "prediction", "p(0)", "p(1)"] and len(lines) == 6
    answer = json.loads(as_json.stdout)
    assert answer["model"] == "served" and len(answer["predictions"]) == 5

    # When the caller's credentials are not ones the API accepts / Then exit 1 with API Gateway's reason
    bad = dict(caller, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="wrong")
    refused = subprocess.run(command, capture_output=True, text=True, env=bad, cwd=tmp_path, check=False)
    assert refused.returncode == 1
    assert "403" in refused.stderr and "signature we calculated does not match" in refused.stderr


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
    model = json.loads((ROOT / "events" / "register-allocate.json").read_text())["run"]["model"]
    item = client("dynamodb", endpoint).get_item(
        TableName=table,
        Key={"PK": {"S": f"MODEL#{model}"}, "SK": {"S": f"VERSION#{response['version']:08d}"}},
    )
    assert item["Item"]["status"]["S"] == "training"


@pytest.mark.slow
def test_sluice_invoke_trains_then_exports_with_the_event_files_as_a_user_types_them(
    served: dict[str, Any],
) -> None:
    # Given the served stack holding what the training events name: the copies ingestion makes of the
    # example spec and of `sluice example-data credit-risk --rows 1000` uploaded as in the docs
    endpoint, outputs = json.loads(served["ready"])["endpoint_url"], json.loads(served["ready"])["outputs"]
    run = json.loads((ROOT / "events" / "export.json").read_text(encoding="utf-8"))["run"]
    data = to_csv_bytes(credit_risk(rows=1000))
    assert hashlib.sha256(data).hexdigest() == run["dataset_sha256"]
    s3 = client("s3", endpoint)
    for uri, body in (
        (run["dataset_uri"], data),
        (run["spec_uri"], (ROOT / "examples" / "credit-risk" / "spec.yaml").read_bytes()),
    ):
        s3.put_object(Bucket=outputs["ArtifactBucketName"], Key=uri.split("}/", 1)[1], Body=body)

    # When, in the project folder with AWS_ENDPOINT_URL set, the user types
    # `sluice invoke TrainFunction -e events/train-task.json`, then the same for ExportFunction
    def invoke(function: str, event: str) -> subprocess.CompletedProcess[str]:
        command = [SLUICE, "invoke", function, "-e", f"events/{event}"]
        return subprocess.run(
            command, capture_output=True, text=True, env=cli_env(endpoint), cwd=ROOT, check=False
        )

    trained = invoke("TrainFunction", "train-task.json")
    exported = invoke("ExportFunction", "export.json")

    # Then the export ran on the pipeline the train task stored (the sha256 export.json names) and printed
    # the run with the ONNX model beside it, parity passed; stdout carries only that answer
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["artifacts"]["pipeline"] == {
        **run["artifacts"]["pipeline"],
        "uri": run["artifacts"]["pipeline"]["uri"].replace(
            "${ArtifactBucketName}", outputs["ArtifactBucketName"]
        ),
    }
    assert exported.returncode == 0, exported.stderr
    answer = json.loads(exported.stdout)
    assert answer["parity"]["passed"] is True
    # and the handler's log went to stderr, each line prefixed with the function
    assert "[ExportFunction] START RequestId: " in exported.stderr
    assert answer["artifacts"]["model"]["uri"].endswith("/models/invoke-example/1/model.onnx")


def test_sigterm_stops_the_server_and_removes_the_state_file(served: dict[str, Any]) -> None:
    process: subprocess.Popen[str] = served["process"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not served["state"].exists()


def test_sigterm_while_deploying_stops_it_without_a_ready_line(tmp_path: Path) -> None:
    # Given `sluice local up` started on free ports, still deploying (it has printed nothing yet)
    process = local_up(free_port(), free_port(), tmp_path / "local.json", stderr=subprocess.PIPE)
    assert process.stderr is not None
    assert "deploying" in process.stderr.readline()  # past its imports, inside the deploy phase
    # When it gets SIGTERM
    process.send_signal(signal.SIGTERM)
    # Then it exits (a bounded wait: before the fix it ignored SIGTERM until the deploy finished or forever)
    assert process.wait(timeout=60) == 0
    assert process.stdout is not None and process.stdout.read() == ""
    assert not (tmp_path / "local.json").exists()


@pytest.mark.parametrize(("taken", "flag"), [("port", "--port"), ("api_port", "--api-port")])
def test_a_taken_port_fails_at_once_with_a_clear_message(tmp_path: Path, taken: str, flag: str) -> None:
    # Given something already listening on one of the two ports
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        busy = int(occupant.getsockname()[1])
        ports = {"port": free_port(), "api_port": free_port(), taken: busy}
        # When `sluice local up` is started on it
        process = local_up(ports["port"], ports["api_port"], tmp_path / "local.json", stderr=subprocess.PIPE)
        out, err = process.communicate(timeout=120)  # before the fix: it waited forever for the port
    # Then it exits with code 2, naming the port, why, and the flag that chooses another
    assert process.returncode == 2
    assert out == ""
    assert f"127.0.0.1:{busy} is not available" in err and "in use" in err and flag in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_api_key_mode_announces_a_key_that_the_api_and_sluice_predict_require(tmp_path: Path) -> None:
    # Given `sluice local up --api-auth API_KEY`
    state = tmp_path / ".sluice" / "local.json"
    process = local_up(free_port(), free_port(), state, extra=("--api-auth", "API_KEY"))
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        # Then its ready line says so and carries the key
        assert ready["auth"] == "API_KEY" and len(ready["api_key"]) >= 20
        # And a request without the key is API Gateway's 403 Forbidden, one with it is served
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(ready["api_url"] + "/models", timeout=30)
        assert refused.value.code == 403 and json.loads(refused.value.read()) == {"message": "Forbidden"}
        api = client_for(ready)
        assert api.request("GET", "/models").status == 200
        api.close()
        # And `sluice predict` uses the key from the state file (past auth: the handler's 404)
        predicted = subprocess.run(
            [SLUICE, "predict", "nobody", "--json", '{"instances": [{"income": 1}]}'],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert predicted.returncode == 1 and "HTTP 404: no model named 'nobody'" in predicted.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


@pytest.mark.slow
def test_faults_are_injected_into_the_stacks_own_calls_logged_and_summed_up(tmp_path: Path) -> None:
    # Given `sluice local up --faults 0.3 --fault-seed 4` / When a spec is uploaded (the deployer's own
    # calls are never faulted) / Then the ingestion gets there through its retries
    ready, lines = serve_one_spec(tmp_path, ("--faults", "0.3", "--fault-seed", "4"), "chaotic")
    # And its ready line says so
    assert ready["faults"] == {"rate": 0.3, "seed": 4}
    # And each fault it met is one JSON line on the stack's log, as IngestFunction's role made the call
    faults = [json.loads(line) for line in lines if line.startswith('{"fault"')]
    assert faults and {"fault", "principal", "operation", "attempt"} <= set(faults[0])
    assert all("-IngestFunctionRole-" in f["principal"] for f in faults)
    # And IngestFunction's log (what its handler wrote) is on the stack's log too, each line prefixed with
    # the function, as `sam local` prints it
    logged = [line for line in lines if line.startswith("[IngestFunction] ")]
    assert any(line.startswith("[IngestFunction] START RequestId: ") for line in logged)
    assert any(line.startswith("[IngestFunction] END RequestId: ") for line in logged)
    # And when it stopped it summed them up, by kind and principal, with how each was survived
    (summary,) = [json.loads(line) for line in lines if line.startswith('{"faults_injected"')]
    assert summary["faults_injected"] == len(faults) == sum(row["faults"] for row in summary["table"])
