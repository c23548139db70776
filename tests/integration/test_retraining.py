"""Retraining on the local stack: after a noisy upload is rejected, a drift retraining trains on the
accepted data plus the labelled traffic the API served (captured inputs joined with feedback), never
on the rejected file, the registry's lineage says so, and the challenger and the champion are scored
on the recent holdout (the newest labelled rows, never trained on), which the gates judge on."""

from __future__ import annotations

import json

import pytest

from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import DatasetKind
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack, spec_text
from tests.integration.live_rollout import instances_and_labels
from tests.integration.scenario import NOISY, statuses
from tests.integration.test_serving import http, predict

MODEL = "it-retrain"
SPEC = spec_text(MODEL) + "retraining: {window_days: 7, recent_weight: 2.0}\n"
LABELLED_EVERY = 3  # one served instance in three gets its true label back


@pytest.mark.slow
def test_a_drift_retraining_trains_on_accepted_data_plus_labelled_traffic_not_the_rejected_file(
    stack: Stack,
) -> None:
    # Given version 1 in production and a noisy upload rejected as version 2
    stack.upload(f"{MODEL}/spec.yaml", SPEC.encode())
    stack.settle()
    stack.upload(f"{MODEL}/data/first.csv", to_csv_bytes(credit_risk(rows=800, seed=41)))
    stack.settle()
    stack.upload(f"{MODEL}/data/noisy.csv", NOISY[1])
    stack.settle()
    assert statuses(stack, MODEL) == {1: "production", 2: "rejected"}
    accepted = stack.registry.get_version(MODEL, 1).dataset_sha256
    rejected = stack.registry.get_version(MODEL, 2).dataset_sha256
    # And shifted traffic served, a third of it labelled through feedback
    served = stack.local.serve_api(0)
    labelled = 0
    try:
        for chunk in range(4):
            instances, labels = instances_and_labels(credit_risk(150, seed=400 + chunk, shift=1.0))
            status, body = predict(served, instances, model=MODEL)
            assert status == 200, body
            for instance in range(0, len(instances), LABELLED_EVERY):
                feedback = {"request_id": body["request_id"], "instance": instance, "label": labels[instance]}
                assert http(served, "POST", f"/models/{MODEL}/feedback", feedback)[0] == 200
                labelled += 1
        # When the streams' buffer interval passes and the scheduled drift check runs
        stack.local.flush_streams()
        payload = stack.scheduled_check()
    finally:
        served.stop()
    check = next(c for c in payload["checked"] if c["model"] == MODEL)
    # Then it flags drift and starts one retraining, which runs to a decision
    assert check["dataset_drift"] is True and check["retraining"] is not None
    (execution,) = [e for e in stack.settle() if e["executionArn"] == check["retraining"]]
    assert execution["status"] == "SUCCEEDED"
    (version,) = [v for v in stack.registry.list_versions(MODEL) if v.trigger.value == "drift"]
    assert version.status.value in {"production", "rejected"}
    # And it trained on a dataset of its own: the accepted upload, then the labelled traffic
    dataset = stack.registry.get_dataset(MODEL, str(version.dataset_sha256))
    assert dataset is not None and dataset.kind is DatasetKind.RETRAINING
    assert dataset.sources[0] == accepted and rejected not in dataset.sources
    assert (dataset.n_rows, dataset.recent_rows) == (800 + labelled, labelled)
    traffic = stack.registry.get_dataset(MODEL, dataset.sources[1])
    assert traffic is not None and traffic.kind is DatasetKind.LABELLED_TRAFFIC and traffic.n_rows == labelled
    # And the lineage says so, in the registry and on the model card
    assert dataset.lineage is not None and dataset.lineage.startswith(f"dataset {str(accepted)[:12]} (")
    assert "+ captured traffic " in dataset.lineage and dataset.lineage.endswith(" + feedback")
    card = json.loads(stack.artifacts.get_verified(version.artifacts["card"]))
    assert str(dataset.sha256) in json.dumps(card)
    # And the run fitted the recent rows with the spec's weight, holding out the newest 30% of them
    run_input = json.loads(stack.describe(execution["executionArn"])["input"])
    recent_holdout = int(0.3 * labelled)
    assert (run_input["recent_rows"], run_input["recent_weight"]) == (labelled, 2.0)
    assert run_input["recent_holdout_rows"] == recent_holdout
    # And the challenger and the champion were scored on that recent holdout, which the gates judged on
    evaluation = json.loads(stack.artifacts.get_verified(version.artifacts["evaluation"]))
    recent = evaluation["recent_holdout"]
    assert recent["rows"] == recent_holdout >= 50 and recent["counted"] is True
    assert evaluation["champion_version"] == 1 and recent["champion"]["metrics"]["roc_auc"] is not None
    assert evaluation["gates"]["challenger_metric"] == recent["evaluation"]["metrics"]["roc_auc"]
    assert card["recent_holdout"]["rows"] == recent_holdout
