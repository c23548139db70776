"""What the prediction benches share: the model and its requests, the local stacks it is trained on, the
interleaved timing rounds and their statistics, the cold-start children, and the printed tables."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import selectors
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.predict.child import Handler
from sluice.tools.local import free_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = "credit-risk"
SPEC_FILE = ROOT / "examples" / MODEL / "spec.yaml"  # the 100-tree random forest
HANDLER_FILE = ROOT / "functions" / "predict" / "app.py"
CHILD = Path(__file__).resolve().parent / "child.py"
TRAIN_ROWS, TRAIN_SEED, REQUEST_SEED = 3000, 1, 11
HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
    "User-Agent": "bench/1.0",
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
}


# ---------------------------------------------------------------------------------------------- output
def run_bench(name: str, bench: Callable[[], None]) -> int:
    """Print the machine, run `bench`, then how long it took. The exit status is 0: budgets print PASS or
    MISS and fail nothing; a bench that cannot measure raises SystemExit with its reason."""
    started = time.perf_counter()
    print(f"machine: {machine()}")
    bench()
    print(f"\n{name} took {time.perf_counter() - started:.0f} s")
    return 0


def table(headers: list[str], rows: list[list[str]]) -> None:
    """Print `rows` under `headers`, the first column left-aligned and the others right-aligned."""
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
    """The CPU, its count and the versions the numbers depend on."""
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
    from sluice.domain.spec.model_spec import NumericFeature, load_spec
    from sluice.tools.example_data import credit_risk

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
    """The spec's features in column order, as (name, is_numeric)."""
    from sluice.domain.spec.model_spec import NumericFeature, load_spec

    return [(f.name, isinstance(f, NumericFeature)) for f in load_spec(SPEC_FILE).features]


def api_event(body: bytes) -> dict[str, Any]:
    """A real API Gateway REST proxy event for POST /models/credit-risk/predict (new request id)."""
    from sluice.tools.local.api.gateway import Route, proxy_event

    route = Route("POST", "/models/{model}/predict", "PredictFunction")
    return proxy_event(route, "POST", f"/models/{MODEL}/predict", dict(HEADERS), body)


def training_csv() -> bytes:
    """The seeded credit-risk sample the benches train on, as the CSV a user uploads."""
    from sluice.domain.data.table import to_csv_bytes
    from sluice.tools.example_data import credit_risk

    return to_csv_bytes(credit_risk(rows=TRAIN_ROWS, seed=TRAIN_SEED))


# ---------------------------------------------------------------------------------------------- stacks
@contextlib.contextmanager
def in_process_stack(**options: Any) -> Iterator[Any]:
    """The template deployed on moto in this process (sluice.tools.local.in_process), deployed and torn down
    quietly (both print moto warnings, logs and metrics); os.environ is restored afterwards. `options`
    go to `in_process_stack` (`aws_latency=` for instance)."""
    from sluice.tools.local.in_process import in_process_stack

    saved_env = dict(os.environ)
    exits = contextlib.ExitStack()
    try:
        with quiet():
            deployed = exits.enter_context(
                in_process_stack(ROOT, stack_name="sluice-bench-predict", **options)
            )
        yield deployed
    finally:
        with quiet():
            exits.close()
        os.environ.clear()
        os.environ.update(saved_env)


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
    """A boto3 client of the served stack at `endpoint`."""
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# ---------------------------------------------------------------------------------------------- warm timing
@dataclass
class Case:
    """One handler timed in the interleaved rounds, and its samples."""

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


def run_interleaved(cases: list[Case], context: Any, rounds: int) -> None:
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
    """The median time of `runs` calls in µs, after up to 20 calls that warm up (output discarded)."""
    with quiet():
        for _ in range(min(20, runs)):
            call()
        timings = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            call()
            timings.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(timings)


# ---------------------------------------------------------------------------------------------- cold children
@dataclass
class ColdRun:
    """The samples of one cold-start variant: the parent's wall times and what each child measured."""

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
    """One cold start: `command` runs child.py on `args` in a new process with exactly `env`. Its
    measurements, with the time until its first line and from its last to its exit, go to `keep` (None:
    a discarded run)."""
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
