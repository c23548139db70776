"""`make bench`: runs every benchmark in turn, from the repository root; each prints its own tables with
its baselines. The exit status is 1 when any of them could not run to its end."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = {
    "bench_drift": ["bench/bench_drift.py"],
    "bench_models": ["bench/bench_models.py"],
    "predict.warm": ["-m", "bench.predict.warm"],
    "predict.rollout": ["-m", "bench.predict.rollout"],
    "predict.size": ["-m", "bench.predict.size"],
    "predict.cold": ["-m", "bench.predict.cold"],
    "predict.protocols": ["-m", "bench.predict.protocols"],
    "bench_search": ["-m", "bench.bench_search"],
    "bench_capture_write": ["-m", "bench.bench_capture_write"],
    "bench_capture_scale": ["-m", "bench.bench_capture_scale"],
    "bench_batch": ["-m", "bench.bench_batch"],
    "bench_training_backends": ["-m", "bench.bench_training_backends"],
}


def main() -> int:
    failures = 0
    for name, arguments in BENCHES.items():
        print(f"\n=== {name} ===", flush=True)
        failures += subprocess.call([sys.executable, *arguments], cwd=ROOT) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
