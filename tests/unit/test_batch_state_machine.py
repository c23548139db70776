"""The BatchScore state machine's shape, and the local stack's Distributed Map emulation (ItemBatcher,
tolerated failures) that moto lacks."""

from __future__ import annotations

import json

from sluice.tools.local.distributed_map import batches_of, strip_distributed_maps, tolerance_exceeded
from tests.unit.test_template import ROOT

ASL = json.loads((ROOT / "statemachines" / "batch_score.asl.json").read_text())


def test_the_map_is_distributed_over_the_csv_in_batches_with_a_tolerance_and_counts_only() -> None:
    score = ASL["States"]["ScoreRows"]
    assert score["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert score["ItemReader"]["ReaderConfig"] == {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}
    assert score["ItemSelector"]["index.$"] == "$$.Map.Item.Index"  # the source row of each item
    assert score["ItemBatcher"]["BatchInput"] == {"job.$": "$.job"}  # the pinned version, in every batch
    assert score["ToleratedFailurePercentagePath"] == "$.job.tolerated_failure_percentage"
    assert score["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"  # outputs stay off the state
    # every way out of the job goes through Finish (manifest, batch_finished event)
    assert [c["Next"] for c in ASL["States"]["PinVersion"]["Catch"] + score["Catch"]] == ["Finish", "Finish"]


def test_the_emulation_takes_out_what_moto_refuses_and_batches_as_aws_does() -> None:
    definition = json.loads(json.dumps(ASL))
    configs = strip_distributed_maps(definition)
    assert "ItemBatcher" not in definition["States"]["ScoreRows"]
    assert configs["ScoreRows"].tolerated_percentage == "$.job.tolerated_failure_percentage"

    items = [{"index": i} for i in range(5)]
    state = {"job": {"max_items_per_batch": 2, "v": 1}}
    batches = batches_of(
        items,
        {"MaxItemsPerBatchPath": "$.job.max_items_per_batch", "BatchInput": {"job.$": "$.job"}},
        state,
        {},
    )
    assert [len(b["Items"]) for b in batches] == [2, 2, 1]
    assert all(b["BatchInput"] == {"job": state["job"]} for b in batches)


def test_failures_beyond_the_tolerance_fail_the_map() -> None:
    assert tolerance_exceeded(1, 100, None, None)  # nothing tolerated unless declared
    assert not tolerance_exceeded(5, 100, None, 5.0)
    assert tolerance_exceeded(6, 100, None, 5.0)
    assert not tolerance_exceeded(0, 100, None, None)
