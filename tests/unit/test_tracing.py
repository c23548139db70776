"""X-Ray tracing costs only the invocations X-Ray samples: the predict handler, in a process set up as
Lambda sets one up with active tracing, never imports the X-Ray SDK for an unsampled invocation, and
sends a segment to the X-Ray daemon address for a sampled one."""

from __future__ import annotations

from pathlib import Path

from tests.unit.child_handler import PREDICT_FUNCTION, PREDICT_VARIABLES, run_child

CHILD = """
import json, os, socket, sys
sys.path.insert(0, FUNCTION)
daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
daemon.bind(("127.0.0.1", 0))
daemon.settimeout(10)
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % daemon.getsockname()[1]
import app

event = json.loads(open(EVENT).read())


class Context:
    function_name = "PredictFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id = "traced"
    function_version = "1"

    def get_remaining_time_in_millis(self):
        return 10_000


def invoke(sampled):
    os.environ["_X_AMZN_TRACE_ID"] = (
        "Root=1-6747a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=%d" % sampled
    )
    return app.lambda_handler(dict(event), Context())["statusCode"]


result = {"imported_at_start": "aws_xray_sdk" in sys.modules}
result["unsampled"] = invoke(0)
result["imported_after_unsampled"] = "aws_xray_sdk" in sys.modules
result["sampled"] = invoke(1)
result["imported_after_sampled"] = "aws_xray_sdk" in sys.modules
header, _, body = daemon.recv(65536).decode().partition("\\n")
segment = json.loads(body)
result["segment"] = {"trace_id": segment.get("trace_id"), "name": segment.get("name")}
print(json.dumps(result))
"""


def test_only_a_sampled_invocation_loads_x_ray_and_sends_a_segment(tmp_path: Path) -> None:
    # Given the predict handler in an environment like Lambda's with active tracing
    env = {
        **PREDICT_VARIABLES,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LAMBDA_TASK_ROOT": str(PREDICT_FUNCTION),
        "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction",
        "POWERTOOLS_TRACE_DISABLED": "false",
    }

    # When it answers an unsampled invocation, then a sampled one
    document = run_child(CHILD, env, tmp_path)

    # Then the X-Ray SDK was not imported until the sampled invocation, and both were answered
    assert document["imported_at_start"] is False
    assert document["unsampled"] == 200 and document["imported_after_unsampled"] is False
    assert document["sampled"] == 200 and document["imported_after_sampled"] is True
    # And the sampled one sent a segment of the invocation's trace to the daemon
    assert document["segment"]["trace_id"] == "1-6747a1b2-0123456789abcdef01234567"
