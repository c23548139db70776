"""Where Train runs: the spec's `resources` section (validated against Fargate's sizes, old specs keep
their hash) and the pure choice between Lambda and Fargate at the stack's thresholds."""

from __future__ import annotations

import pytest

from sluice.domain.spec.model_spec import parse_spec
from sluice.domain.training.backend import DatasetSize, LambdaLimits, choose_backend
from sluice.errors import SpecError
from tests.unit.domain.test_spec import VALID

LIMITS = LambdaLimits(max_cells=1_000, max_bytes=10_000)


def test_a_spec_without_resources_keeps_its_hash_and_an_explicit_one_changes_it() -> None:
    spec = parse_spec(VALID)
    assert spec.resources is None
    assert parse_spec(VALID + "resources: null\n").sha256 == spec.sha256
    assert parse_spec(VALID + "resources: {backend: fargate}\n").sha256 != spec.sha256


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("{backend: gpu}", "resources.backend: 'gpu' is not a training backend"),
        ("{backend: fargate, cpu: 3000}", "cpu: 3000 is not a Fargate size"),
        ("{backend: fargate, cpu: 1024, memory: 512}", "memory: 512 MiB does not go with cpu 1024"),
        ("{backend: lambda, memory: 4096}", "cpu and memory size a Fargate task"),
        ("{backend: fargate, gpus: 1}", "resources.gpus: unknown key"),
    ],
)
def test_resources_errors_name_the_key(resources: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(VALID + f"resources: {resources}\n")


def test_a_fargate_size_is_the_specs_pair_or_the_default() -> None:
    sized = parse_spec(VALID + "resources: {backend: fargate, cpu: 8192, memory: 61440}\n").resources
    assert sized is not None and sized.fargate_size == (8192, 61440)
    cpu_only = parse_spec(VALID + "resources: {cpu: 2048}\n").resources
    assert cpu_only is not None and cpu_only.fargate_size == (2048, 4096)
    default = parse_spec(VALID + "resources: {backend: fargate}\n").resources
    assert default is not None and default.fargate_size == (4096, 16384)


@pytest.mark.parametrize(
    ("rows", "size_bytes", "backend"),
    [
        (100, 10_000, "lambda"),  # 100 rows x 10 columns = 1,000 cells and 10,000 bytes: at both limits
        (101, 10_000, "fargate"),  # one row past the cells
        (100, 10_001, "fargate"),  # one byte past the bytes
        (0, 0, "lambda"),
    ],
)
def test_auto_trains_in_lambda_up_to_the_limits_and_on_fargate_past_them(
    rows: int, size_bytes: int, backend: str
) -> None:
    choice = choose_backend(None, DatasetSize(rows=rows, columns=10, size_bytes=size_bytes), LIMITS)
    assert choice.backend == backend
    assert (choice.cpu, choice.memory) == ((4096, 16384) if backend == "fargate" else (None, None))


def test_the_spec_overrides_the_thresholds_both_ways() -> None:
    huge = DatasetSize(rows=10**7, columns=50, size_bytes=10**10)
    tiny = DatasetSize(rows=10, columns=2, size_bytes=100)
    forced_lambda = parse_spec(VALID + "resources: {backend: lambda}\n").resources
    forced_fargate = parse_spec(VALID + "resources: {backend: fargate, cpu: 1024, memory: 2048}\n").resources
    assert choose_backend(forced_lambda, huge, LIMITS).backend == "lambda"
    fargate = choose_backend(forced_fargate, tiny, LIMITS)
    assert (fargate.backend, fargate.cpu, fargate.memory) == ("fargate", 1024, 2048)
    assert "spec asks" in fargate.reason
