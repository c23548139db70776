"""A request the predict route rejects is answered as before and counted in capture: one line naming
its problems by field and kind, every one of them counted, the offending instance sampled like capture."""

from __future__ import annotations

import pytest

from sluice.domain.scoring.echo import MAX_PROBLEMS
from tests.unit.app.fakes import FakePorts
from tests.unit.app.test_serving import INSTANCE, MODEL
from tests.unit.entrypoints.api_events import api_event, event_body, json_body, send
from tests.unit.entrypoints.test_api_routes import MAX_INSTANCES, api, fakes, model

__all__ = ["fakes", "model"]  # the fixtures the tests below use


@pytest.mark.parametrize(("fraction", "sampled"), [(1.0, True), (0.0, False)])
def test_a_rejection_is_counted_exactly_and_only_its_instance_is_sampled(
    fakes: FakePorts, fraction: float, sampled: bool
) -> None:
    # Given the API capturing every request, or none
    app = api(fakes, capture_fraction=fraction)
    # When a request is sent whose instances all miss `income` and carry 15 unknown fields: 160
    # problems, more than an answer names
    broken = {k: v for k, v in INSTANCE.items() if k != "income"} | {f"extra{j:02d}": 1 for j in range(15)}
    answer = send(app, api_event("api-predict", **json_body({"instances": [broken] * MAX_INSTANCES})))
    # Then the 400 is as before, and capture holds one line counting every problem by field and kind
    assert answer.status == 400 and len(answer.json["details"]) == MAX_PROBLEMS
    [line] = fakes.traffic.records[MODEL]
    problems = line["rejected"]["problems"]
    assert (
        sum(p["values"] for p in problems) == MAX_INSTANCES * 16 and line["rejected"]["other_problems"] == 0
    )
    assert {"field": "income", "kind": "missing", "values": MAX_INSTANCES} in problems
    alias = fakes.registry.get_alias(MODEL)
    assert {p["kind"] for p in problems} == {"missing", "unknown_field"}
    assert alias is not None and line["version"] == alias.version
    # And the offending instance is in it only when capture samples the request
    assert line.get("inputs") == (broken if sampled else None)


def test_the_v2_and_mlflow_routes_count_their_rejections_too(fakes: FakePorts) -> None:
    # Given the API capturing every request, and the events' two rows with `income` dropped: as an MLflow
    # dataframe_split, and as Open Inference tensors without the income tensor
    app = api(fakes, capture_fraction=1.0)
    mlflow = api_event("api-mlflow-invocations")
    split = event_body(mlflow)["dataframe_split"]
    keep = [i for i, name in enumerate(split["columns"]) if name != "income"]
    without_income = {
        "columns": [split["columns"][i] for i in keep],
        "data": [[row[i] for i in keep] for row in split["data"]],
    }
    v2 = api_event("api-v2-infer")
    tensors = event_body(v2)
    tensors["inputs"] = [t for t in tensors["inputs"] if t["name"] != "income"]
    # When each is sent
    answers = [
        send(app, {**mlflow, **json_body({"dataframe_split": without_income})}),
        send(app, {**v2, **json_body(tensors)}),
    ]
    # Then both are refused as before, and capture holds one rejection line for each naming `income`
    assert [a.status for a in answers] == [400, 400]
    lines = fakes.traffic.records[MODEL]
    assert len(lines) == 2 and all("rejected" in line for line in lines)
    for line in lines:
        assert "income" in {p["field"] for p in line["rejected"]["problems"]}
    # And the MLflow request's parsed rows are sampled with it (V2's tensors are not kept)
    assert lines[0].get("inputs") is not None and lines[1].get("inputs") is None
