"""`make bench`: runs every benchmark in turn, from the repository root; each prints its own tables with
its baselines. The exit status is 1 when any of them could not run to its end.

`python bench/run.py --aws-latency [--latency-seed N]` (or SLUICE_AWS_LATENCY=N make bench) runs them
with AWS-like call latency on every local stack they start (docs/guides/local-stack.md);
bench.predict.request_path measures latency off and on in the same run either way."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATENCY_ENV = "SLUICE_AWS_LATENCY"  # sluice.tools.local.latency.LATENCY_ENV (not imported: no sluice here)
BENCHES = {
    "bench_drift": ["bench/bench_drift.py"],
    "bench_models": ["bench/bench_models.py"],
    "predict.warm": ["-m", "bench.predict.warm"],
    "predict.explain": ["-m", "bench.predict.explain"],
    "predict.request_path": ["-m", "bench.predict.request_path"],
    "predict.rollout": ["-m", "bench.predict.rollout"],
    "predict.size": ["-m", "bench.predict.size"],
    "predict.cold": ["-m", "bench.predict.cold"],
    "predict.protocols": ["-m", "bench.predict.protocols"],
    "bench_search": ["-m", "bench.bench_search"],
    "bench_capture_write": ["-m", "bench.bench_capture_write"],
    "bench_capture_scale": ["-m", "bench.bench_capture_scale"],
    "bench_window_split": ["-m", "bench.bench_window_split"],
    "bench_batch": ["-m", "bench.bench_batch"],
    "bench_training_backends": ["-m", "bench.bench_training_backends"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description="Run every benchmark in turn.")
    parser.add_argument(
        "--aws-latency",
        action="store_true",
        help=f"AWS-like call latency on every local stack the benches start (sets {LATENCY_ENV})",
    )
    parser.add_argument("--latency-seed", type=int, default=0, metavar="N", help="its seed (default 0)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.aws_latency:
        env[LATENCY_ENV] = str(args.latency_seed)
    failures = 0
    for name, arguments in BENCHES.items():
        print(f"\n=== {name} ===", flush=True)
        failures += subprocess.call([sys.executable, *arguments], cwd=ROOT, env=env) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
