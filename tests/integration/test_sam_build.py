"""`sam build` of template.yaml: each function's size with its layers (unzipped, as Lambda counts it),
and the built bundles importing and training in a clean interpreter that sees only the bundle and
what the Lambda runtime provides (boto3), so trimming the layers cannot remove anything needed."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sluice.local.template import SERVERLESS_FUNCTION, load_sam

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_LIMIT_BYTES = 262_144_000  # 250 MB: function plus layers, unzipped
INFERENCE_LIMIT_BYTES = 160 * 1024 * 1024  # DESIGN.md budget for serving
RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "dateutil",
    "urllib3",
    "six.py",
)  # in the python3.11 runtime
TRAINING = ("TrainFunction", "ExportFunction", "EvaluateFunction")


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam") / "build"
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "sam"),
            "build",
            "--no-cached",
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def layers_of(sam: dict[str, Any], props: dict[str, Any]) -> list[str]:
    shared = sam.get("Globals", {}).get("Function", {}).get("Layers", [])
    return [ref["Ref"] for ref in [*shared, *props.get("Layers", [])]]


def bundles(build: Path) -> dict[str, list[Path]]:
    """Function logical id -> its built folder and its layers' python/ folders, in layer order."""
    sam = load_sam(ROOT / "template.yaml")
    return {
        name: [build / name, *(build / layer / "python" for layer in layers_of(sam, r["Properties"]))]
        for name, r in sam["Resources"].items()
        if r["Type"] == SERVERLESS_FUNCTION
    }


def test_every_function_with_its_layers_fits_lambda(build: Path) -> None:
    sizes = {name: sum(tree_bytes(p) for p in paths) for name, paths in bundles(build).items()}
    print({name: f"{size / 1e6:.1f} MB" for name, size in sizes.items()})
    assert set(TRAINING) <= set(sizes)
    for name, size in sizes.items():
        assert size <= LAMBDA_LIMIT_BYTES, f"{name}: {size / 1e6:.1f} MB unzipped"


def test_the_inference_layer_is_small_and_has_no_training_libraries(build: Path) -> None:
    inference = build / "InferenceLayer" / "python"
    assert (inference / "onnxruntime").is_dir() and (inference / "numpy").is_dir()
    for heavy in ("sklearn", "scipy", "pandas", "skl2onnx"):
        assert not (inference / heavy).exists(), heavy
    assert tree_bytes(inference) + tree_bytes(build / "SluiceLayer" / "python") <= INFERENCE_LIMIT_BYTES


def test_the_sluice_layer_ships_the_package_without_the_tools_for_people(build: Path) -> None:
    package = build / "SluiceLayer" / "python" / "sluice"
    assert (package / "pipeline.py").is_file() and (package / "adapters" / "registry.py").is_file()
    assert not (package / "local").exists() and not (package / "cli").exists()


def test_the_serving_layers_ship_bytecode_that_never_goes_stale(build: Path) -> None:
    for layer, module in (("SluiceLayer", "sluice/predictions.py"), ("InferenceLayer", "numpy/__init__.py")):
        source = build / layer / "python" / module
        cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        assert cached.is_file(), cached
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{cached}: not unchecked-hash bytecode (flags {flags:#b})"


def run_clean(paths: list[Path], code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run code in `python -I -S`: the standard library, the bundle and the runtime's boto3 only."""
    runtime = tmp_path / "runtime"
    if not runtime.exists():
        runtime.mkdir()
        site = Path(sysconfig.get_paths()["purelib"])
        for name in RUNTIME_PACKAGES:
            (runtime / name).symlink_to(site / name)
    path = [str(p) for p in paths] + [str(runtime)]
    prelude = f"import sys; sys.path[:0] = {path!r}\n"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PATH": os.environ["PATH"],
        },
    )


def test_every_built_handler_imports_with_only_its_layers(build: Path, tmp_path: Path) -> None:
    for name, paths in bundles(build).items():
        result = run_clean(paths, "import app\nassert callable(app.lambda_handler)", tmp_path)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"


def test_a_training_bundle_trains_exports_checks_parity_and_evaluates(build: Path, tmp_path: Path) -> None:
    code = """
        import importlib.util
        from sluice.examples import credit_risk
        from sluice.spec import parse_spec
        from sluice.training import split_holdout, fit_pipeline
        from sluice.export import export_onnx, check_parity
        from sluice.evaluation import evaluate, apply_gates
        from sluice.validation import validate_table
        from sluice.reference import reference_sample
        spec = parse_spec(open(SPEC).read().replace("n_estimators: 100", "n_estimators: 5"))
        table = credit_risk(rows=300, seed=1)
        assert validate_table(spec, table).passed
        split = split_holdout(spec, table)
        pipeline = fit_pipeline(spec, split.train)
        model = export_onnx(pipeline, spec, version="1")
        assert check_parity(pipeline, model, spec, split.holdout).passed
        result = apply_gates(spec, evaluate(model, spec, split.holdout), None)
        reference_sample(spec, split.train)
        assert importlib.util.find_spec("pandas") is None
        print("ok", result.passed)
    """.replace("SPEC", repr(str(ROOT / "examples" / "credit-risk" / "spec.yaml")))
    result = run_clean(bundles(build)["ExportFunction"], code, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")
