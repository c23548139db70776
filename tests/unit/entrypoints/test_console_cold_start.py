"""ConsoleFunction's cold start imports no serving code: not ONNX Runtime, not numpy, not the prediction
API's package (what both APIs share is in sluice.entrypoints.web), and its column inference answers with
numpy unavailable. No timing here: what is imported, and what answers (the import times are measured in
docs/benchmarks.md's way, `python -X importtime`)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.unit.child_handler import ROOT, run_child

CONSOLE_FUNCTION = ROOT / "functions" / "console"
ME_EVENT = ROOT / "events" / "console-me.json"
NOT_AT_START = ["onnxruntime", "numpy", "sluice.entrypoints.api", "sluice.domain.scoring.onnx_model"]

CHILD = """
import json, sys
sys.path.insert(0, CONSOLE)
import app

at_start = sorted(m for m in NOT_AT_START_LIST if m in sys.modules)
sys.modules["numpy"] = None  # from here, importing numpy fails as it would without the layer


class Context:
    function_name = "ConsoleFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ConsoleFunction"
    aws_request_id = "cold"
    function_version = "$LATEST"

    def get_remaining_time_in_millis(self):
        return 10_000


event = json.loads(open(ME_EVENT).read())
sample = "age,segment,default\\n34,retail,0\\n51,sme,1\\n29,retail,0\\n"
request = dict(
    event,
    path="/console/api/columns",
    httpMethod="POST",
    pathParameters={"proxy": "columns"},
    headers={**event["headers"], "content-type": "application/json"},
    body=json.dumps({"file_name": "loans.csv", "sample": sample}),
)
answer = app.lambda_handler(request, Context())
print(json.dumps({"at_start": at_start, "status": answer["statusCode"], "body": json.loads(answer["body"])}))
"""


def test_the_console_imports_no_serving_code_and_infers_columns_without_numpy(tmp_path: Path) -> None:
    # Given ConsoleFunction's handler imported as Lambda's init imports it (AWS a closed port)
    script = (
        CHILD.replace("NOT_AT_START_LIST", repr(NOT_AT_START))
        .replace("CONSOLE", repr(str(CONSOLE_FUNCTION)))
        .replace("ME_EVENT", repr(str(ME_EVENT)))
    )
    document = run_child(
        script,
        {
            "ARTIFACT_BUCKET": "artifacts",
            "REGISTRY_TABLE": "registry",
            "RAW_BUCKET": "raw-uploads",
            "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:train",
            "CONSOLE_USER_POOL_ID": "us-east-1_AbCdEf123",
            "CONSOLE_CLIENT_ID": "4k2example0clientid00000000",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_MAX_ATTEMPTS": "1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # the package under test wherever it is (a worktree sets PYTHONPATH over the editable install)
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        },
        tmp_path,
    )

    # Then neither ONNX Runtime nor numpy nor the prediction API's package was imported
    assert document["at_start"] == []
    # When an operator asks for the columns of a CSV sample, numpy unavailable
    # Then they are inferred and described in words, and each can be chosen to predict
    assert document["status"] == 200, document["body"]
    columns = {c["name"]: c for c in document["body"]["columns"]}
    assert list(columns) == ["age", "segment", "default"]
    assert columns["age"]["kind"] == "numbers"
