"""`sluice invoke <LogicalId> -e EVENT.json [--endpoint-url URL]`: the `sam local invoke` of this project
without Docker. Runs the function's handler once, in this process, with the environment template.yaml
gives it (resolved to the stack's physical names) plus env.json overrides, and prints the response.

Without --endpoint-url (or AWS_ENDPOINT_URL) a fresh in-process stack is deployed for the call. Strings
like `${RawBucketName}` in the event are replaced with the stack's outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sluice.entrypoints.cli.common import EXIT_FAILED, EXIT_OK, CommandError, print_json
from sluice.errors import SluiceError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("invoke", help="run one function's handler in-process with an event")
    parser.add_argument("function", metavar="LogicalId", help="the function's logical id in template.yaml")
    parser.add_argument("-e", "--event", type=Path, required=True, help="event JSON file")
    parser.add_argument(
        "--endpoint-url", help="a running local stack (default: AWS_ENDPOINT_URL, else a fresh one)"
    )
    parser.add_argument(
        "--env-vars", type=Path, help="env.json-style overrides (default: env.json if present)"
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="project folder with template.yaml")
    parser.add_argument(
        "--stack-name", default=None, help="stack name at the endpoint (default sluice-local)"
    )
    parser.set_defaults(func=run)


def read_event(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"{path}: cannot read ({exc.strerror})") from exc
    except ValueError as exc:
        raise CommandError(f"{path}: not JSON ({exc})") from exc


def invoke_with(stack: Any, function: str, event: Any) -> dict[str, Any]:
    """Invoke on a deployed LocalStack; the printed document is the response or the Lambda error."""
    from sluice.tools.local.events import resolve_placeholders
    from sluice.tools.local.lambda_runtime.runtime import handler_output_to_stderr

    echoed = stack.echo_function_logs(True)  # the handler's log on stderr, as `sam local invoke` prints it
    try:
        with handler_output_to_stderr():
            outcome = stack.invoke(function, resolve_placeholders(event, stack.outputs))
    finally:
        stack.echo_function_logs(echoed)
    if outcome.failed:
        return {"errorType": outcome.error["errorType"], "errorMessage": outcome.error["errorMessage"]}
    return {"response": outcome.payload}


def run(args: argparse.Namespace) -> int:
    from sluice.adapters import AwsSettings
    from sluice.tools.local.deploy import DEFAULT_STACK_NAME
    from sluice.tools.local.in_process import in_process_stack
    from sluice.tools.local.lambda_runtime.runtime import handler_output_to_stderr, load_env_overrides
    from sluice.tools.local.stack import LocalStack

    root = args.root.resolve()
    event = read_event(args.event)
    env_file = args.env_vars or root / "env.json"
    if args.env_vars is not None and not env_file.is_file():
        raise CommandError(f"{env_file}: no such file")
    overrides = load_env_overrides(env_file)
    endpoint = args.endpoint_url or AwsSettings.from_env().aws_endpoint_url
    stack_name = args.stack_name or DEFAULT_STACK_NAME
    try:
        # stdout carries only the response: whatever the stack or a handler prints (Powertools logs,
        # EMF metrics, moto) goes to stderr, as `sam local invoke` does.
        with handler_output_to_stderr():
            if endpoint:
                stack = LocalStack(
                    root, stack_name=stack_name, endpoint_url=endpoint, env_overrides=overrides
                )
                stack.attach()
                document = invoke_with(stack, args.function, event)
            else:
                with in_process_stack(root, stack_name=stack_name, env_overrides=overrides) as stack:
                    document = invoke_with(stack, args.function, event)
    except SluiceError as exc:
        raise CommandError(str(exc)) from exc
    print_json(document.get("response", document))
    return EXIT_FAILED if "errorType" in document else EXIT_OK
