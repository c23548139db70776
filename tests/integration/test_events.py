"""Every file in events/ runs through `sluice invoke` (the in-process `sam local invoke`) on a fresh
stack prepared exactly as docs/guides/local-stack.md (`sluice invoke`) says: the example spec uploaded, then example data uploaded as
`credit-risk/data/first upload.csv`. The training events name the copies ingestion made of them in
the artifact bucket (content-addressed by sha256), as a real run does: the training functions never
read the raw bucket."""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.adapters.registry.store import Registry
from sluice.tools.cli import main
from sluice.tools.cli.invoke import invoke_with, read_event
from sluice.tools.local.events import resolve_placeholders
from sluice.tools.local.in_process import in_process_stack
from sluice.tools.local.stack import LocalStack
from tests.integration.conftest import ROOT, TEST_ENV

EVENTS = ROOT / "events"


ROWS = (
    1000  # docs/guides/local-stack.md: sluice example-data credit-risk --rows 1000 --out "first upload.csv"
)


@pytest.fixture(scope="module")
def events_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A fresh stack of its own, after the guide's two uploads (the events name those objects)."""
    data = tmp_path_factory.mktemp("events") / "first upload.csv"
    assert main(["example-data", "credit-risk", "--rows", str(ROWS), "--out", str(data)]) == 0
    with in_process_stack(ROOT, stack_name="sluice-events", env_overrides=TEST_ENV) as stack:
        s3 = stack.client("s3")
        raw = stack.outputs["RawBucketName"]
        spec = (ROOT / "examples" / "credit-risk" / "spec.yaml").read_bytes()
        s3.put_object(Bucket=raw, Key="credit-risk/spec.yaml", Body=spec)
        stack.wait_for_executions()
        s3.put_object(Bucket=raw, Key="credit-risk/data/first upload.csv", Body=data.read_bytes())
        assert [e["status"] for e in stack.wait_for_executions()] == ["SUCCEEDED"]
        yield stack


def run_event(stack: LocalStack, function: str, name: str) -> dict[str, Any]:
    return invoke_with(stack, function, read_event(EVENTS / name))


def test_spec_upload_event_registers_the_spec(events_stack: LocalStack) -> None:
    # When the spec upload event is invoked
    document = run_event(events_stack, "IngestFunction", "ingest-spec-uploaded.json")

    # Then the spec is registered (or reported unchanged, since the upload itself delivered it first)
    assert document["response"]["status"] in {"spec_registered", "spec_unchanged"}
    assert document["response"]["model"] == "credit-risk"


def test_data_upload_event_with_an_encoded_key_becomes_a_dataset(events_stack: LocalStack) -> None:
    # When the data upload event (key URL-encoded: "first+upload.csv") is invoked
    document = run_event(events_stack, "IngestFunction", "ingest-data-uploaded.json")

    # Then the object "first upload.csv" was found and is the dataset the upload registered, whose run
    # is not started a second time
    response = document["response"]
    assert response["status"] == "dataset"
    assert response["key"] == "credit-risk/data/first upload.csv"
    assert response["rows"] == ROWS
    assert response["dataset_created"] is False and response["execution_started"] is False
    assert response["execution_arn"].startswith("arn:aws:states:")
    events_stack.wait_for_executions()
    executions = events_stack.client("stepfunctions").list_executions(
        stateMachineArn=events_stack.outputs["TrainingStateMachineArn"]
    )["executions"]
    assert [e["name"] for e in executions] == [response["execution_arn"].rsplit(":", 1)[-1]]


def test_an_upload_outside_the_layout_is_ignored(events_stack: LocalStack) -> None:
    document = run_event(events_stack, "IngestFunction", "ingest-ignored.json")
    assert document["response"]["status"] == "ignored"


def test_allocate_event_gives_the_run_a_version_number(events_stack: LocalStack) -> None:
    # When the allocate task runs twice for the same execution
    first = run_event(events_stack, "RegisterFunction", "register-allocate.json")
    again = run_event(events_stack, "RegisterFunction", "register-allocate.json")

    # Then it got a number once, and the same number on the retry
    assert first["response"]["status"] == "training"
    assert first["response"]["version"] == again["response"]["version"] >= 1
    # under the model reserved for the example: credit-risk's versions are untouched
    assert first["response"]["model"] == "invoke-example"
    registry = Registry(events_stack.outputs["RegistryTableName"], events_stack.client("dynamodb"))
    assert [v.version for v in registry.list_versions("credit-risk")] == [1]


def test_train_task_event_fits_and_stores_the_pipeline(events_stack: LocalStack) -> None:
    # When the train task runs on the copies ingestion made of the guide's uploads (datasets/ and specs/)
    document = run_event(events_stack, "TrainFunction", "train-task.json")
    # Then a pipeline is fitted on every row and stored under the example's own model name
    response = document["response"]
    assert response["n_train"] + response["n_holdout"] == ROWS
    assert response["artifacts"]["pipeline"]["uri"].endswith("/models/invoke-example/1/pipeline.pkl")
    credit_risk_models = events_stack.client("s3").list_objects_v2(
        Bucket=events_stack.outputs["ArtifactBucketName"], Prefix="models/credit-risk/1/pipeline.pkl"
    )
    assert credit_risk_models["KeyCount"] == 1  # production's own files were not overwritten


def test_export_event_exports_the_pipeline_the_train_event_fitted(events_stack: LocalStack) -> None:
    # Given the pipeline the train task fits on the guide's uploads (events/export.json is the state
    # Train answers, so it names that very pipeline by its sha256)
    trained = run_event(events_stack, "TrainFunction", "train-task.json")["response"]
    pipeline = read_event(EVENTS / "export.json")["run"]["artifacts"]["pipeline"]
    assert pipeline["sha256"] == trained["artifacts"]["pipeline"]["sha256"], (
        "the train task fits another pipeline now (new pins?): copy its answer's run into events/export.json"
    )

    # When the export task runs
    exported = run_event(events_stack, "ExportFunction", "export.json")["response"]

    # Then the ONNX model and its reference sample are stored beside the pipeline, the export matching it
    assert exported["parity"]["passed"] is True
    prefix = f"s3://{events_stack.outputs['ArtifactBucketName']}/models/invoke-example/1/"
    assert exported["artifacts"]["model"]["uri"] == prefix + "model.onnx"
    assert exported["artifacts"]["reference"]["uri"] == prefix + "reference.csv.gz"
    # And what the drift check estimates performance from without labels, learnt on the holdout
    assert exported["artifacts"]["estimation"]["uri"] == prefix + "estimation.json"


def test_cross_validate_event_scores_one_candidate_of_a_search(events_stack: LocalStack) -> None:
    # When one SearchCandidates Map iteration runs on the guide's uploads (the example's one algorithm
    # is candidate 0 of its own search)
    document = run_event(events_stack, "TrainFunction", "train-cross-validate.json")
    # Then it answers the candidate's cross-validated score, not a run state
    score = document["response"]
    assert (score["index"], score["algorithm"], score["folds"]) == (0, "random_forest", 5)
    assert len(score["fold_scores"]) == 5 and score["mean"] is not None and score["error"] is None
    assert score["model_size_bytes"] > 0 and "artifacts" not in score


def test_fargate_stage_and_collect_events_stage_the_run_and_name_why_a_task_left_no_result(
    events_stack: LocalStack,
) -> None:
    # When the StageTrainingTask step runs for a run PlanSearch sent to Fargate
    staged = run_event(events_stack, "TrainFunction", "train-stage-task.json")["response"]
    # Then the task's run.json holds the run, and its result.json says nothing has come back yet
    artifacts = events_stack.client("s3")
    bucket = events_stack.outputs["ArtifactBucketName"]
    prefix = "models/invoke-example/1/training-task/"
    run = json.loads(artifacts.get_object(Bucket=bucket, Key=prefix + "run.json")["Body"].read())
    assert run["run"]["model"] == "invoke-example" and run["run"]["backend"] == "fargate"
    assert json.loads(artifacts.get_object(Bucket=bucket, Key=prefix + "result.json")["Body"].read()) == {
        "pending": True
    }
    assert staged["training_task"]["result_uri"].endswith(prefix + "result.json")

    # When CollectTrainingTask runs after ECS reported the task's container killed (exit code 137)
    collected = run_event(events_stack, "TrainFunction", "train-collect-task.json")
    # Then it fails as TrainingTaskFailed, with ECS's reason and the exit code
    assert collected["errorType"] == "TrainingTaskFailed"
    assert "Essential container in task exited (exit code 137)" in collected["errorMessage"]


def test_rollout_check_event_rolls_back_a_canary_no_longer_on_the_alias(events_stack: LocalStack) -> None:
    # When the CheckRollout task runs for a canary of credit-risk that the production alias does not carry
    # (the guide's stack has version 1 in production and no rollout)
    document = run_event(events_stack, "EvaluateFunction", "rollout-check.json")
    # Then the check decides to roll it back, saying why, and production is untouched
    rollout = document["response"]["rollout"]
    assert rollout["decision"] == "roll_back"
    assert rollout["reason"] == "rolled back: the rollout was ended from outside (production is version 1)"
    registry = Registry(events_stack.outputs["RegistryTableName"], events_stack.client("dynamodb"))
    assert registry.get_alias("credit-risk").version == 1  # type: ignore[union-attr]


def test_sluice_invoke_command_deploys_a_fresh_stack_and_prints_the_response(capsys, tmp_path: Path) -> None:
    # Given an env.json override file
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps({"RegisterFunction": {"POWERTOOLS_LOG_LEVEL": "WARNING"}}))
    capsys.readouterr()

    # When `sluice invoke` runs without an endpoint
    code = main(
        [
            "invoke",
            "RegisterFunction",
            "-e",
            str(EVENTS / "register-allocate.json"),
            "--env-vars",
            str(env_file),
            "--root",
            str(ROOT),
            "--stack-name",
            "sluice-invoke",
        ]
    )

    # Then it prints the handler's response as JSON
    assert code == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1


def test_sluice_invoke_reports_a_handler_error_as_a_lambda_error(capsys) -> None:
    # When the train task runs on a fresh stack, before the guide's uploads
    code = main(
        [
            "invoke",
            "TrainFunction",
            "-e",
            str(EVENTS / "train-task.json"),
            "--root",
            str(ROOT),
            "--stack-name",
            "sluice-invoke-error",
        ]
    )

    # Then the command fails and prints the Lambda-style error naming the missing object
    assert code == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["errorType"] == "ArtifactNotFound"
    assert "no such object" in printed["errorMessage"]


def _body(document: dict[str, Any]) -> tuple[int, Any]:
    response = document["response"]
    return response["statusCode"], json.loads(response["body"])


def test_api_events_answer_as_api_gateway_would(events_stack: LocalStack) -> None:
    # Given credit-risk in production (the uploads of the fixture)
    # When the valid prediction event is invoked
    status, body = _body(run_event(events_stack, "PredictFunction", "api-predict.json"))
    # Then two predictions come back from a named version, with probabilities in class order
    assert status == 200, body
    assert body["model"] == "credit-risk" and body["version"] >= 1
    assert body["classes"] == [0, 1]
    assert len(body["predictions"]) == len(body["probabilities"]) == 2
    assert body["request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    # When the invalid one is invoked: every problem of every instance is named, as a 400
    status, body = _body(run_event(events_stack, "PredictFunction", "api-predict-invalid.json"))
    assert status == 400
    named = {(d["instance"], d["field"]) for d in body["details"]}
    assert named == {(1, "income"), (1, "debt_ratio"), (1, "segment"), (1, "colour")}

    # And an unknown model is a 404
    status, body = _body(run_event(events_stack, "PredictFunction", "api-predict-unknown-model.json"))
    assert status == 404 and "no-such-model" in body["error"]

    # When the explain event is invoked: per instance, Shapley values over every feature that add up to
    # the output explained, from the background stored at training
    status, body = _body(run_event(events_stack, "PredictFunction", "api-explain.json"))
    assert status == 200, body
    for explanation in body["explanations"]:
        assert set(explanation["contributions"]) >= {"income", "age", "segment"}
        total = explanation["base_value"] + sum(explanation["contributions"].values())
        assert abs(total - explanation["output"]) < 1e-6


def test_read_only_api_events(events_stack: LocalStack) -> None:
    status, body = _body(run_event(events_stack, "PredictFunction", "api-list-models.json"))
    assert status == 200
    production = {m["model"]: m["production_version"] for m in body["models"]}
    assert production["credit-risk"] == 1
    assert production.get("invoke-example") is None  # the allocate example never reaches production

    status, body = _body(run_event(events_stack, "PredictFunction", "api-show-model.json"))
    assert status == 200
    assert [f["name"] for f in body["input_schema"]][:2] == ["income", "age"]
    assert body["production"]["dataset_sha256"]

    status, body = _body(run_event(events_stack, "PredictFunction", "api-openapi.json"))
    assert status == 200
    assert "/models/{model}/predict" in body["paths"]


def test_console_events_answer_as_the_console_would(events_stack: LocalStack) -> None:
    # The page, who the operator is, the models a viewer reads, and a viewer's approve refused
    page = run_event(events_stack, "ConsoleFunction", "console-page.json")["response"]
    assert page["statusCode"] == 200
    assert "frame-ancestors 'none'" in str(page.get("multiValueHeaders") or page.get("headers"))
    status, body = _body(run_event(events_stack, "ConsoleFunction", "console-me.json"))
    assert (status, body["email"], body["can_act"]) == (200, "operator@example.com", True)
    status, body = _body(run_event(events_stack, "ConsoleFunction", "console-models.json"))
    assert status == 200
    assert "credit-risk" in [m["name"] for m in body["models"]]
    status, body = _body(run_event(events_stack, "ConsoleFunction", "console-approve-viewer.json"))
    assert status == 403
    assert body["error"] == "Approving needs the operators or admins group; you are in viewers."


def test_dashboard_events_answer_the_page_and_a_card_it_links(events_stack: LocalStack) -> None:
    # Given credit-risk v1 promoted by the fixture's upload (the promotion wrote the dashboard)
    # When GET /dashboard and GET /dashboard/{key+} of its card are invoked / Then both are HTML pages
    for name, expected in (
        ("api-dashboard.json", "data-model='credit-risk'"),
        ("api-dashboard-page.json", "credit-risk"),
    ):
        response = run_event(events_stack, "PredictFunction", name)["response"]
        assert response["statusCode"] == 200, response["body"][:300]
        (content_type,) = response["multiValueHeaders"]["Content-Type"]  # REST proxy answers carry lists
        assert content_type.startswith("text/html") and expected in response["body"]


def test_protocol_events_answer_as_predict_does(events_stack: LocalStack) -> None:
    # Given credit-risk in production, and the same two rows sent to /predict
    status, predicted = _body(run_event(events_stack, "PredictFunction", "api-predict.json"))
    assert status == 200

    # When the Open Inference Protocol event (JSON tensors, base64 as API Gateway hands them) is invoked
    response = run_event(events_stack, "PredictFunction", "api-v2-infer.json")["response"]
    status, body = response["statusCode"], json.loads(response["body"])

    # Then it answers the request's id, the version and one output tensor per ONNX output
    assert status == 200, body
    assert body["model_name"] == "credit-risk" and body["model_version"] == str(predicted["version"])
    assert body["id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert set(outputs) == {"label", "probabilities"}
    assert outputs["probabilities"]["shape"] == [2, 2] and outputs["probabilities"]["datatype"] == "FP32"
    assert len(outputs["label"]["data"]) == 2

    # When the MLflow invocations event (dataframe_split) is invoked
    response = run_event(events_stack, "PredictFunction", "api-mlflow-invocations.json")["response"]
    status, body = response["statusCode"], json.loads(response["body"])

    # Then it answers {"predictions"} with one label per row, and names the version in a header
    assert status == 200, body
    assert set(body) == {"predictions"} and len(body["predictions"]) == 2
    assert set(body["predictions"]) <= {0, 1}
    assert response["multiValueHeaders"]["X-Sluice-Model-Version"] == [str(predicted["version"])]


def test_feedback_event_stores_the_label(events_stack: LocalStack) -> None:
    status, body = _body(run_event(events_stack, "PredictFunction", "api-feedback.json"))
    assert status == 200, body
    assert body["request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    # And once the feedback stream's buffer interval has passed, the label is in the bucket
    events_stack.flush_streams()
    s3, bucket = events_stack.client("s3"), events_stack.outputs["ArtifactBucketName"]
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="feedback/credit-risk/")["Contents"]]
    (stored,) = [
        json.loads(line)
        for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).splitlines()
    ]
    assert stored["label"] == 1 and stored["request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_scheduled_drift_event_checks_every_production_model(events_stack: LocalStack) -> None:
    events_stack.flush_streams()  # the capture stream's buffer interval has passed
    document = run_event(events_stack, "DriftFunction", "drift-scheduled.json")
    (check,) = document["response"]["checked"]
    # Two captured instances are far below the minimum: a report, but no verdict
    assert check["model"] == "credit-risk"
    assert check["status"] == "insufficient_data"
    assert check["dataset_drift"] is False and check["retraining"] is None
    assert check["report_uri"].endswith(".json") and check["html_uri"].endswith(".html")
    # And the version (trained by the fixture's upload, with its estimation.json) is estimated without
    # labels on its captured rows: each metric with a band of ±3 sampling errors around it, in [0, 1]
    s3, bucket = events_stack.client("s3"), events_stack.outputs["ArtifactBucketName"]
    key = check["report_uri"].split(f"{bucket}/", 1)[1]
    estimated = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["estimated"]
    assert estimated["method"] == "cbpe" and estimated["rows"] >= 2
    assert {"accuracy", "f1", "precision", "recall"} <= set(estimated["band"])
    for metric, (low, high) in estimated["band"].items():
        assert 0.0 <= low <= estimated[metric] <= high <= 1.0, metric
    assert check["estimated"]["values"]["accuracy"] == estimated["accuracy"]
    html_key = check["html_uri"].split(f"{bucket}/", 1)[1]
    html = s3.get_object(Bucket=bucket, Key=html_key)["Body"].read().decode()
    assert f"without labels on {estimated['rows']} captured rows (CBPE)" in html


def test_monitoring_events_list_check_report_an_error_and_publish(events_stack: LocalStack) -> None:
    # When each task of the monitoring state machine is invoked / Then: the model in production is listed
    listed = run_event(events_stack, "DriftFunction", "drift-list-models.json")["response"]
    assert listed["models"] == [{"model": "credit-risk", "version": 1}] and listed["model_concurrency"] >= 1
    # one model is checked, for a window ending in 2099: reported with no traffic in it, its payload small
    check = run_event(events_stack, "DriftFunction", "drift-check-model.json")["response"]
    assert (check["model"], check["status"], check["window_rows"]) == ("credit-risk", "insufficient_data", 0)
    assert check["report_uri"].endswith(".json") and "prediction_drift" not in check
    # a caught error is the model's check with status error, in words, counted in DriftCheckErrors
    failed = run_event(events_stack, "DriftFunction", "drift-report-error.json")["response"]
    assert (failed["status"], failed["error"][:20]) == ("error", "ArtifactCorrupt: s3:")
    assert '"DriftCheckErrors"' in events_stack.function_log("DriftFunction")
    published = run_event(events_stack, "DriftFunction", "drift-publish-dashboard.json")["response"]
    assert "credit-risk" in published["models"] and published["dashboard"].endswith(".json")


def test_batch_events_pin_a_job_and_score_a_batch_naming_its_bad_row(events_stack: LocalStack) -> None:
    # When the BatchScore state machine's first task is invoked on the uploaded file
    pinned = run_event(events_stack, "BatchScoreFunction", "batch-pin.json")["response"]

    # Then the job is pinned to production's version and its model's sha256
    assert pinned["version"] == 1 and len(pinned["model_sha256"]) == 64

    # And one batch of two rows (the sha256 filled in from the pinned job) scores one, rejects the other
    event = resolve_placeholders(
        read_event(EVENTS / "batch-score.json"),
        {**events_stack.outputs, "ModelSha256": pinned["model_sha256"]},
    )
    summary = invoke_with(events_stack, "BatchScoreFunction", event)["response"]
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (2, 1, 1)
    assert summary["part"].endswith("parts/rows-0000000001-0000000002.csv")


def test_every_event_file_is_exercised() -> None:
    # Every events/ file is one a test of this module runs (named here as a string literal): read from
    # the source, since pytest-xdist may run this module's tests on different workers
    named = {
        node.value
        for node in ast.walk(ast.parse(Path(__file__).read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".json")
    }
    assert {p.name for p in EVENTS.glob("*.json")} <= named
