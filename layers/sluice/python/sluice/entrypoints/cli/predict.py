"""`sluice predict MODEL --data FILE.csv | --json '{"instances": [...]}' [--explain] [--api-url URL] [--json]`:
score rows with the model in production, through the prediction API, signed as the API requires. With
`--explain`, through /explain: each row's prediction with its three largest contributions in words (the
full contributions with --json).

Requests are signed with SigV4 (service execute-api) with the caller's AWS credentials (boto3's chain:
environment, profile, ...), or carry an API key (`--api-key`, SLUICE_API_KEY) when the stack runs with
ApiAuth=API_KEY. The API is `--api-url`, else a running `sluice local up` (.sluice/local.json; then its
credentials or key are used: the local front accepts only those), else the `PredictionApiUrl` output
of `--stack-name`.
A CSV becomes instances with the model's features (read from GET /models/MODEL): numbers as numbers,
empty cells as null, other columns (target, sensitive) left out."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice.entrypoints.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    STATE_FILE,
    CommandError,
    cloudformation_outputs,
    print_json,
    progress,
    require_file,
)

if TYPE_CHECKING:
    from sluice.adapters.prediction_api import Response, SignedClient

OUTPUT_JSON = "\0output"  # what a bare `--json` (no document after it) stands for
CHUNK = 500  # instances per request (the API refuses more than MaxInstances, 1000 by default)
EXPLAIN_CHUNK = 15  # instances per /explain request: 15 × 2^12 × 16 model rows fit its limit (1,000,000)
_REGION_IN_URL = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="score rows with a model's production version through the API (signed requests)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="the model's name")
    parser.add_argument("--data", type=Path, help="a CSV with a header row; one instance per row")
    parser.add_argument(
        "--json",
        dest="json_args",
        action="append",
        nargs="?",
        const=OUTPUT_JSON,
        metavar="DOCUMENT",
        help="with a DOCUMENT ('{\"instances\": [...]}', or @FILE): the request to send; "
        "alone: print the answer as JSON (both may be given)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="explain each prediction (POST /models/MODEL/explain)"
    )
    parser.add_argument("--api-url", help="the API's URL (default: .sluice/local.json, then --stack-name)")
    parser.add_argument("--stack-name", help="read the PredictionApiUrl output of this CloudFormation stack")
    parser.add_argument(
        "--api-key", default=os.environ.get("SLUICE_API_KEY"), help="send x-api-key instead of signing"
    )
    parser.add_argument("--region", help="the signing region (default: from the URL, then your AWS config)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    values: list[str] = args.json_args or []
    as_json = OUTPUT_JSON in values
    documents = [v for v in values if v != OUTPUT_JSON]
    if len(documents) + (args.data is not None) != 1:
        raise CommandError(
            "give the rows to score: either --data FILE.csv or --json '{\"instances\": [...]}'"
        )
    local = _local_state()
    api_url = args.api_url or (local or {}).get("api_url") or _stack_api_url(args.stack_name)
    client = _client(args, str(api_url), local if not args.api_url else None)
    try:
        if args.data is not None:
            instances = _csv_instances(client, args.model, require_file(args.data))
            document: Any = {"instances": instances}
        else:
            document = _json_document(documents[0])
        answer = _predict(client, args.model, document, "explain" if args.explain else "predict")
    finally:
        client.close()
    if "error" in answer or "message" in answer:
        if as_json:
            print_json(answer)
        _report_error(answer)
        return EXIT_FAILED
    if as_json:
        print_json(answer)
    else:
        _print_table(answer)
        _print_explanations(answer)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- finding
def _local_state() -> dict[str, Any] | None:
    if not STATE_FILE.is_file():
        return None
    try:
        document = json.loads(STATE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("api_url") else None


def _stack_api_url(stack_name: str | None) -> str:
    if not stack_name:
        raise CommandError(
            "no API: pass --api-url URL or --stack-name NAME (PredictionApiUrl), or run `sluice local up`"
        )
    outputs = cloudformation_outputs(stack_name)
    if "PredictionApiUrl" not in outputs:
        raise CommandError(f"stack {stack_name} has no PredictionApiUrl output")
    return str(outputs["PredictionApiUrl"])


def _client(args: argparse.Namespace, api_url: str, local: dict[str, Any] | None) -> SignedClient:
    """Signed with the caller's credentials (a running local stack's own), or with an API key."""
    import boto3

    from sluice.adapters.prediction_api import API_KEY, SignedClient, credentials_of

    try:
        if args.api_key or (local and local.get("auth") == API_KEY):
            return SignedClient(api_url, api_key=str(args.api_key or (local or {}).get("api_key")))
        session = boto3.session.Session()
        found = _REGION_IN_URL.search(api_url)
        region = args.region or (found.group(1) if found else None) or session.region_name or "us-east-1"
        if local and local.get("credentials"):  # the local front accepts only the pair it announced
            return SignedClient(api_url, credentials_of(local["credentials"]), region=region)
        credentials = session.get_credentials()
        if credentials is None:
            raise CommandError(
                "no AWS credentials to sign with: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile "
                "(or --api-key for an API_KEY stack)"
            )
        return SignedClient(api_url, credentials.get_frozen_credentials(), region=region)
    except ValueError as exc:
        raise CommandError(f"--api-url: {exc}") from exc


# ---------------------------------------------------------------------------------------------- input
def _json_document(text: str) -> Any:
    if text.startswith("@"):
        path = require_file(Path(text[1:]))
        text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"--json: not valid JSON ({exc})") from exc
    return {"instances": document} if isinstance(document, list) else document


def _csv_instances(client: SignedClient, model: str, path: Path) -> list[dict[str, Any]]:
    detail = _call(client, "GET", f"/models/{model}")
    if "input_schema" not in detail:
        _report_error(detail)
        raise CommandError(f"cannot read the features of model {model!r}", exit_code=EXIT_FAILED)
    features = [(str(f["name"]), f.get("type") == "numeric") for f in detail["input_schema"]]
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"{path}: cannot read CSV ({exc})") from exc
    if not rows:
        raise CommandError(f"{path}: no rows")
    return [{name: _cell(row[name], numeric) for name, numeric in features if name in row} for row in rows]


def _cell(text: str | None, numeric: bool) -> Any:
    """Empty is null; a numeric feature's cell is a number when it reads as one (else sent as written,
    so the API names the field)."""
    if text is None or text.strip() == "":
        return None
    if not numeric:
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


# ---------------------------------------------------------------------------------------------- calls
def _call(client: SignedClient, method: str, path: str, body: Any = None) -> dict[str, Any]:
    try:
        response: Response = client.request(method, path, body)
    except OSError as exc:
        raise CommandError(f"cannot reach the API at {client.api_url}: {exc}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {"error": f"HTTP {response.status}: {response.body[:200]!r}"}
    if response.status >= 400:
        answer.setdefault("status", response.status)
        if response.status == 403 and "message" in answer:
            answer["hint"] = "check the credentials (or API key) this stack accepts"
    return answer


def _predict(client: SignedClient, model: str, document: Any, route: str = "predict") -> dict[str, Any]:
    """One request to /predict (or /explain), or one per CHUNK instances merged into one answer."""
    path = f"/models/{model}/{route}"
    chunk = EXPLAIN_CHUNK if route == "explain" else CHUNK
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list) or len(instances) <= chunk:
        return _call(client, "POST", path, document)
    merged: dict[str, Any] = {}
    for start in range(0, len(instances), chunk):
        answer = _call(client, "POST", path, {"instances": instances[start : start + chunk]})
        if "error" in answer or "message" in answer:
            for detail in answer.get("details") or []:
                if isinstance(detail, dict) and isinstance(detail.get("instance"), int):
                    detail["instance"] += start
            return answer
        if not merged:
            merged = {**answer, "request_ids": []}
            merged.pop("request_id", None)
            for listed in ("predictions", "probabilities", "explanations"):
                if listed in answer:
                    merged[listed] = []
        merged["request_ids"].append(answer.get("request_id"))
        for listed in ("predictions", "probabilities", "explanations"):
            if listed in answer:
                merged[listed] += answer[listed]
    return merged


# ---------------------------------------------------------------------------------------------- output
def _report_error(answer: dict[str, Any]) -> None:
    message = answer.get("error") or answer.get("message") or "the API refused the request"
    status = answer.get("status")
    print(f"sluice predict: {f'HTTP {status}: ' if status else ''}{message}", file=sys.stderr)
    for detail in (answer.get("details") or [])[:20]:
        if isinstance(detail, dict):
            where = f"instance {detail.get('instance')}" + (
                f", {detail['field']}" if detail.get("field") else ""
            )
            print(f"  {where}: {detail.get('message')}", file=sys.stderr)
    if answer.get("hint"):
        print(f"  ({answer['hint']})", file=sys.stderr)


def _print_table(answer: dict[str, Any]) -> None:
    classes = answer.get("classes")
    header = ["row", "prediction", *(f"p({c})" for c in classes or [])]
    rows = []
    for i, prediction in enumerate(answer.get("predictions") or []):
        row = [str(i), _number(prediction)]
        if classes:
            row += [f"{p:.3f}" for p in answer["probabilities"][i]]
        rows.append(row)
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    progress(f"model {answer.get('model')} version {answer.get('version')}: {len(rows)} predictions")
    for row in [header, *rows]:
        sys.stdout.write("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) + "\n")


def _print_explanations(answer: dict[str, Any]) -> None:
    """Each row's explanation: what is explained, from what base value, and its largest contributions."""
    for i, explanation in enumerate(answer.get("explanations") or []):
        method = explanation.get("method")
        if explanation.get("error_bound") is not None:
            method = f"{method}, ±{explanation['error_bound']:.2g}"
        sys.stdout.write(
            f"row {i}: {explanation.get('explained')} {_number(explanation.get('output'))} "
            f"(base value {_number(explanation.get('base_value'))}; {method})\n"
        )
        for sentence in explanation.get("sentences") or []:
            sys.stdout.write(f"  {sentence}\n")


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
