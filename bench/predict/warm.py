"""Warm latency budgets (docs/benchmarks.md) of PredictFunction's real handler, against its baselines
in the same run.

The handler is functions/predict/app.py on an API Gateway REST proxy event, with the function's
environment and the model trained and promoted in an in-process moto stack. Its baselines are a minimal
ONNX handler and a scikit-learn-from-pickle handler for the same model. For 1, 100 and 1,000 rows, with
capture at 0, 10 and 100%; same process, interleaved rounds; then where the handler's time goes, layer
by layer.

`python -m bench.predict.warm [--profile]` from the repository root; --profile adds a cProfile of the
warm single-row handler. Nothing here asserts on time: it prints tables with the budgets and PASS/MISS.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import pickle
import pstats
import sys
from dataclasses import dataclass
from typing import Any

from bench.predict.child import Handler, minimal_handler, sklearn_handler
from bench.predict.common import (
    HANDLER_FILE,
    MODEL,
    SPEC_FILE,
    Case,
    api_event,
    in_process_stack,
    median_us,
    quiet,
    request_instances,
    run_bench,
    run_interleaved,
    spec_features,
    table,
    training_csv,
    verdict,
)

BATCHES = (1, 100, 1000)
CAPTURES = (0.0, 0.1, 1.0)  # off, the template default, everything (env.json locally)
ROUNDS = 5  # warm cases run interleaved, this many rounds each
CALLS_PER_ROUND = {1: (400, 60), 100: (100, 40), 1000: (20, 10)}  # (ONNX handlers, scikit-learn)
LAYER_RUNS = {1: 2000, 100: 300, 1000: 40}
# The budgets (docs/benchmarks.md): warm ≤ 2× the minimal handler for one row and ≤ 1.2× for 1,000 (none set for 100), at least
# 25× faster than scikit-learn for one row.
WARM_BUDGET = {1: 2.0, 1000: 1.2}
SKLEARN_BUDGET = 25.0
INTRO = (
    "\nWarm predict: time of one handler call (event in, response dict out), median/p95/mean µs.\n"
    "Sluice = functions/predict/app.py lambda_handler (Powertools Logger/Tracer/Metrics decorators,\n"
    "APIGatewayRestResolver without per-request validation, schema checks, ONNX Runtime) on an API\n"
    "Gateway REST proxy event; model v1 loaded from the in-process moto stack, ALIAS_TTL 60 s (no\n"
    "registry read on these calls), tracing disabled (POWERTOOLS_TRACE_DISABLED, as locally).\n"
    "minimal = json.loads + session.run + json.dumps on the same ONNX bytes and session options.\n"
    "scikit-learn = json.loads + pickled pipeline.predict_proba (the stack's pipeline.pkl) + json.dumps.\n"
    "Rounds interleave all handlers; single-row requests cycle through 1,000 different rows."
)


@dataclass
class Handlers:
    """One warm container of the Sluice handler per capture fraction, the two baselines, the model they
    all serve (as sluice.app.serving.production serves it, for timing its layers alone) and the Lambda context."""

    modules: dict[float, Any]
    minimal: Handler
    sklearn: Handler
    served: Any
    context: Any


def bench_warm(profile: bool) -> None:
    """Train the model on an in-process stack, then print one latency table per batch size."""
    with in_process_stack() as stack:
        with quiet():  # training prints moto warnings, logs and metrics
            handlers = trained_handlers(stack)
        print(INTRO)
        instances = request_instances(max(BATCHES))
        for rows in BATCHES:
            bench_batch(stack, handlers, instances, rows)
        if profile:
            singles = [json.dumps({"instances": [row]}).encode() for row in instances]
            profile_handler(handlers.modules[0.0].lambda_handler, singles, handlers.context)


def trained_handlers(stack: Any) -> Handlers:
    """Train and promote the example model on the stack, then import one handler module (one warm
    container) per capture fraction and build the baselines on the same model."""
    from sluice.app.serving.production import ServedModel
    from sluice.domain.scoring.onnx_model import OnnxModel
    from sluice.tools.local.lambda_runtime.runtime import RUNTIME_ENV, LambdaContext

    s3 = stack.client("s3")
    raw, artifacts = stack.outputs["RawBucketName"], stack.outputs["ArtifactBucketName"]
    s3.put_object(Bucket=raw, Key=f"{MODEL}/spec.yaml", Body=SPEC_FILE.read_bytes())
    stack.wait_for_executions()
    s3.put_object(Bucket=raw, Key=f"{MODEL}/data/bench.csv", Body=training_csv())
    executions = stack.wait_for_executions()
    if [e["status"] for e in executions] != ["SUCCEEDED"]:
        raise SystemExit(f"training on the in-process stack: {executions}")
    config = stack.function_configuration("PredictFunction")
    env = {
        **RUNTIME_ENV,
        **stack.function_environment("PredictFunction"),
        "AWS_REGION": stack.region,
        "AWS_DEFAULT_REGION": stack.region,
        "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
        "ALIAS_TTL_SECONDS": "60",  # the template default: no registry read on warm calls
    }
    os.environ.pop("AWS_ENDPOINT_URL", None)

    def artifact(name: str) -> bytes:
        data: bytes = s3.get_object(Bucket=artifacts, Key=f"models/{MODEL}/1/{name}")["Body"].read()
        return data

    model_bytes, pipeline_bytes = artifact("model.onnx"), artifact("pipeline.pkl")
    context = LambdaContext(
        function_name=config["FunctionName"],
        invoked_function_arn=config["FunctionArn"],
        memory_limit_in_mb=1024,
    )
    modules = {
        c: load_handler(f"capture{int(c * 100)}", {**env, "CAPTURE_FRACTION": str(c)}, context)
        for c in CAPTURES
    }
    return Handlers(
        modules=modules,
        minimal=minimal_handler(model_bytes),
        sklearn=sklearn_handler(pickle.loads(pipeline_bytes), spec_features()),
        served=ServedModel(name=MODEL, version=1, onnx=OnnxModel(model_bytes)),
        context=context,
    )


def load_handler(tag: str, env: dict[str, str], context: Any) -> Any:
    """functions/predict/app.py imported as a fresh module (one container) with the function's
    environment in os.environ (its init reads the settings and creates the clients), and its first
    request made (the model is loaded from the stack then)."""
    os.environ.update(env)
    spec = importlib.util.spec_from_file_location(f"bench_predict_app_{tag}", HANDLER_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event = api_event(json.dumps({"instances": request_instances(1)}).encode())
    check_response(f"handler {tag}", module.lambda_handler(event, context), 1)
    return module


def check_response(name: str, response: dict[str, Any], rows: int) -> dict[str, Any]:
    """The body of a 200 response with one prediction per row; anything else stops the bench."""
    if response.get("statusCode") != 200:
        raise SystemExit(f"{name}: status {response.get('statusCode')}: {str(response.get('body'))[:500]}")
    body: dict[str, Any] = json.loads(response["body"])
    if len(body["predictions"]) != rows:
        raise SystemExit(f"{name}: {len(body['predictions'])} predictions for {rows} rows")
    return body


def bench_batch(stack: Any, handlers: Handlers, instances: list[dict[str, Any]], rows: int) -> None:
    """Time every handler on `rows`-row requests in interleaved rounds, then print their table, whether
    their outputs agree, the budgets, the cost of capture and where the Sluice handler's time goes."""
    cases = batch_cases(handlers, instances, rows)
    probe = api_event(json.dumps({"instances": instances[:rows]}).encode())
    with quiet():
        bodies = [check_response(c.name, c.handler(probe, handlers.context), rows) for c in cases]
    before = captured_objects(stack)
    run_interleaved(cases, handlers.context, ROUNDS)
    written = captured_objects(stack) - before
    sluice, minimal, sklearn = cases[:3], cases[3], cases[4]
    print(f"\n[{rows} row{'s' if rows > 1 else ''} per request]")
    latency_table(cases, minimal, sklearn)
    print(
        f"outputs: Sluice vs minimal {agreement(bodies[0], bodies[3])}; vs sklearn {agreement(bodies[0], bodies[4])}"
    )
    print_budgets(rows, sluice, minimal, sklearn)
    print_capture_cost(sluice, written)
    layer_table(handlers, rows, instances)


def batch_cases(handlers: Handlers, instances: list[dict[str, Any]], rows: int) -> list[Case]:
    """The Sluice handler at each capture fraction, then the minimal and the scikit-learn handlers, on
    the same events: single rows cycle through all `instances`, batches repeat their first `rows`."""
    fast, slow = CALLS_PER_ROUND[rows]
    if rows == 1:
        singles = [json.dumps({"instances": [row]}).encode() for row in instances]

        def events(i: int) -> dict[str, Any]:
            return api_event(singles[i % len(singles)])

    else:
        body = json.dumps({"instances": instances[:rows]}).encode()

        def events(i: int) -> dict[str, Any]:
            return api_event(body)

    return [
        *(
            Case(f"Sluice handler, capture {c:.0%}", handlers.modules[c].lambda_handler, fast, events)
            for c in CAPTURES
        ),
        Case("minimal handler (ONNX)", handlers.minimal, fast, events),
        Case("scikit-learn from pickle", handlers.sklearn, slow, events),
    ]


def captured_objects(stack: Any) -> int:
    pages = stack.client("s3").get_paginator("list_objects_v2")
    return sum(
        len(p.get("Contents", []))
        for p in pages.paginate(Bucket=stack.outputs["ArtifactBucketName"], Prefix=f"capture/{MODEL}/")
    )


def latency_table(cases: list[Case], minimal: Case, sklearn: Case) -> None:
    table(
        ["handler", "calls", "median µs", "p95 µs", "mean µs", "× minimal", "sklearn ÷"],
        [
            [
                c.name,
                str(len(c.samples)),
                f"{c.median:,.1f}",
                f"{c.p95:,.1f}",
                f"{c.mean:,.1f}",
                f"{c.median / minimal.median:.2f}×",
                f"{sklearn.median / c.median:.1f}×",
            ]
            for c in cases
        ],
    )


def agreement(a: dict[str, Any], b: dict[str, Any]) -> str:
    labels = sum(x == y for x, y in zip(a["predictions"], b["predictions"], strict=True))
    diff = max(
        abs(float(x) - float(y))
        for pa, pb in zip(a["probabilities"], b["probabilities"], strict=True)
        for x, y in zip(pa, pb, strict=True)
    )
    return f"labels {labels}/{len(a['predictions'])} equal, max |Δp| {diff:.1e}"


def print_budgets(rows: int, sluice: list[Case], minimal: Case, sklearn: Case) -> None:
    for c in sluice:
        ratio, speedup = c.median / minimal.median, sklearn.median / c.median
        budgets = []
        if rows in WARM_BUDGET:
            budgets.append(
                f"≤ {WARM_BUDGET[rows]}× minimal: {ratio:.2f}× {verdict(ratio <= WARM_BUDGET[rows])}"
            )
        if rows == 1:
            budgets.append(
                f"≥ {SKLEARN_BUDGET:.0f}× faster than scikit-learn: {speedup:.1f}× "
                f"{verdict(speedup >= SKLEARN_BUDGET)}"
            )
        if budgets:
            print(f"budget (median) {c.name}: {'; '.join(budgets)}")
    if rows > 1:
        print(
            f"(the scikit-learn budget is set for one row; at {rows} rows scikit-learn's forest is "
            f"vectorised and even the minimal handler is only {sklearn.median / minimal.median:.1f}× faster)"
        )


def print_capture_cost(sluice: list[Case], written: int) -> None:
    """Objects captured against the calls sampled at 10% and 100%, and what capturing one costs."""
    off, tenth, every = sluice
    per_capture = every.median - off.median
    expected = 0.1 * len(tenth.samples) + len(every.samples)
    print(
        f"capture: ≈ {expected:,.0f} requests captured (10% and 100% of the calls), {written} objects in the "
        "artifact bucket so far\n(the capture stream buffers records into few objects); cost "
        f"{per_capture:,.0f} µs per captured request (median 100% −\nmedian 0%), so ≈ {per_capture / 10:,.0f} µs "
        "a request on average at 10%. The handler runs in this process with no capture\nextension listening, so "
        "each captured request puts its records to the in-process stack's Firehose itself\n(RelayedCapture's "
        "fallback: one PutRecordBatch on the request's path, no network). With the extension, as the\n"
        "template deploys it, the handler only writes them to the extension's socket: bench.predict.request_path "
        "measures that."
    )


def layer_table(handlers: Handlers, rows: int, instances: list[dict[str, Any]]) -> None:
    """Where the Sluice handler's time goes, by peeling one layer at a time (capture off)."""
    from sluice.app.serving import production as predictions
    from sluice.domain.scoring.onnx_model import feed_from_instances

    module, minimal, served, context = (
        handlers.modules[0.0],
        handlers.minimal,
        handlers.served,
        handlers.context,
    )
    runs = LAYER_RUNS[rows]
    body = json.dumps({"instances": instances[:rows]}).encode()
    event = api_event(body)
    text = event["body"]
    batch = instances[:rows]
    feed, _ = feed_from_instances(served.onnx.features, batch)

    def resolve() -> object:
        return module.app.resolve(dict(event), context)

    def domain() -> object:
        parsed = json.loads(text)["instances"]
        return json.dumps(predictions.predict(served, parsed, max_instances=1000, request_id="r"))

    timed = {
        name: median_us(call, runs)
        for name, call in {
            "handler": lambda: module.lambda_handler(dict(event), context),
            "resolve": resolve,
            "domain": domain,
            "feed": lambda: feed_from_instances(served.onnx.features, batch),
            "run": lambda: served.onnx.run(feed),
            "session": lambda: served.onnx.session.run(None, feed),
            "minimal": lambda: minimal(dict(event), context),
        }.items()
    }
    own = [
        ("Powertools decorators: Logger context, Tracer, Metrics flush", timed["handler"] - timed["resolve"]),
        ("Powertools resolver: event, routing, response serialisation", timed["resolve"] - timed["domain"]),
        (
            "json.loads/dumps + response body (predictions.predict)",
            timed["domain"] - timed["feed"] - timed["run"],
        ),
        ("feed_from_instances: schema checks + feed", timed["feed"]),
        ("OnnxModel.run around session.run", timed["run"] - timed["session"]),
        ("session.run (ONNX Runtime)", timed["session"]),
    ]
    print(
        f"where the Sluice handler's time goes ({rows} row{'s' if rows > 1 else ''}, capture 0%; each layer timed "
        f"alone, median of {runs} calls,\nits own time = its median minus the medians of what it wraps):"
    )
    table(
        ["layer", "own µs", "% of handler"],
        [[name, f"{us:,.1f}", f"{us / timed['handler']:.0%}"] for name, us in own]
        + [
            ["Sluice handler, all of it", f"{timed['handler']:,.1f}", "100%"],
            [
                "minimal handler, same event",
                f"{timed['minimal']:,.1f}",
                f"{timed['minimal'] / timed['handler']:.0%}",
            ],
        ],
    )


def profile_handler(handler: Handler, singles: list[bytes], context: Any) -> None:
    events = [api_event(body) for body in singles]
    profiler = cProfile.Profile()
    with quiet():
        profiler.enable()
        for event in events * 3:
            handler(event, context)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(25)
    print(
        f"\ncProfile of {len(events) * 3} warm single-row calls of the Sluice handler (capture 0%), by own time:"
    )
    print("\n".join(out.getvalue().splitlines()[4:]))


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.predict.warm",
        description="Warm latency of PredictFunction's handler against its baselines.",
    )
    parser.add_argument(
        "--profile", action="store_true", help="add a cProfile of the warm single-row handler"
    )
    profile = parser.parse_args().profile
    return run_bench("bench.predict.warm", lambda: bench_warm(profile))


if __name__ == "__main__":
    sys.exit(main())
