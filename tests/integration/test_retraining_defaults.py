"""Retraining defaults that learn, on the local stack, as the issue tried it: a spec with
`retrain_on_drift: true` and no `retraining:` section, version 1 in production. Drifted traffic with no
label and no newer upload starts nothing (there is nothing new to learn from: the report and the audit
trail say so); then ~2,000 labelled rows of a changed world, on which the live ROC AUC is under its gate,
and the drift check's retraining learns from them by default. The check's report carries `multivariate`."""

from __future__ import annotations

import json

import pytest

from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import DatasetKind, EventType
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack, spec_text
from tests.integration.live_rollout import instances_and_labels
from tests.integration.scenario import statuses
from tests.integration.test_dashboard import get
from tests.integration.test_serving import http, predict

MODEL = "it-learns"
SPEC = spec_text(MODEL)
NOTHING_NEW = "nothing new to learn from since v1: send feedback or upload newer data"
PER_REQUEST = 500


def drift_check(stack: Stack) -> dict[str, object]:
    """Run the scheduled drift check once the streams' buffer interval passed; this model's check."""
    stack.local.flush_streams()
    payload = stack.scheduled_check()
    check: dict[str, object] = next(c for c in payload["checked"] if c["model"] == MODEL)
    return check


@pytest.mark.slow
def test_without_a_retraining_section_the_drift_retraining_learns_from_feedback_and_never_relearns(
    stack: Stack,
) -> None:
    # Given a spec that retrains on drift and has no `retraining:` section, and version 1 in production
    assert "retrain_on_drift: true" in SPEC and "retraining:" not in SPEC
    stack.upload(f"{MODEL}/spec.yaml", SPEC.encode())
    stack.settle()
    stack.upload(f"{MODEL}/data/first.csv", to_csv_bytes(credit_risk(rows=800, seed=61)))
    stack.settle()
    assert statuses(stack, MODEL) == {1: "production"}
    production = stack.registry.get_version(MODEL, 1)
    served = stack.local.serve_api(0)
    try:
        # And drifted traffic served, without a single label
        instances, _ = instances_and_labels(credit_risk(300, seed=600, shift=1.0))
        assert predict(served, instances, model=MODEL)[0] == 200
        # When the drift check runs
        first = drift_check(stack)
        # Then it reports the drift, the columns judged together, and starts no retraining: nothing new
        assert first["dataset_drift"] is True and first["retraining"] is None
        assert first["retrain_skipped"] == NOTHING_NEW
        report = json.loads(stack.artifacts.get_bytes(str(first["report_uri"])))
        assert isinstance(report["multivariate"], dict) and report["multivariate"]["drift"] is True
        assert f"No retraining: {NOTHING_NEW}." in report["explanation"]["next"]
        assert set(report["multivariate"]) >= {"drift", "roc_auc", "threshold", "columns", "rows"}
        (held,) = [e for e in stack.registry.list_events(MODEL) if e.type is EventType.RETRAINING_HELD]
        assert held.reason == NOTHING_NEW and held.version == 1
        # And the dashboard shows what the columns together showed, and the reason, under the verdict
        status, _, page = get(served, "/dashboard")
        section = page[page.index(f"data-model='{MODEL}'") :]
        assert status == 200 and "data-multivariate='true'" in section
        assert "The columns together: told apart from the reference (ROC AUC" in section
        assert NOTHING_NEW in section
        # Given then ~2,000 requests of a changed world (how default depends on the inputs), each labelled
        changed = credit_risk(2000, seed=601, concept_shift=1.0)
        instances, labels = instances_and_labels(changed)
        for start in range(0, len(instances), PER_REQUEST):
            status, body = predict(served, instances[start : start + PER_REQUEST], model=MODEL)
            assert status == 200, body
            for instance in range(len(body["predictions"])):
                label = labels[start + instance]
                feedback = {"request_id": body["request_id"], "instance": instance, "label": label}
                assert http(served, "POST", f"/models/{MODEL}/feedback", feedback)[0] == 200
        # When the drift check runs again
        second = drift_check(stack)
    finally:
        served.stop()
    # Then the live ROC AUC is under the gate, and a retraining started
    gate = second["live_gate"]
    assert isinstance(gate, dict) and gate["metric"] == "roc_auc" and gate["below_minimum"] is True
    assert second["retraining"] is not None and second["retrain_skipped"] is None
    (execution,) = [e for e in stack.settle() if e["executionArn"] == second["retraining"]]
    assert execution["status"] == "SUCCEEDED"
    # And it trained on the upload plus the labelled traffic, with the section's defaults, not on
    # production's dataset again
    (version,) = [v for v in stack.registry.list_versions(MODEL) if v.trigger.value == "drift"]
    assert version.dataset_sha256 != production.dataset_sha256
    dataset = stack.registry.get_dataset(MODEL, str(version.dataset_sha256))
    assert dataset is not None and dataset.kind is DatasetKind.RETRAINING
    assert dataset.sources[0] == production.dataset_sha256
    assert (dataset.n_rows, dataset.recent_rows) == (800 + len(labels), len(labels))
    run_input = json.loads(stack.describe(execution["executionArn"])["input"])
    assert (run_input["recent_rows"], run_input["recent_weight"]) == (len(labels), 2.0)
    assert run_input["recent_holdout_rows"] == int(0.3 * len(labels))
    # And the spec is the one written: its hash is production's
    assert version.spec_sha256 == production.spec_sha256
    # And the new version learnt something: its holdout metrics are not production's
    assert version.metrics.get("roc_auc") != production.metrics.get("roc_auc")
