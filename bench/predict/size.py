"""Size budget (docs/benchmarks.md) of PredictFunction: the function with its layers as `sam build`
lays them out, unzipped, at most 160 MiB and free of scikit-learn, scipy, pandas and skl2onnx.

`python -m bench.predict.size` from the repository root. It reuses .aws-sam/build when that is newer
than its sources, else runs `make build`. Nothing here fails on a budget: it prints PASS/MISS.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.predict.common import ROOT, run_bench, table, verdict

SIZE_BUDGET = 160 * 1024 * 1024  # as tests/integration/sam_build/test_bundles.py counts it
HEAVY = ("sklearn", "scipy", "pandas", "skl2onnx")
HEAVY_DISTRIBUTIONS = ("scikit_learn", "scipy", "pandas", "skl2onnx")


def bench_size() -> None:
    """Print the bundle's parts, its largest entries and the two size budgets."""
    build, how = sam_build()
    print(f"\nBuilt size: PredictFunction with its layers as `sam build` lays them out, unzipped ({how}).")
    if build is None:
        print("size: not measured")
        return
    parts = predict_bundle(build)
    sizes = [(name, tree_bytes(path)) for name, path in parts]
    total = sum(size for _, size in sizes)
    rows = [[name, f"{size / 2**20:,.1f}", f"{size / 1e6:,.1f}"] for name, size in sizes]
    rows.append(["total", f"{total / 2**20:,.1f}", f"{total / 1e6:,.1f}"])
    table(["part", "MiB", "MB"], rows)
    print("largest entries: " + ", ".join(f"{n} {s / 2**20:.1f} MiB" for n, s in largest_entries(parts)[:6]))
    heavy = heavy_folders(build, parts)
    print(
        f"budget: ≤ 160 MiB (as the sam_build tests count): {total / 2**20:.1f} MiB {verdict(total <= SIZE_BUDGET)}"
    )
    print(
        f"budget: no scikit-learn, scipy, pandas, skl2onnx: {', '.join(heavy) or 'none found'} {verdict(not heavy)}"
    )


def sam_build() -> tuple[Path | None, str]:
    """.aws-sam/build if it is newer than its sources, else `make build` now (the prerequisite install
    step is not re-run: `make bench` has just done it); with how it was obtained, or None and why not."""
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


def newest_source() -> float:
    sources = [ROOT / "template.yaml", *(ROOT / "functions" / "predict").rglob("*")]
    sources += [
        *(ROOT / "layers").rglob("*.py"),
        *(ROOT / "layers").rglob("*.txt"),
        *(ROOT / "layers").rglob("Makefile"),
    ]
    return max(p.stat().st_mtime for p in sources if p.is_file() and "__pycache__" not in p.parts)


def predict_bundle(build: Path) -> list[tuple[str, Path]]:
    """PredictFunction's folder and its layers' python/ folders, as Lambda unpacks them."""
    from sluice.tools.local.template import load_sam

    sam = load_sam(ROOT / "template.yaml")
    shared = sam.get("Globals", {}).get("Function", {}).get("Layers", [])
    own = sam["Resources"]["PredictFunction"]["Properties"].get("Layers", [])
    layers = [ref["Ref"] for ref in [*shared, *own]]
    return [("PredictFunction (code)", build / "PredictFunction")] + [
        (layer, build / layer / "python") for layer in layers
    ]


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def largest_entries(parts: list[tuple[str, Path]]) -> list[tuple[str, int]]:
    """The top-level entries of every part (packages, modules), largest first, with their sizes."""
    return sorted(
        (
            (entry.name, tree_bytes(entry) if entry.is_dir() else entry.stat().st_size)
            for _, p in parts
            for entry in p.iterdir()
        ),
        key=lambda item: -item[1],
    )


def heavy_folders(build: Path, parts: list[tuple[str, Path]]) -> list[str]:
    """Folders of scikit-learn, scipy, pandas or skl2onnx (packages or their dist-info) in the bundle."""
    return sorted(
        {
            str(path.relative_to(build))
            for _, part in parts
            for path in part.rglob("*")
            if path.is_dir()
            and (path.name in HEAVY or path.name.split("-")[0].lower() in HEAVY_DISTRIBUTIONS)
        }
    )


if __name__ == "__main__":
    sys.exit(run_bench("bench.predict.size", bench_size))
