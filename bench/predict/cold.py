"""Cold start budget (docs/benchmarks.md) of PredictFunction: a new process per sample (imports +
model load from the stack + first request), against the scikit-learn equivalent, with the stack served by
`sluice local up` in a background process. Variants: the handler in the venv, the `sam build` bundle
(plain, for an invocation X-Ray samples, and with SnapStart modelled), scikit-learn with its pickle from
the stack and from a local file; then where the built handler's import goes.

`python -m bench.predict.cold [--compare BUILD_DIR] [--samples N]` from the repository root; --compare
adds another `sam build` output's PredictFunction (e.g. of an earlier commit) to the runs, --samples
takes more samples of each (the machine's noise shrinks with them). It reuses .aws-sam/build
when that is newer than its sources, else runs `make build` (bench.predict.size).
Nothing here asserts on time: it prints tables with the budgets and PASS/MISS.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.predict.common import (
    HANDLER_FILE,
    MODEL,
    SPEC_FILE,
    ColdRun,
    api_event,
    aws,
    request_instances,
    run_bench,
    run_child,
    served_stack,
    spec_features,
    table,
    training_csv,
    verdict,
)
from bench.predict.imports import import_breakdown, import_table
from bench.predict.size import predict_bundle, sam_build

COLD_SAMPLES = 5  # after one discarded run of each variant (it warms the page cache)
COLD_BUDGET = 0.25  # cold start ≤ 0.25× scikit-learn's, to the first response (docs/benchmarks.md)
SKLEARN_STACK = "scikit-learn, pickle from the stack"
BUILT = "Sluice handler (sam build bundle)"
SNAPSTART = "Sluice, sam build bundle, SnapStart modelled"
TRACED = "Sluice (sam build bundle), X-Ray sampled"
SKLEARN_FILE = "scikit-learn, pickle from a file"
ISOLATED = [
    "-I",
    "-S",
    "-B",
]  # only the bundle and the runtime's boto3; no bytecode written (/opt is read-only)
SKLEARN_MODULES = [
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.preprocessing",
    "sklearn.ensemble",
]
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six.py", "jmespath")

Variant = tuple[str, list[str], dict[str, Any]]  # label, command before child.py, the child's arguments


def bench_cold(build: Path | None, compare: Path | None, samples: int = COLD_SAMPLES) -> None:
    """Train on a served stack, start every variant `samples` + 1 times in turn (the first round is
    discarded), then print the cold-start table and, for the built bundle, its import breakdown."""
    breakdown = None
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        folder = Path(tmp)
        with served_stack(folder) as ready:
            endpoint, outputs = ready["endpoint_url"], ready["outputs"]
            train_on_server(endpoint, outputs)
            name, env = predict_function(endpoint)
            event_file = folder / "event.json"
            event_file.write_text(
                json.dumps(api_event(json.dumps({"instances": request_instances(1)}).encode()))
            )
            common = {"event": str(event_file), "out": str(folder / "out.json"), "function_name": name}
            variants = sluice_variants(common, build, compare, folder)
            variants += sklearn_variants(common, endpoint, outputs, folder)
            runs = {label: ColdRun() for label, _, _ in variants}
            for sample in range(samples + 1):
                for label, command, args in variants:
                    run_env = {**env, **traced_env(build)} if build is not None and label == TRACED else env
                    run_child(command, run_env, args, folder, runs[label] if sample else None)
            if build is not None:
                breakdown = import_breakdown([sys.executable, *ISOLATED], bundle_path(build, folder), env)
    cold_table(runs, samples)
    if breakdown is not None:
        import_table(breakdown)


def train_on_server(endpoint: str, outputs: dict[str, str]) -> None:
    """Upload the spec, then the training data, and wait until a version is in production."""
    from sluice.adapters.registry.store import Registry

    s3, registry = aws("s3", endpoint), Registry(outputs["RegistryTableName"], aws("dynamodb", endpoint))
    s3.put_object(Bucket=outputs["RawBucketName"], Key=f"{MODEL}/spec.yaml", Body=SPEC_FILE.read_bytes())
    deadline = time.monotonic() + 60
    while registry.model_meta(MODEL) is None:  # S3 events are not ordered: the spec first
        if time.monotonic() > deadline:
            raise SystemExit("the served stack did not register the spec")
        time.sleep(0.1)
    s3.put_object(Bucket=outputs["RawBucketName"], Key=f"{MODEL}/data/bench.csv", Body=training_csv())
    sfn, machine_arn = aws("stepfunctions", endpoint), outputs["TrainingStateMachineArn"]
    deadline = time.monotonic() + 180
    while True:
        executions = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
        if executions and all(e["status"] != "RUNNING" for e in executions):
            break
        if time.monotonic() > deadline:
            raise SystemExit("training on the served stack did not finish in 180 s")
        time.sleep(0.2)
    if registry.get_alias(MODEL) is None:
        raise SystemExit(f"no production version on the served stack: {executions}")


def predict_function(endpoint: str) -> tuple[str, dict[str, str]]:
    """PredictFunction's name on the served stack and the environment its cold starts run with: the
    function's variables, the stack's endpoint, capture and tracing off."""
    lam = aws("lambda", endpoint)
    name = next(
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if "-PredictFunction-" in f["FunctionName"]
    )
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "LANG": "C.UTF-8",
        **{k: str(v) for k, v in variables.items()},
        "CAPTURE_FRACTION": "0",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return name, env


def sluice_variants(
    common: dict[str, Any], build: Path | None, compare: Path | None, folder: Path
) -> list[Variant]:
    """The handler in the venv; with a build, its bundle plain, X-Ray sampled and SnapStart modelled;
    with `compare`, that build's bundle too."""
    variants: list[Variant] = [
        (
            "Sluice handler (venv)",
            [sys.executable],
            {**common, "mode": "sluice", "handler_file": str(HANDLER_FILE)},
        )
    ]
    if build is not None:
        built = {
            **common,
            "mode": "sluice",
            "handler_file": str(build / "PredictFunction" / "app.py"),
            "sys_path": bundle_path(build, folder),
        }
        variants.append((BUILT, [sys.executable, *ISOLATED], built))
        variants.append((TRACED, [sys.executable, *ISOLATED], built))
        variants.append((SNAPSTART, [sys.executable, *ISOLATED], {**built, "snapstart": True}))
    if compare is not None:  # another build of PredictFunction and its layers, same layout
        other = {
            **common,
            "mode": "sluice",
            "handler_file": str(compare / "PredictFunction" / "app.py"),
            "sys_path": bundle_path(compare, folder),
        }
        variants.append((f"Sluice handler ({compare})", [sys.executable, *ISOLATED], other))
    return variants


def sklearn_variants(
    common: dict[str, Any], endpoint: str, outputs: dict[str, str], folder: Path
) -> list[Variant]:
    """scikit-learn unpickling the stack's pipeline.pkl fetched from the stack, then from a local copy."""
    pickle_key = {"bucket": outputs["ArtifactBucketName"], "key": f"models/{MODEL}/1/pipeline.pkl"}
    pickle_file = folder / "pipeline.pkl"
    s3 = aws("s3", endpoint)
    pickle_file.write_bytes(s3.get_object(Bucket=pickle_key["bucket"], Key=pickle_key["key"])["Body"].read())
    sklearn_args = {
        **common,
        "mode": "sklearn",
        "features": spec_features(),
        "sklearn_modules": SKLEARN_MODULES,
    }
    return [
        (SKLEARN_STACK, [sys.executable], {**sklearn_args, "s3": pickle_key}),
        (SKLEARN_FILE, [sys.executable], {**sklearn_args, "pickle": str(pickle_file)}),
    ]


def bundle_path(build: Path, folder: Path) -> list[str]:
    """sys.path of a built PredictFunction as Lambda has it: the function, its layers, the runtime."""
    return [str(p) for _, p in predict_bundle(build)] + [str(runtime_folder(folder))]


def runtime_folder(folder: Path) -> Path:
    """What the python3.12 Lambda runtime adds to a bundle: boto3 and its dependencies (symlinked)."""
    runtime = folder / "runtime"
    runtime.mkdir(exist_ok=True)
    site = Path(str(importlib.util.find_spec("botocore").origin)).parents[1]  # type: ignore[union-attr]  # where it is installed
    for name in RUNTIME_PACKAGES:
        if (site / name).exists() and not (runtime / name).exists():
            (runtime / name).symlink_to(site / name)
    return runtime


def traced_env(build: Path) -> dict[str, str]:
    """The variables Lambda sets for an invocation X-Ray samples (active tracing): the X-Ray SDK is
    imported and botocore patched during that request. Segments go by UDP to a port nobody reads."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return {
        "POWERTOOLS_TRACE_DISABLED": "false",
        "LAMBDA_TASK_ROOT": str(build / "PredictFunction"),
        "_X_AMZN_TRACE_ID": "Root=1-6747a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }


def cold_table(runs: dict[str, ColdRun], samples: int = COLD_SAMPLES) -> None:
    """The table of every variant but SnapStart's, what the 1st request spends, SnapStart modelled, and
    the budgets against scikit-learn."""
    print(
        f"\nCold start: a new process per sample (median of {samples}, after one discarded run of each).\n"
        "to 1st response = from the parent's Popen to the end of the first request (start + import + load +\n"
        "1st request); wall = Popen to exit (adds interpreter teardown, which Lambda never waits for).\n"
        "start = until the child's first line (interpreter + site); import = the handler module, which is\n"
        "Lambda's init (Sluice: the modules a prediction needs, then the settings and the deps with their boto3\n"
        "clients), or numpy + the sklearn modules the pickle needs (+ boto3 when it comes from the stack);\n"
        "load = fetch + unpickle; Sluice's 1st request = alias + version reads and model fetch over HTTP from\n"
        "`sluice local up` (moto server on 127.0.0.1), sha256, ONNX session, predict; capture off.\n"
        "The sam build bundle runs with `python -I -S -B`: only the bundle and the runtime's boto3, and no\n"
        "bytecode written at run time (/opt is read-only on Lambda; the serving layers ship their own .pyc).\n"
        "CPU ms = the child's CPU time at its first response: what a busy machine changes least (the stack's\n"
        "answers, in another process, are not in it)."
    )
    base = runs[SKLEARN_STACK]
    rows = []
    for label, run in runs.items():
        if label == SNAPSTART:  # its own line below: its imports are in the snapshot
            continue
        has_load = "load_s" in run.results[0]
        rows.append(
            [
                label,
                f"{run.first_response_ms:,.0f}",
                f"{statistics.median(run.wall_ms):,.0f}",
                f"{run.median('start_s'):,.0f}",
                f"{run.median('import_s'):,.0f}",
                f"{run.median('load_s'):,.0f}" if has_load else "-",
                f"{run.median('first_s'):,.1f}",
                f"{run.median('second_s'):,.1f}",
                f"{run.median('exit_s'):,.0f}",
                f"{run.first_response_ms / base.first_response_ms:.2f}×",
                f"{run.median('cpu_s'):,.0f}",
                f"{run.median('cpu_s') / base.median('cpu_s'):.2f}×",
            ]
        )
    headers = ["process", "to 1st response ms", "wall ms", "start", "import", "load", "1st req", "2nd req"]
    table([*headers, "exit", "÷ sklearn (stack)", "CPU ms", "CPU ÷ sklearn"], rows)
    print_first_requests(runs)
    if SNAPSTART in runs:
        print_snapstart(runs[SNAPSTART], base)
    print_budgets(runs)


def print_first_requests(runs: dict[str, ColdRun]) -> None:
    """Where the Sluice variants' init and 1st request go, their statuses, and any heavy library
    imported."""
    for label, run in runs.items():
        if "parts" in run.results[0]:
            parts = ("boto3 clients", "registry reads", "model fetch + sha256", "ORT session + metadata")
            print(
                f"{label}: init's boto3 clients (botocore's import, models parsed) {run.part('init: boto3 clients'):,.1f} ms;"
                " inside the 1st request: " + ", ".join(f"{p} {run.part(p):,.1f} ms" for p in parts)
            )
            heavy = sorted({m for r in run.results for m in r["heavy"]})
            statuses = sorted({s for r in run.results for s in r["status"]})
            print(f"  statuses {statuses}; scikit-learn/scipy/pandas imported: {', '.join(heavy) or 'none'}")


def print_snapstart(snap: ColdRun, base: ColdRun) -> None:
    restored = statistics.median((r["restore_hook_s"] + r["first_s"]) * 1000 for r in snap.results)
    print(
        f"SnapStart modelled ({SNAPSTART}): the init that is snapshotted (imports, the deps and their boto3\n"
        f"clients, the before-snapshot hook: the X-Ray SDK if traced) takes "
        f"{snap.median('import_s') + snap.median('snapshot_s'):,.0f} ms and is not on any request's path; a restored copy\n"
        f"runs the after-restore hook ({snap.median('restore_hook_s'):,.1f} ms: a new session and clients from the "
        f"parsed models it carries,\nof which clients {snap.part('restore: boto3 clients'):,.1f} ms; reseed) and its 1st "
        f"request ({snap.median('first_s'):,.0f} ms: alias, model fetch, ORT session;\nclients "
        f"{snap.part('boto3 clients'):,.1f} ms): {restored:,.0f} ms, plus Lambda's own restore of the snapshot (not "
        f"measurable here).\nAgainst scikit-learn's cold start: {restored / base.first_response_ms:.2f}× of its time."
    )


def print_budgets(runs: dict[str, ColdRun]) -> None:
    base = runs[SKLEARN_STACK]
    for label, run in runs.items():
        if "parts" not in run.results[0] or label == SNAPSTART:
            continue
        ratio = run.first_response_ms / base.first_response_ms
        print(
            f"budget: {label} cold start ≤ {COLD_BUDGET}× scikit-learn's (to 1st response, both loading from the "
            f"stack): {ratio:.2f}× {verdict(ratio <= COLD_BUDGET)}"
        )
        by_file = run.first_response_ms / runs[SKLEARN_FILE].first_response_ms
        by_wall = statistics.median(run.wall_ms) / statistics.median(base.wall_ms)
        print(
            f"        against scikit-learn with its pickle in a local file: {by_file:.2f}× {verdict(by_file <= COLD_BUDGET)}; "
            f"by wall time to exit: {by_wall:.2f}× {verdict(by_wall <= COLD_BUDGET)}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.predict.cold", description="Cold start of PredictFunction against scikit-learn."
    )
    parser.add_argument("--compare", type=Path, metavar="BUILD_DIR", help="another sam build's output to add")
    parser.add_argument("--samples", type=int, default=COLD_SAMPLES, help="cold starts of each variant")
    options = parser.parse_args()

    def bench() -> None:
        build, how = sam_build()
        print(f"\nsam build bundle for the cold starts: {how}")
        bench_cold(build, options.compare.resolve() if options.compare else None, options.samples)

    return run_bench("bench.predict.cold", bench)


if __name__ == "__main__":
    sys.exit(main())
