"""`sluice batch MODEL s3://BUCKET/KEY.csv [--wait] [--json]`: score a CSV in S3 with the model's
production version on the stack's BatchScore state machine (a Distributed Map); the version is pinned
when the job starts. Results go to `batch-results/<model>/<job>/` in the artifact bucket: CSV parts,
an errors file per batch with bad rows (row, field, reason) and manifest.json with the counts. With
`--explain`, each part also has `base_value` and a `contribution_<feature>` column per input beside the
scores (as /explain computes them).

The stack is found as for `sluice models` (`--stack-outputs`, `--stack-name`, or `sluice local up`)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from sluice.entrypoints.cli.common import EXIT_FAILED, EXIT_OK, CommandError, print_json, progress
from sluice.entrypoints.cli.models import add_stack_arguments, stack_deps_of
from sluice.errors import ArtifactNotFound, ModelNotFound, SluiceError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("batch", help="score a CSV in S3 with a model's production version")
    parser.add_argument("model", help="the model to score with (its production version, pinned at start)")
    parser.add_argument("source", help="s3://bucket/key.csv: the rows to score (a header row first)")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="add each row's explanation: base_value and one contribution_<feature> column per input",
    )
    parser.add_argument("--wait", action="store_true", help="wait for the job and report its manifest")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits (default 3600)")
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sluice.app.batch.job import start_batch_job

    deps = stack_deps_of(args)
    try:
        job = start_batch_job(args.model, args.source, deps, explain=args.explain)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    except (ModelNotFound, ArtifactNotFound) as exc:
        raise CommandError(str(exc), EXIT_FAILED) from exc
    except SluiceError as exc:  # the stack could not be reached (credentials, endpoint)
        raise CommandError(str(exc)) from exc
    result: dict[str, Any] = job.model_dump(mode="json")
    if not args.wait:
        _report(result, args.json)
        return EXIT_OK
    progress(f"job {job.job_id} started; waiting for {job.execution_arn}")
    status = _wait(deps.batch, job.execution_arn, args.timeout)
    result["status"] = status
    try:
        result["manifest"] = json.loads(deps.artifacts.get_bytes(job.results + "manifest.json"))
    except SluiceError:
        result["manifest"] = None
    _report(result, args.json)
    return EXIT_OK if status == "SUCCEEDED" else EXIT_FAILED


def _wait(executions: Any, arn: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(executions.describe(arn)["status"])
        if status != "RUNNING":
            return status
        if time.monotonic() > deadline:
            raise CommandError(f"{arn} still running after {timeout:g}s", EXIT_FAILED)
        time.sleep(0.5)


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    print(f"{result['model']} job {result['job_id']}: {result.get('status', 'started')}")
    print(f"results: {result['results']}")
    manifest = result.get("manifest")
    if manifest:
        print(
            f"version {manifest['version']}: {manifest['rows_in']} rows in, {manifest['rows_scored']} scored, "
            f"{manifest['rows_rejected']} rejected, {manifest['rows_failed']} failed"
        )
        if manifest.get("error"):
            print(f"error: {manifest['error']}")
