"""`sam build` of template.yaml, checked as the python3.12 Lambda runtime (Amazon Linux 2023) would run it:

- every shared object needs at most GLIBC_2.34 (read from its ELF version needs, `readelf -V`) and every
  compiled extension (an ELF exporting `PyInit_*`) carries the runtime's ABI tag;
- each function's handler imports and answers its events/ files in a fresh python3.12 process whose
  sys.path holds only the function's folder, its layers' python/ folders (/opt/python) and the
  runtime's boto3 — no venv — against the local stack's moto server;
- each function's size with its layers (unzipped, as Lambda counts it) fits, and a training bundle
  trains, so trimming the layers cannot remove anything needed.

`make check-build` runs this module on .aws-sam/build (SLUICE_BUILD_DIR) instead of building anew."""

from __future__ import annotations

import importlib.machinery
import json
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from sluice.local import free_port
from sluice.local.server import running_server
from sluice.local.stack import RUNTIME_ENV, LocalStack, resolve_placeholders
from sluice.local.template import SERVERLESS_FUNCTION, load_sam
from tests.integration.conftest import csv_bytes, spec_text

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
    "jmespath",
)  # what the python3.12 runtime provides beside the standard library
TRAINING = ("TrainFunction", "ExportFunction", "EvaluateFunction")
BUILD_DIR_ENV = "SLUICE_BUILD_DIR"
GLIBC_MAX = (2, 34)  # Amazon Linux 2023, the python3.12 runtime's OS
RUNTIME_ABI_SUFFIXES = (".cpython-312-x86_64-linux-gnu.so", ".abi3.so")
# The base interpreter the venv was made from (pyenv's 3.12): a fresh python3.12 that knows no venv.
RUNTIME_PYTHON = str(getattr(sys, "_base_executable", sys.executable))
# Each function's events/ files; ExportFunction and EvaluateFunction have none (their steps need the
# state of a run: test_a_training_bundle_trains_exports_checks_parity_and_evaluates runs their code).
EVENTS = {
    "PredictFunction": ("api-predict.json", "api-predict-unknown-model.json", "api-openapi.json"),
    "IngestFunction": ("ingest-spec-uploaded.json", "ingest-ignored.json"),
    "RegisterFunction": ("register-allocate.json",),
    "TrainFunction": ("train-task.json",),
    "DriftFunction": ("drift-scheduled.json",),
}


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get(BUILD_DIR_ENV):  # make check-build: the build `make build` made
        built = Path(os.environ[BUILD_DIR_ENV]).resolve()
        assert (built / "template.yaml").is_file(), f"{built}: no sam build output (run make build)"
        return built
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


def runtime_folder(tmp: Path) -> Path:
    """What the Lambda runtime adds to a bundle: boto3 and its dependencies (symlinked from the venv)."""
    runtime = tmp / "runtime"
    if not runtime.exists():
        runtime.mkdir()
        site = Path(sysconfig.get_paths()["purelib"])
        for name in RUNTIME_PACKAGES:
            (runtime / name).symlink_to(site / name)
    return runtime


# Run first in every clean child: the interpreter must be python3.12 outside any venv, and sys.path
# only the standard library (as `-I -S` leaves it), the bundle and the runtime's packages.
CHILD_PRELUDE = """
import sys, sysconfig
BUNDLE = {paths!r}
assert sys.version_info[:2] == (3, 12), sys.version
assert sys.prefix == sys.base_prefix, "running inside a venv"
STDLIB = {{sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}}
assert all(p.startswith(tuple(STDLIB)) or p.endswith(".zip") for p in sys.path), sys.path
assert not any("site-packages" in p for p in sys.path), sys.path
sys.path[:0] = BUNDLE


def loaded_from_elsewhere():
    # modules imported from outside the bundle and the standard library (its site-packages included)
    def allowed(path):
        return path.startswith(tuple(BUNDLE)) or (path.startswith(tuple(STDLIB)) and "site-packages" not in path)

    return sorted(
        name for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and not allowed(module.__file__)
    )
"""


def run_clean(
    paths: list[Path],
    code: str,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh `python3.12 -I -S -B`: the standard library, the bundle and the runtime's
    boto3 only (and no bytecode written into the bundle)."""
    bundle = [str(p) for p in paths] + [str(runtime_folder(tmp_path))]
    prelude = CHILD_PRELUDE.format(paths=bundle)
    return subprocess.run(
        [RUNTIME_PYTHON, "-I", "-S", "-B", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd or tmp_path,
        env=env
        or {
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PATH": os.environ["PATH"],
        },
    )


def test_every_built_handler_imports_with_only_its_layers(build: Path, tmp_path: Path) -> None:
    code = """
        import app
        assert callable(app.lambda_handler)
        assert not loaded_from_elsewhere(), loaded_from_elsewhere()
    """
    for name, paths in bundles(build).items():
        result = run_clean(paths, code, tmp_path)
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


# ---------------------------------------------------------------------------------------------- ELF
def shared_objects(build: Path) -> list[Path]:
    """Every ELF shared object in the built functions and layers (.so and versioned .so.N files)."""
    found = [
        p
        for p in build.rglob("*")
        if p.is_file() and not p.is_symlink() and (p.name.endswith(".so") or ".so." in p.name)
    ]
    return sorted(p for p in found if p.read_bytes()[:4] == b"\x7fELF")


class Elf(NamedTuple):
    glibc: set[str]  # the GLIBC_x.y versions it needs (its .gnu.version_r section)
    inits: set[str]  # the PyInit_* functions it defines (its dynamic symbols)
    needed: set[str]  # the libraries it links (DT_NEEDED)


def elf_facts(path: Path) -> Elf:
    """What `readelf` reports of a shared object."""
    out = subprocess.run(
        ["readelf", "-W", "-d", "-V", "--dyn-syms", str(path)], capture_output=True, text=True, check=True
    ).stdout
    glibc: set[str] = set()
    in_needs = False
    for line in out.splitlines():
        if line.startswith(("Version needs section", "Version definition section", "Version symbols")):
            in_needs = line.startswith("Version needs section")
        elif line.startswith("Symbol table"):
            in_needs = False
        elif in_needs and (match := re.search(r"Name: (GLIBC_\S+)", line)):
            glibc.add(match.group(1))
    inits = set(re.findall(r"\bFUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+(PyInit_\w+)", out))
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    return Elf(glibc, inits, needed)


def glibc_version(symbol: str) -> tuple[int, ...]:
    """GLIBC_2.17 -> (2, 17); anything else (GLIBC_PRIVATE) sorts above every release."""
    numbers = symbol.removeprefix("GLIBC_")
    return tuple(int(n) for n in numbers.split(".")) if re.fullmatch(r"[\d.]+", numbers) else (99,)


@pytest.fixture(scope="module")
def elf(build: Path) -> dict[Path, Elf]:
    objects = shared_objects(build)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(objects, pool.map(elf_facts, objects), strict=True))


def test_every_shared_object_needs_at_most_the_runtimes_glibc(build: Path, elf: dict[Path, Elf]) -> None:
    # Given every shared object of every built function and layer
    assert len(elf) > 100, sorted(elf)
    # Then the symbol versions of each one that links the C library were read...
    libc = {p: e for p, e in elf.items() if "libc.so.6" in e.needed}
    assert len(libc) > 100
    unread = [str(p.relative_to(build)) for p, e in libc.items() if not e.glibc]
    assert not unread, unread
    # ...and none needs a GLIBC newer than Amazon Linux 2023's 2.34
    needs = {p: max(e.glibc, key=glibc_version) for p, e in elf.items() if e.glibc}
    too_new = {str(p.relative_to(build)): v for p, v in needs.items() if glibc_version(v) > GLIBC_MAX}
    assert not too_new, too_new
    newest = max(needs.values(), key=glibc_version)
    print(f"{len(elf)} shared objects; the newest GLIBC any of them needs: {newest}")


def test_every_compiled_extension_carries_the_runtimes_abi_tag(build: Path, elf: dict[Path, Elf]) -> None:
    # Given the compiled extensions: the shared objects that define a PyInit_ function
    extensions = {p: e.inits for p, e in elf.items() if e.inits}
    assert any("onnxruntime" in p.parts for p in extensions) and any("numpy" in p.parts for p in extensions)
    # Then each is named for CPython 3.12 on x86-64 Linux, or the stable ABI (abi3)
    assert set(RUNTIME_ABI_SUFFIXES) <= set(importlib.machinery.EXTENSION_SUFFIXES)
    wrong = [str(p.relative_to(build)) for p in extensions if not p.name.endswith(RUNTIME_ABI_SUFFIXES)]
    assert not wrong, wrong
    # And each defines the init function of the module its file name says it is
    misnamed = [
        str(p.relative_to(build))
        for p, inits in extensions.items()
        if f"PyInit_{p.name.split('.')[0]}" not in inits
    ]
    assert not misnamed, misnamed


# ---------------------------------------------------------------------------------------------- events


@pytest.fixture(scope="module")
def served_stack() -> Iterator[LocalStack]:
    """The local stack behind moto's server on 127.0.0.1 (so a child process reaches it through
    AWS_ENDPOINT_URL), with credit-risk trained and in production and the objects events/ names."""
    saved = dict(os.environ)
    try:
        with running_server(ROOT, port=free_port(), stack_name="sluice-build") as stack:
            s3 = stack.client("s3")
            raw, artifacts = stack.outputs["RawBucketName"], stack.outputs["ArtifactBucketName"]
            s3.put_object(Bucket=raw, Key="credit-risk/spec.yaml", Body=spec_text("credit-risk").encode())
            stack.wait_for_executions()
            s3.put_object(
                Bucket=raw, Key="credit-risk/data/first upload.csv", Body=csv_bytes(rows=300, seed=1)
            )
            s3.put_object(
                Bucket=artifacts, Key="specs/credit-risk/example.yaml", Body=spec_text("credit-risk").encode()
            )
            s3.put_object(
                Bucket=artifacts,
                Key="datasets/credit-risk/example/data.csv",
                Body=csv_bytes(rows=200, seed=7),
            )
            assert [e["status"] for e in stack.wait_for_executions()] == ["SUCCEEDED"]
            yield stack
    finally:
        os.environ.clear()
        os.environ.update(saved)


def function_env(stack: LocalStack, logical_id: str, code: Path) -> dict[str, str]:
    """What Lambda gives the function: its environment (template + env.json, resolved by the stack),
    the runtime's variables, and the local stack's endpoint."""
    config = stack.function_configuration(logical_id)
    assert stack.endpoint_url is not None
    return {
        **RUNTIME_ENV,
        **stack.function_environment(logical_id),
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": stack.endpoint_url,
        "AWS_REGION": stack.region,
        "AWS_DEFAULT_REGION": stack.region,
        "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
        "LAMBDA_TASK_ROOT": str(code),
    }


ANSWER_EVENTS = """
    import importlib, json
    from pathlib import Path

    class Context:
        function_name = "{name}"
        memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:{name}"
        aws_request_id = "built-layout"
        function_version = "$LATEST"

        def get_remaining_time_in_millis(self):
            return 60_000

    module_name, function_name = "{handler}".rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    events = json.loads(Path("events.json").read_text())
    answers = {{name: handler(event, Context()) for name, event in events.items()}}
    assert not loaded_from_elsewhere(), loaded_from_elsewhere()
    Path("answers.json").write_text(json.dumps(answers, default=str))
"""


def answer_in_built_layout(stack: LocalStack, build: Path, logical_id: str, tmp_path: Path) -> dict[str, Any]:
    """Each events/ file of the function through its built handler in a clean python3.12 process."""
    sam = load_sam(ROOT / "template.yaml")
    handler = sam["Resources"][logical_id]["Properties"].get("Handler", sam["Globals"]["Function"]["Handler"])
    folder = tmp_path / logical_id
    folder.mkdir()
    events = {
        name: resolve_placeholders(json.loads((ROOT / "events" / name).read_text()), stack.outputs)
        for name in EVENTS[logical_id]
    }
    (folder / "events.json").write_text(json.dumps(events))
    paths = bundles(build)[logical_id]
    code = ANSWER_EVENTS.format(name=logical_id, handler=handler)
    result = run_clean(paths, code, tmp_path, env=function_env(stack, logical_id, paths[0]), cwd=folder)
    assert result.returncode == 0, f"{logical_id}: {result.stderr[-3000:]}"
    answers: dict[str, Any] = json.loads((folder / "answers.json").read_text())
    return answers


def body_of(answer: dict[str, Any]) -> tuple[int, Any]:
    return answer["statusCode"], json.loads(answer["body"])


def test_the_built_predict_function_answers_its_events(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # Given credit-risk in production on the local stack
    # When the built PredictFunction answers its events in a clean python3.12
    answers = answer_in_built_layout(served_stack, build, "PredictFunction", tmp_path)

    # Then the prediction is real: two instances scored by a named version, probabilities in class order
    status, body = body_of(answers["api-predict.json"])
    assert status == 200, body
    assert body["model"] == "credit-risk" and body["version"] >= 1
    assert body["classes"] == [0, 1] and len(body["predictions"]) == len(body["probabilities"]) == 2
    assert all(abs(sum(p) - 1) < 1e-5 for p in body["probabilities"])
    # And an unknown model is a 404, and the OpenAPI document is served
    status, body = body_of(answers["api-predict-unknown-model.json"])
    assert status == 404 and "no-such-model" in body["error"]
    status, body = body_of(answers["api-openapi.json"])
    assert status == 200 and "/models/{model}/predict" in body["paths"]


def test_the_built_ingest_function_answers_its_events(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    answers = answer_in_built_layout(served_stack, build, "IngestFunction", tmp_path)
    assert answers["ingest-spec-uploaded.json"]["status"] in {"spec_registered", "spec_unchanged"}
    assert answers["ingest-spec-uploaded.json"]["model"] == "credit-risk"
    assert answers["ingest-ignored.json"]["status"] == "ignored"


def test_the_built_training_and_registry_functions_answer_their_events(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    # When the built RegisterFunction allocates a version and the built TrainFunction trains
    register = answer_in_built_layout(served_stack, build, "RegisterFunction", tmp_path)
    train = answer_in_built_layout(served_stack, build, "TrainFunction", tmp_path)

    # Then the run got a version, and the pipeline was fitted on the dataset the event names and stored
    allocated = register["register-allocate.json"]
    assert allocated["status"] == "training" and allocated["version"] >= 1
    trained = train["train-task.json"]
    assert trained["n_train"] > trained["n_holdout"] > 0
    pipeline = trained["artifacts"]["pipeline"]["uri"]
    assert pipeline.endswith("/pipeline.pkl")
    bucket, key = pipeline.removeprefix("s3://").split("/", 1)
    assert served_stack.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 1000


def test_the_built_drift_function_answers_its_event(
    build: Path, served_stack: LocalStack, tmp_path: Path
) -> None:
    answers = answer_in_built_layout(served_stack, build, "DriftFunction", tmp_path)
    (check,) = answers["drift-scheduled.json"]["checked"]
    assert check["model"] == "credit-risk"
    assert check["report_uri"].startswith("s3://") and check["report_uri"].endswith(".json")
