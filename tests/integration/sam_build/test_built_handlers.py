"""The built handlers, run as the python3.12 Lambda runtime would run them: each function's handler
imports and answers its events/ files in a fresh python3.12 process whose sys.path holds only the
function's folder, its layers' python/ folders (/opt/python) and the runtime's boto3 — no venv —
against the local stack's moto server; and a training bundle trains, so trimming the layers cannot
remove anything needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.adapters.registry.store import Registry
from sluice.domain.data.table import to_csv_bytes
from sluice.tools.example_data import credit_risk
from sluice.tools.local import free_port
from sluice.tools.local.events import resolve_placeholders
from sluice.tools.local.lambda_runtime.runtime import RUNTIME_ENV
from sluice.tools.local.server import running_server
from sluice.tools.local.stack import LocalStack
from sluice.tools.local.template import load_sam
from tests.integration.conftest import spec_text
from tests.integration.sam_build.conftest import ROOT, bundles

RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "dateutil",
    "urllib3",
    "six.py",
    "jmespath",
)  # what the python3.12 runtime provides beside the standard library
# The base interpreter the venv was made from (pyenv's 3.12): a fresh python3.12 that knows no venv.
RUNTIME_PYTHON = str(getattr(sys, "_base_executable", sys.executable))
# Each function's events/ files; not ExportFunction's (export.json names by its sha256 the pipeline
# train-task.json fits on the uploads of docs/guides/local-stack.md (`sluice invoke`), which this stack's objects are not), and EvaluateFunction
# only a rollout check (their steps need the state of a run:
# test_a_training_bundle_trains_exports_checks_parity_and_evaluates runs their code).
# The objects the training events name (in the artifact bucket, where ingestion copies uploads).
_TRAIN_RUN = json.loads((ROOT / "events" / "train-task.json").read_text(encoding="utf-8"))["run"]
EVENT_SPEC_KEY = _TRAIN_RUN["spec_uri"].split("}/", 1)[1]
EVENT_DATASET_KEY = _TRAIN_RUN["dataset_uri"].split("}/", 1)[1]

EVENTS = {
    "PredictFunction": ("api-predict.json", "api-predict-unknown-model.json", "api-openapi.json"),
    "IngestFunction": ("ingest-spec-uploaded.json", "ingest-ignored.json"),
    "RegisterFunction": ("register-allocate.json",),
    "TrainFunction": ("train-task.json",),
    "EvaluateFunction": ("rollout-check.json",),
    "DriftFunction": ("drift-scheduled.json",),
    "BatchScoreFunction": ("batch-pin.json", "batch-score.json"),
}

# One worker runs both modules here: they share the session's `sam build` (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("sam_build")


def runtime_folder(tmp: Path) -> Path:
    """What the Lambda runtime adds to a bundle: boto3 and its dependencies (symlinked from the venv)."""
    runtime = tmp / "runtime"
    if not runtime.exists():
        runtime.mkdir()
        site = Path(sysconfig.get_paths()["purelib"])
        for name in RUNTIME_PACKAGES:
            (runtime / name).symlink_to(site / name)
    return runtime


# Run first in every clean child: the interpreter must be python3.12 outside any venv, and sys.path
# only the standard library (as `-I -S` leaves it), the bundle and the runtime's packages.
CHILD_PRELUDE = """
import sys, sysconfig
BUNDLE = {paths!r}
assert sys.version_info[:2] == (3, 12), sys.version
assert sys.prefix == sys.base_prefix, "running inside a venv"
STDLIB = {{sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}}
assert all(p.startswith(tuple(STDLIB)) or p.endswith(".zip") for p in sys.path), sys.path
assert not any("site-packages" in p for p in sys.path), sys.path
sys.path[:0] = BUNDLE


def loaded_from_elsewhere():
    # modules imported from outside the bundle and the standard library (its site-packages included)
    def allowed(path):
        return path.startswith(tuple(BUNDLE)) or (path.startswith(tuple(STDLIB)) and "site-packages" not in path)

    return sorted(
        name for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and not allowed(module.__file__)
    )
"""


def run_clean(
    paths: list[Path],
    code: str,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh `python3.12 -I -S -B`: the standard library, the bundle and the runtime's
    boto3 only (and no bytecode written into the bundle)."""
    bundle = [str(p) for p in paths] + [str(runtime_folder(tmp_path))]
    prelude = CHILD_PRELUDE.format(paths=bundle)
    return subprocess.run(
        [RUNTIME_PYTHON, "-I", "-S", "-B", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd or tmp_path,
        env=env
        or {
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PATH": os.environ["PATH"],
        },
    )


@pytest.mark.slow
def test_every_built_handler_imports_with_only_its_layers(build: Path, tmp_path: Path) -> None:
    # When each function's handler module is imported in a clean python3.12 from its bundle alone
    # Then it imports, and nothing comes from outside the bundle and the standard library
    code = """
        import app
        assert callable(app.lambda_handler)
        assert not loaded_from_elsewhere(), loaded_from_elsewhere()
    """
    for name, paths in bundles(build).items():
        result = run_clean(paths, code, tmp_path)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"


def test_a_training_bundle_trains_exports_checks_parity_and_evaluates(build: Path, tmp_path: Path) -> None:
    # Given a CSV of example data (made here: the tools that generate it are not in any bundle)
    data = tmp_path / "credit.csv"
    data.write_bytes(to_csv_bytes(credit_risk(rows=300, seed=1)))
    # When ExportFunction's bundle runs the whole training sequence on it in a clean python3.12
    code = """
        import importlib.util
        from sluice.domain.candidate import train_candidate
        from sluice.domain.spec.model_spec import parse_spec
        from sluice.domain.data.table import read_csv
        spec = parse_spec(open(SPEC).read().replace("n_estimators: 100", "n_estimators: 5"))
        with open(DATA, "rb") as stream:
            table = read_csv(stream, "credit.csv")
        candidate = train_candidate(spec, table, dataset_sha256="0" * 64, version="1")
        assert candidate.onnx_model is not None and candidate.parity.passed
        assert importlib.util.find_spec("pandas") is None
        assert importlib.util.find_spec("sluice.tools") is None
        print("ok", candidate.gates.passed)
    """.replace("SPEC", repr(str(ROOT / "examples" / "credit-risk" / "spec.yaml"))).replace(
        "DATA", repr(str(data))
    )
    result = run_clean(bundles(build)["ExportFunction"], code, tmp_path)
    # Then it trains, exports with parity and evaluates, without pandas and without the tools
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


# ---------------------------------------------------------------------------------------------- events


@pytest.fixture(scope="module")
def served_stack() -> Iterator[LocalStack]:
    """The local stack behind moto's server on 127.0.0.1 (so a child process reaches it through
    AWS_ENDPOINT_URL), with credit-risk trained and in production and the objects events/ names."""
    saved = dict(os.environ)
    try:
        with running_server(ROOT, port=free_port(), stack_name="sluice-build") as stack:
            s3 = stack.client("s3")
            raw, artifacts = stack.outputs["RawBucketName"], stack.outputs["ArtifactBucketName"]
            s3.put_object(Bucket=raw, Key="credit-risk/spec.yaml", Body=spec_text("credit-risk").encode())
            stack.wait_for_executions()
            s3.put_object(
                Bucket=raw,
                Key="credit-risk/data/first upload.csv",
                Body=to_csv_bytes(credit_risk(rows=300, seed=1)),
            )
            # what the training events name: the copies ingestion makes of the uploads of docs/guides/local-stack.md (`sluice invoke`)
            for key, body in (
                (EVENT_SPEC_KEY, spec_text("credit-risk").encode()),
                (EVENT_DATASET_KEY, to_csv_bytes(credit_risk(rows=200, seed=7))),
            ):
                s3.put_object(Bucket=artifacts, Key=key, Body=body)
            assert [e["status"] for e in stack.wait_for_executions()] == ["SUCCEEDED"]
            yield stack
    finally:
        os.environ.clear()
        os.environ.update(saved)


def function_env(stack: LocalStack, logical_id: str, code: Path) -> dict[str, str]:
    """What Lambda gives the function: its environment (template + env.json, resolved by the stack),
    the runtime's variables, and the local stack's endpoint."""
    config = stack.function_configuration(logical_id)
    assert stack.endpoint_url is not None and stack.enforcer is not None
    # the role's own credentials: its calls reach the stack's server from this other process, which
    # authorises them as the role, as AWS would
    role = stack.enforcer.out_of_process_credentials(config["Role"], config["FunctionName"])
    return {
        **RUNTIME_ENV,
        **role,
        **stack.function_environment(logical_id),
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": stack.endpoint_url,
        "AWS_REGION": stack.region,
        "AWS_DEFAULT_REGION": stack.region,
        "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
        "LAMBDA_TASK_ROOT": str(code),
    }


ANSWER_EVENTS = """
    import importlib, json
    from pathlib import Path

    class Context:
        function_name = "{name}"
        memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:{name}"
        aws_request_id = "built-layout"
        function_version = "$LATEST"

        def get_remaining_time_in_millis(self):
            return 60_000

    module_name, function_name = "{handler}".rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    events = json.loads(Path("events.json").read_text())
    answers = {{name: handler(event, Context()) for name, event in events.items()}}
    assert not loaded_from_elsewhere(), loaded_from_elsewhere()
    Path("answers.json").write_text(json.dumps(answers, default=str))
"""


def answer_in_built_layout(
    stack: LocalStack,
    build: Path,
    logical_id: str,
    tmp_path: Path,
    placeholders: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Each events/ file of the function through its built handler in a clean python3.12 process (its
    `${…}` filled from the stack's outputs and `placeholders`)."""
    sam = load_sam(ROOT / "template.yaml")
    handler = sam["Resources"][logical_id]["Properties"].get("Handler", sam["Globals"]["Function"]["Handler"])
    folder = tmp_path / logical_id
    folder.mkdir()
    events = {
        name: resolve_placeholders(
            json.loads((ROOT / "events" / name).read_text()), {**stack.outputs, **(placeholders or {})}
        )
        for name in EVENTS[logical_id]
    }
    (folder / "events.json").write_text(json.dumps(events))
    paths = bundles(build)[logical_id]
    code = ANSWER_EVENTS.format(name=logical_id, handler=handler)
    result = run_clean(paths, code, tmp_path, env=function_env(stack, logical_id, paths[0]), cwd=folder)
    assert result.returncode == 0, f"{logical_id}: {result.stderr[-3000:]}"
    answers: dict[str, Any] = json.loads((folder / "answers.json").read_text())
    return answers


def body_of(answer: dict[str, Any]) -> tuple[int, Any]:
    return answer["statusCode"], json.loads(answer["body"])


def test_the_built_predict_function_answers_its_events(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # Given credit-risk in production on the local stack
    # When the built PredictFunction answers its events in a clean python3.12
    answers = answer_in_built_layout(served_stack, build, "PredictFunction", tmp_path)

    # Then the prediction is real: two instances scored by a named version, probabilities in class order
    status, body = body_of(answers["api-predict.json"])
    assert status == 200, body
    assert body["model"] == "credit-risk" and body["version"] >= 1
    assert body["classes"] == [0, 1] and len(body["predictions"]) == len(body["probabilities"]) == 2
    assert all(abs(sum(p) - 1) < 1e-5 for p in body["probabilities"])
    # And an unknown model is a 404, and the OpenAPI document is served
    status, body = body_of(answers["api-predict-unknown-model.json"])
    assert status == 404 and "no-such-model" in body["error"]
    status, body = body_of(answers["api-openapi.json"])
    assert status == 200 and "/models/{model}/predict" in body["paths"]


def test_the_built_ingest_function_answers_its_events(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # When the built IngestFunction answers a spec upload and an object outside the layout
    answers = answer_in_built_layout(served_stack, build, "IngestFunction", tmp_path)
    # Then the spec is registered (or already was) and the other object is ignored
    assert answers["ingest-spec-uploaded.json"]["status"] in {"spec_registered", "spec_unchanged"}
    assert answers["ingest-spec-uploaded.json"]["model"] == "credit-risk"
    assert answers["ingest-ignored.json"]["status"] == "ignored"


@pytest.mark.slow
def test_the_built_training_and_registry_functions_answer_their_events(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # When the built RegisterFunction allocates a version and the built TrainFunction trains
    register = answer_in_built_layout(served_stack, build, "RegisterFunction", tmp_path)
    train = answer_in_built_layout(served_stack, build, "TrainFunction", tmp_path)

    # Then the run got a version, and the pipeline was fitted on the dataset the event names and stored
    allocated = register["register-allocate.json"]
    assert allocated["status"] == "training" and allocated["version"] >= 1
    trained = train["train-task.json"]
    assert trained["n_train"] > trained["n_holdout"] > 0
    pipeline = trained["artifacts"]["pipeline"]["uri"]
    assert pipeline.endswith("/pipeline.pkl")
    bucket, key = pipeline.removeprefix("s3://").split("/", 1)
    assert served_stack.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 1000


def test_the_built_evaluate_function_checks_a_rollout(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # When the built EvaluateFunction checks a canary the production alias does not carry
    answers = answer_in_built_layout(served_stack, build, "EvaluateFunction", tmp_path)
    # Then it decides to roll it back (the rollout was ended from outside)
    rollout = answers["rollout-check.json"]["rollout"]
    assert rollout["decision"] == "roll_back" and "ended from outside" in rollout["reason"]


@pytest.mark.slow
def test_the_built_drift_function_answers_its_event(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # Given credit-risk in production / When the built DriftFunction answers its scheduled event
    answers = answer_in_built_layout(served_stack, build, "DriftFunction", tmp_path)
    # Then it checked credit-risk and stored a report
    (check,) = answers["drift-scheduled.json"]["checked"]
    assert check["model"] == "credit-risk"
    assert check["report_uri"].startswith("s3://") and check["report_uri"].endswith(".json")


def test_the_built_batch_function_pins_a_job_and_scores_a_batch_with_the_inference_layer_only(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # Given credit-risk version 1 in production, and the sha256 the registry holds for its model
    registry = Registry(served_stack.outputs["RegistryTableName"], served_stack.client("dynamodb"))
    sha256 = registry.get_version("credit-risk", 1).artifacts["model"].sha256
    # When the built BatchScoreFunction (no scikit-learn in its bundle) pins a job and scores a batch
    answers = answer_in_built_layout(
        served_stack, build, "BatchScoreFunction", tmp_path, {"ModelSha256": sha256}
    )
    # Then the job is pinned to version 1 and that model, and of the batch's two rows one is scored and
    # the other rejected (its problems named in the errors part)
    pinned = answers["batch-pin.json"]
    assert (pinned["version"], pinned["model_sha256"]) == (1, sha256)
    summary = answers["batch-score.json"]
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (2, 1, 1)
