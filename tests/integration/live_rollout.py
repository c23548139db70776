"""What the live rollout tests on the local stack share (shadow and canary): the rollout spec they upload,
how they start a rollout beside production, the signed requests a client sends (predictions naming their
id in X-Request-Id, feedback), and how they poll the registry."""

from __future__ import annotations

from typing import Any

from sluice.domain.data.table import RawTable
from sluice.tools.example_data import credit_risk
from sluice.tools.local.api.gateway import LocalApi
from tests.integration.conftest import INSTANCE, Stack, spec_text
from tests.integration.local_api import signed_request
from tests.integration.scenario import BETTER, FIRST, statuses

POLL_LIMIT_SECONDS = 300.0  # how long a test polls before it gives up (not a performance threshold)
WEIGHT = 0.3  # the canary's share of requests
NUMERIC = {"income", "age", "debt_ratio", "credit_lines", "months_employed"}
CATEGORICAL = {"segment", "region"}


def quiet_spec(model: str) -> str:
    """The test spec without `retrain_on_drift`: the stack is shared, and a later test's drift check
    (which judges a production version by the spec it was trained under) must not start a retraining
    that then waits in this model's rollout."""
    text = spec_text(model).replace("retrain_on_drift: true", "retrain_on_drift: false")
    assert "retrain_on_drift: false" in text
    return text


def with_rollout(model: str, rollout: str) -> bytes:
    """The quiet test spec with a `rollout:` section."""
    return (quiet_spec(model) + f"rollout: {rollout}\n").encode()


def train_quietly(stack: Stack, model: str, dataset: tuple[str, bytes]) -> None:
    """Version 1 of `model` in production, trained under the quiet spec."""
    stack.upload(f"{model}/spec.yaml", quiet_spec(model).encode())
    stack.settle()
    stack.upload(f"{model}/data/{dataset[0]}", dataset[1])
    stack.settle()


def rollout_spec(model: str, **rollout: object) -> bytes:
    """The test spec with a live rollout: the given keys, checked every second, for at most half an hour.
    p99 is not what these tests judge: a shared machine's noise must not roll a candidate back."""
    keys = {**rollout, "check_seconds": 1, "timeout_hours": 0.5, "max_latency_p99_ratio": 50}
    return with_rollout(model, "{" + ", ".join(f"{key}: {value}" for key, value in keys.items()) + "}")


def canary_spec(model: str, min_requests: int) -> bytes:
    return rollout_spec(model, mode="canary", weight=WEIGHT, min_requests=min_requests)


def begin_rollout(stack: Stack, model: str, spec: bytes, status: str) -> None:
    """With a version in production, upload `spec` then a better dataset, and wait until the new version
    (the model's highest) stands beside production as `status` (shadow or canary)."""
    version = max(statuses(stack, model)) + 1
    stack.upload(f"{model}/spec.yaml", spec)
    stack.settle()
    stack.upload(f"{model}/data/{BETTER[0]}", BETTER[1])
    stack.local.drain()
    assert await_status(stack, model, version, {status, "rejected", "failed"}) == status


def start_canary(stack: Stack, model: str, min_requests: int) -> None:
    """Version 1 in production, then a better upload under a canary spec: version 2 in canary."""
    train_quietly(stack, model, FIRST)
    begin_rollout(stack, model, canary_spec(model, min_requests), "canary")


def _post(api: LocalApi, path: str, document: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = signed_request(api, "POST", path, document, headers)
    assert response.status == 200, response.json()
    body: dict[str, Any] = response.json()
    return body


def predict_as(
    api: LocalApi, model: str, request_id: str, instances: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One signed request naming its id in X-Request-Id, as a client that retries would (the test
    INSTANCE unless `instances` are given); the 200 answer."""
    return _post(
        api, f"/models/{model}/predict", {"instances": instances or [INSTANCE]}, {"X-Request-Id": request_id}
    )


def send_label(api: LocalApi, model: str, request_id: str, instance: int, label: Any) -> dict[str, Any]:
    """The true label of one served instance, sent back as a client would; the 200 answer."""
    document = {"request_id": request_id, "instance": instance, "label": label}
    return _post(api, f"/models/{model}/feedback", document, {})


def instances_and_labels(table: RawTable) -> tuple[list[dict[str, Any]], list[int]]:
    """Each row of a credit-risk table as a request instance (numbers as numbers, an empty cell as
    null), and its true label."""
    instances = []
    for row in range(table.n_rows):
        instance: dict[str, Any] = {}
        for name in NUMERIC | CATEGORICAL:
            cell = table.columns[name][row]
            instance[name] = None if cell == "" else float(cell) if name in NUMERIC else cell
        instances.append(instance)
    return instances, [int(label) for label in table.columns["default"]]


def balanced_batches(
    count: int, per_request: int, seed: int
) -> tuple[list[list[dict[str, Any]]], list[list[int]]]:
    """`count` batches of `per_request` credit-risk instances whose true labels alternate between the two
    classes (so any few batches hold both), and those labels."""
    instances, labels = instances_and_labels(credit_risk(rows=600, seed=seed))
    half = (count * per_request + 1) // 2
    positives = [i for i, label in enumerate(labels) if label == 1][:half]
    negatives = [i for i, label in enumerate(labels) if label == 0][:half]
    order = [row for pair in zip(positives, negatives, strict=True) for row in pair][: count * per_request]
    cut = range(0, len(order), per_request)
    return (
        [[instances[row] for row in order[i : i + per_request]] for i in cut],
        [[labels[row] for row in order[i : i + per_request]] for i in cut],
    )


def await_status(stack: Stack, model: str, version: int, wanted: set[str]) -> str:
    """The version's status once it is one of `wanted` (the registry is read again each time the stack
    has done something)."""

    def reached() -> str | None:
        status = statuses(stack, model).get(version)
        return status if status in wanted else None

    try:
        return stack.local.wait_until(
            reached, what=f"{model} version {version} to reach {wanted}", timeout=POLL_LIMIT_SECONDS
        )
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: {statuses(stack, model)}") from None
