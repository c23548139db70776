"""The built bundles, checked as the python3.12 Lambda runtime (Amazon Linux 2023) would load them:

- each function's size with its layers (unzipped, as Lambda counts it) fits, the inference layer holds
  no training libraries, the sluice layer none of the tools, and the serving layers ship bytecode;
- every shared object needs at most GLIBC_2.34 (read from its ELF version needs, `readelf -V`) and every
  compiled extension (an ELF exporting `PyInit_*`) carries the runtime's ABI tag."""

from __future__ import annotations

import importlib.machinery
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.integration.sam_build.conftest import bundles

LAMBDA_LIMIT_BYTES = 262_144_000  # 250 MB: function plus layers, unzipped
INFERENCE_LIMIT_BYTES = 160 * 1024 * 1024  # the serving bundle budget (docs/benchmarks.md)
TRAINING = ("TrainFunction", "ExportFunction", "EvaluateFunction")
GLIBC_MAX = (2, 34)  # Amazon Linux 2023, the python3.12 runtime's OS
RUNTIME_ABI_SUFFIXES = (".cpython-312-x86_64-linux-gnu.so", ".abi3.so")

# One worker runs both modules here: they share the session's `sam build` (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("sam_build")


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def test_every_function_with_its_layers_fits_lambda(build: Path) -> None:
    # Given each built function with its layers, unzipped
    sizes = {name: sum(tree_bytes(p) for p in paths) for name, paths in bundles(build).items()}
    print({name: f"{size / 1e6:.1f} MB" for name, size in sizes.items()})
    assert set(TRAINING) <= set(sizes)
    # Then each fits Lambda's limit
    for name, size in sizes.items():
        assert size <= LAMBDA_LIMIT_BYTES, f"{name}: {size / 1e6:.1f} MB unzipped"


def test_the_inference_layer_is_small_and_has_no_training_libraries(build: Path) -> None:
    # Given the built InferenceLayer
    inference = build / "InferenceLayer" / "python"
    # Then it holds the runtime and numpy, none of the training libraries, and fits the serving budget
    assert (inference / "onnxruntime").is_dir() and (inference / "numpy").is_dir()
    for heavy in ("sklearn", "scipy", "pandas", "skl2onnx"):
        assert not (inference / heavy).exists(), heavy
    assert tree_bytes(inference) + tree_bytes(build / "SluiceLayer" / "python") <= INFERENCE_LIMIT_BYTES


def test_the_sluice_layer_ships_the_package_without_the_tools_for_people(build: Path) -> None:
    # Given the built SluiceLayer
    package = build / "SluiceLayer" / "python" / "sluice"
    # Then it holds every shipped layer of the package, and nothing of sluice.tools
    for layer in ("domain", "app", "adapters", "entrypoints"):
        assert (package / layer / "__init__.py").is_file(), layer
    assert (package / "domain" / "spec" / "algorithm_params.json").is_file()
    assert not (package / "tools").exists()
    assert not any(package.rglob("*tools*")), sorted(map(str, package.rglob("*tools*")))


def test_the_serving_layers_ship_bytecode_that_never_goes_stale(build: Path) -> None:
    # Given a module of each serving layer
    # Then its bytecode ships as unchecked-hash .pyc, never re-validated against a source, so never stale
    for layer, module in (
        ("SluiceLayer", "sluice/app/serving/production.py"),
        ("InferenceLayer", "numpy/__init__.py"),
    ):
        source = build / layer / "python" / module
        cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        assert cached.is_file(), cached
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{cached}: not unchecked-hash bytecode (flags {flags:#b})"


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
