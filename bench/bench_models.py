"""Single-row prediction latency: ONNX Runtime vs scikit-learn on the same trained model, for every
shipped dataset and every algorithm its task allows. Both sides are timed in this process, now."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sluice.domain.data.features import feed_from_table
from sluice.domain.scoring.onnx_model import OnnxModel
from sluice.domain.spec.model_spec import ALGORITHM_TASKS, AlgorithmSpec, load_spec
from sluice.domain.training.export import export_onnx
from sluice.domain.training.pipeline import fit_pipeline, model_matrix, split_holdout
from sluice.tools.example_data import example_table

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUNS = 300


def median_us(call: Callable[[], object], runs: int = RUNS) -> float:
    for _ in range(20):
        call()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1e6


def main() -> None:
    print(f"{'dataset':<14} {'algorithm':<20} {'onnx µs':>9} {'sklearn µs':>11} {'speed-up':>9}")
    for dataset in ("credit-risk", "breast-cancer", "wine", "diabetes"):
        base = load_spec(EXAMPLES / dataset / "spec.yaml")
        table = example_table(dataset, rows=5000)
        for algorithm, tasks in ALGORITHM_TASKS.items():
            if base.task not in tasks:
                continue
            params = base.estimator.params if algorithm == base.estimator.name else {}
            spec = base.model_copy(update={"algorithm": AlgorithmSpec(name=algorithm, params=params)})
            split = split_holdout(spec, table)
            pipeline = fit_pipeline(spec, split.train)
            model = OnnxModel(export_onnx(pipeline, spec, version="bench"))
            row = split.holdout.select([0])
            feed = feed_from_table(model.inputs, row)
            matrix = model_matrix(spec, row)
            predict = pipeline.predict_proba if spec.task.is_classification else pipeline.predict
            onnx_us = median_us(lambda: model.session.run(None, feed))  # noqa: B023 - used immediately
            sklearn_us = median_us(lambda: predict(matrix))  # noqa: B023
            print(
                f"{dataset:<14} {algorithm.value:<20} {onnx_us:>9.1f} {sklearn_us:>11.1f} {sklearn_us / onnx_us:>8.0f}×",
                flush=True,
            )


if __name__ == "__main__":
    main()
