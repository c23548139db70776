"""Drift check benchmark: 1,000,000 current rows × 20 columns (15 numerical, 5 categorical) against a
100,000-row reference, Sluice's engine beside Evidently 0.7 on the same data in the same run.

Each contender runs in its own subprocess, which builds the same seeded data, then times one drift
check. What is timed:
- sluice: `check_drift_columns` on typed arrays (float64 columns, integer-coded categories), i.e. the
  engine the scheduled Lambda calls, with its multivariate check (a domain classifier on a seeded
  sample of each side) as the Lambda runs it; reading and parsing files is not included. The same call
  without the multivariate check is timed too, on the same data, and reported beside it.
- evidently: `Report([DataDriftPreset()]).run(...)` including `Dataset.from_pandas`, on pandas
  DataFrames already built (categories as Python strings, as read from a CSV).
Memory is the process's peak resident set (ru_maxrss) and its growth over the resident set measured
just before the check (data generated, libraries imported).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

N_REFERENCE = 100_000
N_CURRENT = 1_000_000
N_NUMERICAL = 15
N_CATEGORICAL = 5
SEED = 20260101
P_VALUE_NAMES = {"K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z"}


def generate(
    n_rows: int, current: bool
) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, list[str]]]]:
    """Seeded columns: numerical float64 (1% missing in some), categorical codes + labels.

    In the current data a third of the numerical columns and two categorical columns move.
    """
    rng = np.random.default_rng(SEED + (1 if current else 0))
    numerical: dict[str, np.ndarray] = {}
    for i in range(N_NUMERICAL):
        shift = 0.25 if current and i % 3 == 0 else 0.0
        if i % 5 == 4:
            values = rng.lognormal(3 + shift, 0.8, size=n_rows)
        elif i % 5 == 3:
            values = np.round(rng.gamma(2.0 + 4 * shift, 10.0, size=n_rows))  # integer-valued
        else:
            values = rng.normal(100 * i + 10 * shift, 10 + i, size=n_rows)
        if i % 4 == 1:
            values[rng.random(n_rows) < 0.01] = np.nan
        numerical[f"num_{i:02d}"] = values
    categorical: dict[str, tuple[np.ndarray, list[str]]] = {}
    for j in range(N_CATEGORICAL):
        n_labels = 3 + 4 * j
        weights = np.linspace(1.0, 2.0, n_labels)
        if current and j in (1, 3):
            weights = weights[::-1] ** 2
        codes = rng.choice(n_labels, size=n_rows, p=weights / weights.sum()).astype(np.int64)
        categorical[f"cat_{j}"] = (codes, [f"level_{k}" for k in range(n_labels)])
    return numerical, categorical


def rss_now_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sluice() -> dict[str, Any]:
    from sluice.domain.monitoring.drift import CategoricalColumn, Column, NumericalColumn, check_drift_columns
    from sluice.domain.monitoring.drift.multivariate import MultivariateSettings, warm_up

    sides: list[dict[str, Column]] = []
    for current in (False, True):
        numerical, categorical = generate(N_CURRENT if current else N_REFERENCE, current)
        columns: dict[str, Column] = {name: NumericalColumn(values) for name, values in numerical.items()}
        columns.update(
            {name: CategoricalColumn(codes, tuple(labels)) for name, (codes, labels) in categorical.items()}
        )
        sides.append(columns)
    warm_up()  # the Lambda imported scikit-learn before its check, as Evidently was imported here
    gc.collect()
    baseline = rss_now_mb()
    started = time.perf_counter()
    report = check_drift_columns(sides[0], sides[1], multivariate=MultivariateSettings())
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    check_drift_columns(sides[0], sides[1])
    per_column = time.perf_counter() - started
    together = report.multivariate
    return {
        "seconds": elapsed,
        "per_column_seconds": per_column,
        "multivariate": together.model_dump(mode="json") if together else None,
        "peak_mb": peak_rss_mb(),
        "growth_mb": peak_rss_mb() - baseline,
        "dataset_drift": report.dataset_drift,
        "columns": {
            name: {"method": c.method, "score": c.score, "drifted": c.drifted}
            for name, c in report.features.items()
        },
    }


def run_evidently() -> dict[str, Any]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    frames = []
    for current in (False, True):
        numerical, categorical = generate(N_CURRENT if current else N_REFERENCE, current)
        data: dict[str, Any] = dict(numerical)
        for name, (codes, labels) in categorical.items():
            data[name] = np.asarray(labels, dtype=object)[codes]
        frames.append(pd.DataFrame(data))
        del numerical, categorical, data
    definition = DataDefinition(
        numerical_columns=[f"num_{i:02d}" for i in range(N_NUMERICAL)],
        categorical_columns=[f"cat_{j}" for j in range(N_CATEGORICAL)],
    )
    gc.collect()
    baseline = rss_now_mb()
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(frames[1], data_definition=definition),
        Dataset.from_pandas(frames[0], data_definition=definition),
    )
    elapsed = time.perf_counter() - started
    columns: dict[str, Any] = {}
    share = 0.0
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith("ValueDrift"):
            method, threshold, score = config["method"], float(config["threshold"]), float(metric["value"])
            if method == "K-S p_value":
                drifted = score <= threshold
            elif method in P_VALUE_NAMES:
                drifted = score < threshold
            else:
                drifted = score >= threshold
            columns[config["column"]] = {"method": method, "score": score, "drifted": drifted}
    return {
        "seconds": elapsed,
        "peak_mb": peak_rss_mb(),
        "growth_mb": peak_rss_mb() - baseline,
        "dataset_drift": share >= 0.5,
        "columns": columns,
    }


def contender(name: str) -> dict[str, Any] | None:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__)), "--contender", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        print(f"{name} failed:\n{completed.stderr[-3000:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contender", choices=["sluice", "evidently"])
    args = parser.parse_args()
    if args.contender == "sluice":
        print(json.dumps(run_sluice()))
        return 0
    if args.contender == "evidently":
        print(json.dumps(run_evidently()))
        return 0
    print(
        f"drift check: {N_CURRENT:,} current rows × {N_NUMERICAL + N_CATEGORICAL} columns "
        f"({N_NUMERICAL} numerical, {N_CATEGORICAL} categorical) vs {N_REFERENCE:,} reference rows"
    )
    print(
        "sluice timed: engine on typed arrays (no file parsing); evidently timed: Dataset.from_pandas + Report.run"
    )
    results = {"sluice": contender("sluice")}
    if importlib.util.find_spec("evidently") is not None:
        results["evidently (0.7)"] = contender("evidently")
    else:
        print("evidently is not installed: no baseline")
    print(
        f"\n{'contender':<16} {'time (s)':>9} {'peak RSS (MB)':>14} {'RSS growth (MB)':>16} {'drifted':>8} dataset"
    )
    for name, result in results.items():
        if result is None:
            print(f"{name:<16} failed")
            continue
        drifted = sum(c["drifted"] for c in result["columns"].values())
        print(
            f"{name:<16} {result['seconds']:>9.2f} {result['peak_mb']:>14.0f} {result['growth_mb']:>16.0f} "
            f"{drifted:>5}/{len(result['columns']):<2} {'drift' if result['dataset_drift'] else 'no drift'}"
        )
    ours, theirs = results["sluice"], results.get("evidently (0.7)")
    if ours is None:
        return 1
    together = ours["multivariate"]
    print(
        f"\nsluice without its multivariate check: {ours['per_column_seconds']:.2f} s; the domain "
        f"classifier (ROC AUC {together['roc_auc']:.3f}, {together['rows']['reference']:,} + "
        f"{together['rows']['current']:,} rows, columns {', '.join(together['columns'])}) adds "
        f"{ours['seconds'] - ours['per_column_seconds']:.2f} s"
    )
    if theirs is not None:
        names = sorted(theirs["columns"])
        agree = sum(ours["columns"][n]["drifted"] == theirs["columns"][n]["drifted"] for n in names)
        differences = [
            abs(ours["columns"][n]["score"] - theirs["columns"][n]["score"])
            for n in names
            if ours["columns"][n]["score"] is not None
        ]
        print(
            f"\nverdict agreement: {agree}/{len(names)} columns, dataset verdict "
            f"{'same' if ours['dataset_drift'] == theirs['dataset_drift'] else 'DIFFERENT'}; "
            f"largest score difference {max(differences):.3g}; "
            f"speed-up {theirs['seconds'] / ours['seconds']:.1f}×, "
            f"peak RSS {theirs['peak_mb'] / ours['peak_mb']:.1f}× lower, "
            f"RSS growth {theirs['growth_mb'] / max(ours['growth_mb'], 1.0):.1f}× lower"
        )
        if agree != len(names):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
