"""Prediction budgets (DESIGN.md, "Budgets"), each against its baselines in the same run:

1-2. Warm latency of PredictFunction's real handler (functions/predict/app.py, an API Gateway REST proxy
     event, the function's environment, the model trained and promoted in an in-process moto stack)
     against a minimal ONNX handler and a scikit-learn-from-pickle handler for the same model, for 1,
     100 and 1,000 rows, with capture at 0, 10 and 100%. Same process, interleaved rounds.
3.   Cold start as a new process (imports + model load from the stack + first request) against the
     scikit-learn equivalent, with the stack served by `sluice local up` in a background process.
4.   Built size of PredictFunction with its layers (`sam build`), free of scikit-learn/scipy/pandas.

`python bench/bench_predict.py [--warm] [--size] [--cold] [--profile] [--compare BUILD_DIR]`: all parts unless
some are named; --profile adds a cProfile of the warm single-row handler; --compare adds another `sam build`
output's PredictFunction (e.g. of an earlier commit) to the cold-start runs.
Nothing here asserts on time: it prints tables with the budgets and PASS/MISS.
"""

from __future__ import annotations

import contextlib
import cProfile
import importlib.util
import io
import json
import os
import platform
import pstats
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predict_child import Handler, minimal_handler, sklearn_handler

from sluice.local import free_port

ROOT = Path(__file__).resolve().parent.parent
MODEL = "credit-risk"
SPEC_FILE = ROOT / "examples" / MODEL / "spec.yaml"  # the 100-tree random forest
HANDLER_FILE = ROOT / "functions" / "predict" / "app.py"
CHILD = Path(__file__).resolve().parent / "predict_child.py"
TRAIN_ROWS, TRAIN_SEED, REQUEST_SEED = 3000, 1, 11
BATCHES = (1, 100, 1000)
CAPTURES = (0.0, 0.1, 1.0)  # off, the template default, everything (env.json locally)
ROUNDS = 5  # warm cases run interleaved, this many rounds each
CALLS_PER_ROUND = {1: (400, 60), 100: (100, 40), 1000: (20, 10)}  # (ONNX handlers, scikit-learn)
COLD_SAMPLES = 5  # after one discarded run of each variant (it warms the page cache)
# DESIGN.md: warm ≤ 2× the minimal handler for one row and ≤ 1.2× for 1,000 (none set for 100), at least
# 25× faster than scikit-learn for one row; cold start ≤ 0.3× scikit-learn's.
WARM_BUDGET = {1: 2.0, 1000: 1.2}
SKLEARN_BUDGET, COLD_BUDGET = 25.0, 1 / 0.3
SIZE_BUDGET = 160 * 1024 * 1024  # as tests/integration/test_sam_build.py counts it
SKLEARN_STACK = "scikit-learn, pickle from the stack"
BUILT = "Sluice handler (sam build bundle)"
SNAPSTART = "Sluice, sam build bundle, SnapStart modelled"
TRACED = "Sluice (sam build bundle), X-Ray sampled"
SKLEARN_FILE = "scikit-learn, pickle from a file"
HEAVY = ("sklearn", "scipy", "pandas", "skl2onnx")
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six.py", "jmespath")
HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
    "User-Agent": "bench/1.0",
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
}


# ---------------------------------------------------------------------------------------------- output
def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    print(line)
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send fds 1 and 2 to /dev/null (Powertools logs and EMF metrics, moto warnings). Handlers still
    pay for writing them, as they do in Lambda."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import numpy
    import onnxruntime
    import sklearn

    return (
        f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, onnxruntime "
        f"{onnxruntime.__version__}, scikit-learn {sklearn.__version__}, numpy {numpy.__version__}"
    )


# ---------------------------------------------------------------------------------------------- requests
def request_instances(rows: int) -> list[dict[str, Any]]:
    """Rows of a fresh credit-risk sample as JSON instances (null where the data has a gap)."""
    from sluice.examples import credit_risk
    from sluice.spec import NumericFeature, load_spec

    spec = load_spec(SPEC_FILE)
    data = credit_risk(rows=rows, seed=REQUEST_SEED)
    instances: list[dict[str, Any]] = [{} for _ in range(rows)]
    for feature in spec.features:
        for instance, cell in zip(instances, data.columns[feature.name], strict=True):
            if not cell.strip():
                instance[feature.name] = None
            elif isinstance(feature, NumericFeature):
                instance[feature.name] = float(cell)
            else:
                instance[feature.name] = cell
    return instances


def spec_features() -> list[tuple[str, bool]]:
    from sluice.spec import NumericFeature, load_spec

    return [(f.name, isinstance(f, NumericFeature)) for f in load_spec(SPEC_FILE).features]


def api_event(body: bytes) -> dict[str, Any]:
    """A real API Gateway REST proxy event for POST /models/credit-risk/predict (new request id)."""
    from sluice.local.http_api import Route, proxy_event

    route = Route("POST", "/models/{model}/predict", "PredictFunction")
    return proxy_event(route, "POST", f"/models/{MODEL}/predict", dict(HEADERS), body)


def csv_bytes(rows: int, seed: int) -> bytes:
    from sluice.examples import credit_risk
    from sluice.table import write_csv

    buffer = io.StringIO()
    write_csv(credit_risk(rows=rows, seed=seed), buffer)
    return buffer.getvalue().encode()


# ---------------------------------------------------------------------------------------------- timing
@dataclass
class Case:
    name: str
    handler: Handler
    calls_per_round: int
    events: Callable[[int], dict[str, Any]]
    samples: list[float] = field(default_factory=list)  # µs

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.samples, n=20)[18]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)


def run_interleaved(cases: list[Case], context: Any, rounds: int = ROUNDS) -> None:
    """Each round runs every case in turn, so drift (thermal, other load) hits all of them alike. Only
    the handler call is timed; building the event is not."""
    clock = time.perf_counter_ns
    with quiet():
        for _ in range(rounds):
            for case in cases:
                for i in range(case.calls_per_round):
                    event = case.events(i)
                    start = clock()
                    case.handler(event, context)
                    case.samples.append((clock() - start) / 1000)


def median_us(call: Callable[[], object], runs: int) -> float:
    with quiet():
        for _ in range(min(20, runs)):
            call()
        timings = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            call()
            timings.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(timings)


# ---------------------------------------------------------------------------------------------- 1-2 warm
@dataclass
class WarmStack:
    env: dict[str, str]
    function_name: str
    function_arn: str
    model_bytes: bytes
    pipeline_bytes: bytes


def load_handler(tag: str, env: dict[str, str], context: Any) -> Any:
    """functions/predict/app.py imported as a fresh module (one container) with the function's
    environment in os.environ, and its first request made (settings are read then, and the model
    loaded from the stack)."""
    os.environ.update(env)
    spec = importlib.util.spec_from_file_location(f"bench_predict_app_{tag}", HANDLER_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event = api_event(json.dumps({"instances": request_instances(1)}).encode())
    check_response(f"handler {tag}", module.lambda_handler(event, context), 1)
    return module


def check_response(name: str, response: dict[str, Any], rows: int) -> dict[str, Any]:
    if response.get("statusCode") != 200:
        raise SystemExit(f"{name}: status {response.get('statusCode')}: {str(response.get('body'))[:500]}")
    body: dict[str, Any] = json.loads(response["body"])
    if len(body["predictions"]) != rows:
        raise SystemExit(f"{name}: {len(body['predictions'])} predictions for {rows} rows")
    return body


def agreement(a: dict[str, Any], b: dict[str, Any]) -> str:
    labels = sum(x == y for x, y in zip(a["predictions"], b["predictions"], strict=True))
    diff = max(
        abs(float(x) - float(y))
        for pa, pb in zip(a["probabilities"], b["probabilities"], strict=True)
        for x, y in zip(pa, pb, strict=True)
    )
    return f"labels {labels}/{len(a['predictions'])} equal, max |Δp| {diff:.1e}"


def bench_warm(profile: bool) -> None:
    import pickle

    from sluice.local.stack import in_process_stack

    saved_env = dict(os.environ)
    try:
        with contextlib.ExitStack() as exits:
            with quiet():  # deploying and training print moto warnings, logs and metrics
                stack = exits.enter_context(in_process_stack(ROOT, stack_name="sluice-bench-predict"))
                warm, context, modules = train_in_process(stack)
                minimal = minimal_handler(warm.model_bytes)
                sklearn = sklearn_handler(pickle.loads(warm.pipeline_bytes), spec_features())
            warm_tables(stack, modules, minimal, sklearn, context, warm, profile)
            quiet_exit = exits.pop_all()
            with quiet():
                quiet_exit.close()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)


def train_in_process(stack: Any) -> tuple[WarmStack, Any, dict[float, Any]]:
    """Train and promote the example model on the stack, then import one handler module (one warm
    container) per capture fraction."""
    from sluice.local.stack import RUNTIME_ENV, LambdaContext

    s3 = stack.client("s3")
    raw, artifacts = stack.outputs["RawBucketName"], stack.outputs["ArtifactBucketName"]
    s3.put_object(Bucket=raw, Key=f"{MODEL}/spec.yaml", Body=SPEC_FILE.read_bytes())
    stack.wait_for_executions()
    s3.put_object(Bucket=raw, Key=f"{MODEL}/data/bench.csv", Body=csv_bytes(TRAIN_ROWS, TRAIN_SEED))
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

    warm = WarmStack(
        env=env,
        function_name=config["FunctionName"],
        function_arn=config["FunctionArn"],
        model_bytes=artifact("model.onnx"),
        pipeline_bytes=artifact("pipeline.pkl"),
    )
    context = LambdaContext(
        function_name=warm.function_name, invoked_function_arn=warm.function_arn, memory_limit_in_mb=1024
    )
    modules = {
        c: load_handler(f"capture{int(c * 100)}", {**env, "CAPTURE_FRACTION": str(c)}, context)
        for c in CAPTURES
    }
    return warm, context, modules


def captured_objects(stack: Any) -> int:
    pages = stack.client("s3").get_paginator("list_objects_v2")
    return sum(
        len(p.get("Contents", []))
        for p in pages.paginate(Bucket=stack.outputs["ArtifactBucketName"], Prefix=f"capture/{MODEL}/")
    )


def warm_tables(
    stack: Any,
    modules: dict[float, Any],
    minimal: Handler,
    sklearn: Handler,
    context: Any,
    warm: WarmStack,
    profile: bool,
) -> None:
    from sluice.predictions import ServedModel
    from sluice.serving import OnnxModel

    instances = request_instances(max(BATCHES))
    singles = [json.dumps({"instances": [row]}).encode() for row in instances]
    served = ServedModel(name=MODEL, version=1, onnx=OnnxModel(warm.model_bytes))
    print(
        "\nWarm predict: time of one handler call (event in, response dict out), median/p95/mean µs.\n"
        "Sluice = functions/predict/app.py lambda_handler (Powertools Logger/Tracer/Metrics decorators,\n"
        "APIGatewayRestResolver without per-request validation, schema checks, ONNX Runtime) on an API\n"
        "Gateway REST proxy event; model v1 loaded from the in-process moto stack, ALIAS_TTL 60 s (no\n"
        "registry read on these calls), tracing disabled (POWERTOOLS_TRACE_DISABLED, as locally).\n"
        "minimal = json.loads + session.run + json.dumps on the same ONNX bytes and session options.\n"
        "scikit-learn = json.loads + pickled pipeline.predict_proba (the stack's pipeline.pkl) + json.dumps.\n"
        "Rounds interleave all handlers; single-row requests cycle through 1,000 different rows."
    )
    for rows in BATCHES:
        fast, slow = CALLS_PER_ROUND[rows]
        if rows == 1:

            def events(i: int) -> dict[str, Any]:
                return api_event(singles[i % len(singles)])

        else:
            body = json.dumps({"instances": instances[:rows]}).encode()

            def events(i: int) -> dict[str, Any]:
                return api_event(body)  # noqa: B023 - used in this iteration only

        cases = [
            Case(f"Sluice handler, capture {c:.0%}", modules[c].lambda_handler, fast, events)
            for c in CAPTURES
        ]
        cases += [
            Case("minimal handler (ONNX)", minimal, fast, events),
            Case("scikit-learn from pickle", sklearn, slow, events),
        ]
        probe = api_event(json.dumps({"instances": instances[:rows]}).encode())
        with quiet():
            bodies = [check_response(c.name, c.handler(probe, context), rows) for c in cases]
        before = captured_objects(stack)
        run_interleaved(cases, context)
        written = captured_objects(stack) - before
        base, off, sk = cases[3], cases[0], cases[4]
        print(f"\n[{rows} row{'s' if rows > 1 else ''} per request]")
        table(
            ["handler", "calls", "median µs", "p95 µs", "mean µs", "× minimal", "sklearn ÷"],
            [
                [
                    c.name,
                    str(len(c.samples)),
                    f"{c.median:,.1f}",
                    f"{c.p95:,.1f}",
                    f"{c.mean:,.1f}",
                    f"{c.median / base.median:.2f}×",
                    f"{sk.median / c.median:.1f}×",
                ]
                for c in cases
            ],
        )
        print(
            f"outputs: Sluice vs minimal {agreement(bodies[0], bodies[3])}; vs sklearn {agreement(bodies[0], bodies[4])}"
        )
        for c in cases[:3]:
            ratio, speedup = c.median / base.median, sk.median / c.median
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
                f"(DESIGN.md sets the scikit-learn budget for one row; at {rows} rows scikit-learn's forest is "
                f"vectorised and even the minimal handler is only {sk.median / base.median:.1f}× faster)"
            )
        per_capture = cases[2].median - off.median
        expected = 0.1 * len(cases[1].samples) + len(cases[2].samples)
        print(
            f"capture: {written} objects written (expected ≈ {expected:,.0f}: 10% and 100% of the calls); cost "
            f"{per_capture:,.0f} µs per captured request (median 100% − median 0%), so ≈ {per_capture / 10:,.0f} µs\n"
            "a request on average at 10%. The write is synchronous and goes to moto's in-process S3 (no network):\n"
            "a real S3 PutObject adds a network round trip (tens of milliseconds) to every captured request."
        )
        layer_table(modules[0.0], minimal, served, rows, instances, context)
    if profile:
        profile_handler(modules[0.0].lambda_handler, singles, context)


def layer_table(
    module: Any, minimal: Handler, served: Any, rows: int, instances: list[dict[str, Any]], context: Any
) -> None:
    """Where the Sluice handler's time goes, by peeling one layer at a time (capture off)."""
    from sluice import predictions
    from sluice.serving import feed_from_instances

    runs = {1: 2000, 100: 300, 1000: 40}[rows]
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
        (
            "Powertools resolver: event, routing, response serialisation",
            timed["resolve"] - timed["domain"],
        ),
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


# ---------------------------------------------------------------------------------------------- 4 size
def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def newest_source() -> float:
    sources = [ROOT / "template.yaml", *(ROOT / "functions" / "predict").rglob("*")]
    sources += [
        *(ROOT / "layers").rglob("*.py"),
        *(ROOT / "layers").rglob("*.txt"),
        *(ROOT / "layers").rglob("Makefile"),
    ]
    return max(p.stat().st_mtime for p in sources if p.is_file() and "__pycache__" not in p.parts)


def sam_build() -> tuple[Path | None, str]:
    """.aws-sam/build if it is newer than its sources, else `make build` now (the prerequisite install
    step is not re-run: `make bench` has just done it)."""
    build = ROOT / ".aws-sam" / "build"
    stamp = build / "template.yaml"
    if (build / "PredictFunction").is_dir() and stamp.is_file() and stamp.stat().st_mtime >= newest_source():
        return build, "reused .aws-sam/build (newer than template.yaml, functions/predict and layers/)"
    start = time.perf_counter()
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "build"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not (build / "PredictFunction").is_dir():
        print(result.stdout[-2000:] + result.stderr[-2000:])
        return None, f"make build failed (exit {result.returncode})"
    return build, f"ran make build ({time.perf_counter() - start:.0f} s)"


def predict_bundle(build: Path) -> list[tuple[str, Path]]:
    """PredictFunction's folder and its layers' python/ folders, as Lambda unpacks them."""
    from sluice.local.template import load_sam

    sam = load_sam(ROOT / "template.yaml")
    shared = sam.get("Globals", {}).get("Function", {}).get("Layers", [])
    own = sam["Resources"]["PredictFunction"]["Properties"].get("Layers", [])
    layers = [ref["Ref"] for ref in [*shared, *own]]
    return [("PredictFunction (code)", build / "PredictFunction")] + [
        (layer, build / layer / "python") for layer in layers
    ]


def bench_size() -> Path | None:
    build, how = sam_build()
    print(f"\nBuilt size: PredictFunction with its layers as `sam build` lays them out, unzipped ({how}).")
    if build is None:
        print("size: not measured")
        return None
    parts = predict_bundle(build)
    sizes = [(name, tree_bytes(path)) for name, path in parts]
    total = sum(size for _, size in sizes)
    packages = sorted(
        (
            (entry.name, tree_bytes(entry) if entry.is_dir() else entry.stat().st_size)
            for _, p in parts
            for entry in p.iterdir()
        ),
        key=lambda item: -item[1],
    )
    heavy = sorted(
        {
            str(path.relative_to(build))
            for _, part in parts
            for path in part.rglob("*")
            if path.is_dir()
            and (
                path.name in HEAVY
                or path.name.split("-")[0].lower() in ("scikit_learn", "scipy", "pandas", "skl2onnx")
            )
        }
    )
    rows = [[name, f"{size / 2**20:,.1f}", f"{size / 1e6:,.1f}"] for name, size in sizes]
    rows.append(["total", f"{total / 2**20:,.1f}", f"{total / 1e6:,.1f}"])
    table(["part", "MiB", "MB"], rows)
    print("largest entries: " + ", ".join(f"{n} {s / 2**20:.1f} MiB" for n, s in packages[:6]))
    print(
        f"budget: ≤ 160 MiB (as test_sam_build counts): {total / 2**20:.1f} MiB {verdict(total <= SIZE_BUDGET)}"
    )
    print(
        f"budget: no scikit-learn, scipy, pandas, skl2onnx: {', '.join(heavy) or 'none found'} {verdict(not heavy)}"
    )
    return build


# ---------------------------------------------------------------------------------------------- 3 cold


@contextlib.contextmanager
def served_stack(folder: Path) -> Iterator[dict[str, Any]]:
    """`sluice local up` in a background process; yields its ready document; always stops it."""
    log = (folder / "local-up.log").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [
        str(Path(sys.executable).parent / "sluice"),
        "local",
        "up",
        "--port",
        str(free_port()),
        "--api-port",
        str(free_port()),
        "--root",
        str(ROOT),
        "--state-file",
        str(folder / "local.json"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        assert process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=120):
            raise SystemExit("sluice local up: no ready line within 120 s")
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"sluice local up exited: {(folder / 'local-up.log').read_text()[-2000:]}")
        yield json.loads(line)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def aws(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def train_on_server(endpoint: str, outputs: dict[str, str]) -> None:
    from sluice.adapters.registry import Registry

    s3, registry = aws("s3", endpoint), Registry(outputs["RegistryTableName"], aws("dynamodb", endpoint))
    s3.put_object(Bucket=outputs["RawBucketName"], Key=f"{MODEL}/spec.yaml", Body=SPEC_FILE.read_bytes())
    deadline = time.monotonic() + 60
    while registry.model_meta(MODEL) is None:  # S3 events are not ordered: the spec first
        if time.monotonic() > deadline:
            raise SystemExit("the served stack did not register the spec")
        time.sleep(0.1)
    s3.put_object(
        Bucket=outputs["RawBucketName"], Key=f"{MODEL}/data/bench.csv", Body=csv_bytes(TRAIN_ROWS, TRAIN_SEED)
    )
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


@dataclass
class ColdRun:
    wall_ms: list[float] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(r[key] * 1000 for r in self.results)

    @property
    def first_response_ms(self) -> float:
        return statistics.median(
            (r["start_s"] + r["import_s"] + r.get("load_s", 0.0) + r["first_s"]) * 1000 for r in self.results
        )

    def part(self, key: str) -> float:
        return statistics.median(r["parts"].get(key, 0.0) * 1000 for r in self.results)


def run_child(
    command: list[str], env: dict[str, str], args: dict[str, Any], folder: Path, keep: ColdRun | None
) -> None:
    args_file = folder / "args.json"
    args_file.write_text(json.dumps(args), encoding="utf-8")
    out = Path(args["out"])
    out.unlink(missing_ok=True)
    before = time.time()
    start = time.perf_counter()
    result = subprocess.run(
        [*command, str(CHILD), str(args_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    wall = (time.perf_counter() - start) * 1000
    after = time.time()
    if result.returncode != 0 or not out.is_file():
        raise SystemExit(f"cold start {command}: exit {result.returncode}\n{result.stderr[-3000:]}")
    data = json.loads(out.read_text(encoding="utf-8"))
    data["start_s"] = data["started_epoch"] - before
    data["exit_s"] = after - data["ended_epoch"]
    if keep is not None:
        keep.wall_ms.append(wall)
        keep.results.append(data)


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


def runtime_folder(folder: Path) -> Path:
    """What the python3.12 Lambda runtime adds to a bundle: boto3 and its dependencies (symlinked)."""
    runtime = folder / "runtime"
    runtime.mkdir(exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_PACKAGES:
        if (site / name).exists() and not (runtime / name).exists():
            (runtime / name).symlink_to(site / name)
    return runtime


def bench_cold(build: Path | None, compare: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        folder = Path(tmp)
        with served_stack(folder) as ready:
            endpoint, outputs = ready["endpoint_url"], ready["outputs"]
            train_on_server(endpoint, outputs)
            s3 = aws("s3", endpoint)
            pickle_file = folder / "pipeline.pkl"
            pickle_file.write_bytes(
                s3.get_object(Bucket=outputs["ArtifactBucketName"], Key=f"models/{MODEL}/1/pipeline.pkl")[
                    "Body"
                ].read()
            )
            lam = aws("lambda", endpoint)
            name = next(
                f["FunctionName"]
                for page in lam.get_paginator("list_functions").paginate()
                for f in page["Functions"]
                if "-PredictFunction-" in f["FunctionName"]
            )
            variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
            event_file = folder / "event.json"
            event_file.write_text(
                json.dumps(api_event(json.dumps({"instances": request_instances(1)}).encode()))
            )
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
            out = str(folder / "out.json")
            common = {"event": str(event_file), "out": out, "function_name": name}
            variants: list[tuple[str, list[str], dict[str, Any]]] = [
                (
                    "Sluice handler (venv)",
                    [sys.executable],
                    {**common, "mode": "sluice", "handler_file": str(HANDLER_FILE)},
                ),
            ]
            if build is not None:
                bundle = [str(p) for _, p in predict_bundle(build)] + [str(runtime_folder(folder))]
                built = {
                    **common,
                    "mode": "sluice",
                    "handler_file": str(build / "PredictFunction" / "app.py"),
                    "sys_path": bundle,
                }
                variants.append((BUILT, [sys.executable, "-I", "-S", "-B"], built))
                variants.append((TRACED, [sys.executable, "-I", "-S", "-B"], built))
                variants.append((SNAPSTART, [sys.executable, "-I", "-S", "-B"], {**built, "snapstart": True}))
            if compare is not None:  # another build of PredictFunction and its layers, same layout
                other = [str(p) for _, p in predict_bundle(compare)] + [str(runtime_folder(folder))]
                variants.append(
                    (
                        f"Sluice handler ({compare})",
                        [sys.executable, "-I", "-S", "-B"],
                        {
                            **common,
                            "mode": "sluice",
                            "handler_file": str(compare / "PredictFunction" / "app.py"),
                            "sys_path": other,
                        },
                    )
                )
            sklearn_args = {
                **common,
                "mode": "sklearn",
                "features": spec_features(),
                "sklearn_modules": [
                    "sklearn.pipeline",
                    "sklearn.compose",
                    "sklearn.impute",
                    "sklearn.preprocessing",
                    "sklearn.ensemble",
                ],
            }
            pickle_key = {"bucket": outputs["ArtifactBucketName"], "key": f"models/{MODEL}/1/pipeline.pkl"}
            variants += [
                (SKLEARN_STACK, [sys.executable], {**sklearn_args, "s3": pickle_key}),
                (SKLEARN_FILE, [sys.executable], {**sklearn_args, "pickle": str(pickle_file)}),
            ]
            runs = {label: ColdRun() for label, _, _ in variants}
            for sample in range(COLD_SAMPLES + 1):
                for label, command, args in variants:
                    run_env = {**env, **traced_env(build)} if build is not None and label == TRACED else env
                    run_child(command, run_env, args, folder, runs[label] if sample else None)
            if build is not None:
                breakdown = import_breakdown(bundle, env, folder)
    cold_table(runs)
    if build is not None:
        import_table(breakdown)


def cold_table(runs: dict[str, ColdRun]) -> None:
    print(
        f"\nCold start: a new process per sample (median of {COLD_SAMPLES}, after one discarded run of each).\n"
        "to 1st response = from the parent's Popen to the end of the first request (start + import + load +\n"
        "1st request); wall = Popen to exit (adds interpreter teardown, which Lambda never waits for).\n"
        "start = until the child's first line (interpreter + site); import = the handler module (Sluice), or\n"
        "numpy + the sklearn modules the pickle needs (+ boto3 when it comes from the stack); load = fetch +\n"
        "unpickle; Sluice's 1st request = settings, boto3 clients, alias + version reads and model fetch over\n"
        "HTTP from `sluice local up` (moto server on 127.0.0.1), sha256, ONNX session, predict; capture off.\n"
        "The sam build bundle runs with `python -I -S -B`: only the bundle and the runtime's boto3, and no\n"
        "bytecode written at run time (/opt is read-only on Lambda; the serving layers ship their own .pyc)."
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
                f"{base.first_response_ms / run.first_response_ms:.2f}×",
            ]
        )
    table(
        [
            "process",
            "to 1st response ms",
            "wall ms",
            "start",
            "import",
            "load",
            "1st req",
            "2nd req",
            "exit",
            "sklearn (stack) ÷",
        ],
        rows,
    )
    for label, run in runs.items():
        if "parts" in run.results[0]:
            parts = ("boto3 clients", "registry reads", "model fetch + sha256", "ORT session + metadata")
            print(
                f"{label}, inside the 1st request: " + ", ".join(f"{p} {run.part(p):,.1f} ms" for p in parts)
            )
            heavy = sorted({m for r in run.results for m in r["heavy"]})
            statuses = sorted({s for r in run.results for s in r["status"]})
            print(f"  statuses {statuses}; scikit-learn/scipy/pandas imported: {', '.join(heavy) or 'none'}")
    if SNAPSTART in runs:
        snap = runs[SNAPSTART]
        restored = statistics.median((r["restore_hook_s"] + r["first_s"]) * 1000 for r in snap.results)
        print(
            f"SnapStart modelled ({SNAPSTART}): the init that is snapshotted (imports + before-snapshot hook:\n"
            f"boto3 clients, X-Ray SDK if traced) takes {snap.median('import_s') + snap.median('snapshot_s'):,.0f} ms "
            f"and is not on any request's path; a restored copy runs the after-restore hook\n"
            f"({snap.median('restore_hook_s'):,.1f} ms: new session and clients, reseed) and its 1st request "
            f"({snap.median('first_s'):,.0f} ms: clients, alias, model fetch, ORT session): {restored:,.0f} ms, plus\n"
            f"Lambda's own restore of the snapshot (not measurable here). Against scikit-learn's cold start: "
            f"{restored / base.first_response_ms:.2f}× of its time."
        )
    for label, run in runs.items():
        if "parts" not in run.results[0] or label == SNAPSTART:
            continue
        ratio = base.first_response_ms / run.first_response_ms
        print(
            f"budget: {label} cold start ≤ 0.3× scikit-learn's (to 1st response, both loading from the stack): "
            f"{ratio:.2f}× faster {verdict(ratio >= COLD_BUDGET)}"
        )
        by_file = runs[SKLEARN_FILE].first_response_ms / run.first_response_ms
        by_wall = statistics.median(base.wall_ms) / statistics.median(run.wall_ms)
        print(
            f"        against scikit-learn with its pickle in a local file: {by_file:.2f}× {verdict(by_file >= COLD_BUDGET)}; "
            f"by wall time to exit: {by_wall:.2f}× {verdict(by_wall >= COLD_BUDGET)}"
        )


IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_breakdown(
    bundle: list[str], env: dict[str, str], folder: Path, runs: int = 3
) -> list[tuple[int, str, float]]:
    """`-X importtime` of the built handler module as the cold start imports it, median of `runs`:
    (depth, module, cumulative ms) for app.py and the modules it imports, two levels down, in
    importtime's order (a module's imports before it)."""
    code = f"import sys; sys.path[:0] = {bundle!r}; import app"
    samples: dict[tuple[int, str], list[float]] = {}
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-X", "importtime", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        for line in result.stderr.splitlines():
            match = IMPORTTIME.match(line)
            if match and len(match.group(3)) // 2 <= 3:
                key = (len(match.group(3)) // 2 - 1, match.group(4))
                samples.setdefault(key, []).append(int(match.group(2)) / 1000)
    return [(depth, name, statistics.median(values)) for (depth, name), values in samples.items()]


def import_table(breakdown: list[tuple[int, str, float]], threshold_ms: float = 5.0) -> None:
    print(
        "\nWhere the built handler's import goes (`python -X importtime` in the sam build bundle, median of 3,\n"
        f"cumulative ms; app.py's imports and theirs, two levels down, those over {threshold_ms:.0f} ms):"
    )
    rows = [["  " * max(depth, 0) + name, f"{ms:,.1f}"] for depth, name, ms in reversed(breakdown)]
    table(["module", "ms"], [r for r in rows if float(r[1].replace(",", "")) >= threshold_ms])


def main() -> int:
    started = time.perf_counter()
    args = sys.argv[1:]
    compare = Path(args[args.index("--compare") + 1]).resolve() if "--compare" in args else None
    flags = {a for a in args if a.startswith("--")}
    parts = {"warm", "size", "cold"} & {f.removeprefix("--") for f in flags} or {"warm", "size", "cold"}
    print(f"machine: {machine()}")
    if "warm" in parts:
        bench_warm("--profile" in flags)
    build = bench_size() if "size" in parts or "cold" in parts else None
    if "cold" in parts:
        bench_cold(build, compare)
    print(f"\nbench_predict took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
