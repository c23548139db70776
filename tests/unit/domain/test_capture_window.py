"""A window of captured traffic in bounded memory: the reservoir is a uniform sample, never holds more
than its size, draws the same sample in any process, and the window's counts and labelled rows are
exact whatever the sample."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from scipy import stats

from sluice.domain.monitoring.capture_window import Reservoir, WindowTally, latest_labels

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def line(i: int, *, version: int = 1, minutes: float = 1.0, prediction: Any = 0) -> bytes:
    record = {
        "request_id": f"r{i}",
        "instance": 0,
        "time": (START + timedelta(minutes=minutes)).isoformat(),
        "model": "loans",
        "version": version,
        "inputs": {"x": i},
        "outputs": {"prediction": prediction},
    }
    return json.dumps(record).encode()


def test_the_reservoir_is_a_uniform_sample() -> None:
    # Given 4,000 reservoirs of 10 drawn from the same 100 items, each with its own fixed seed
    inclusions = [0] * 100
    for seed in range(4_000):
        reservoir = Reservoir(10, random.Random(seed))
        for item in range(100):
            reservoir.offer(item)
        for item in reservoir.items():
            inclusions[item] += 1
    # Then every item was kept about as often as any other (400 times each, when uniform): a
    # chi-square test of the inclusion counts does not reject uniformity, while the first items (the
    # ones that filled the reservoir) are kept no more than the last
    assert sum(inclusions) == 40_000
    assert stats.chisquare(inclusions).pvalue > 0.01
    assert abs(sum(inclusions[:10]) - sum(inclusions[-10:])) < 250


def test_the_reservoir_never_holds_more_than_its_size_and_keeps_offer_order() -> None:
    # Given a reservoir of 50
    reservoir = Reservoir(50, random.Random(7))
    # When 20,000 items are offered, Then it never holds more than 50
    for item in range(20_000):
        reservoir.offer(item)
        assert len(reservoir) <= 50
    # And it holds 50 distinct items, returned in the order they were offered, drawn from the whole
    # stream (not only its beginning)
    items = reservoir.items()
    assert len(items) == 50 == len(set(items))
    assert items == sorted(items)
    assert max(items) > 10_000
    assert reservoir.seen == 20_000


def test_counts_are_exact_and_every_labelled_row_is_kept_whatever_the_sample() -> None:
    # Given 1,000 rows in the window (700 of version 1, 300 of version 2), 5 rows outside it,
    # a malformed line, and 40 labels: 30 of rows in the window (one sent twice), 10 of rows not in it
    lines = [line(i, version=1 if i < 700 else 2, prediction=i % 3) for i in range(1_000)]
    lines += [line(5_000 + i, minutes=61) for i in range(5)] + [b"{not json"]
    feedback = [
        json.dumps({"request_id": f"r{i}", "instance": 0, "label": 1, "time": START.isoformat()})
        for i in [*range(0, 1_000, 34), 5_000, 5_001, *range(9_000, 9_008)]
    ]
    later = (START + timedelta(minutes=5)).isoformat()
    feedback.append(json.dumps({"request_id": "r0", "instance": 0, "label": 0, "time": later}))
    labels = latest_labels(feedback, START, END)
    # When the window is tallied with a sample of 20 rows of version 2
    tally = WindowTally("loans", START, END, 20, labels, version=2)
    tally.add_object(b"\n".join(lines) + b"\n")
    window = tally.result()
    # Then the counts are exact, the sample holds 20 rows of version 2 drawn from its 300
    assert (window.rows, window.rows_by_version) == (1_000, {1: 700, 2: 300})
    assert window.bad_lines == 1
    assert len(window.sample) == 20 and window.sampled_from == 300 and window.is_sample
    assert {r["version"] for r in window.sample} == {2}
    # And every labelled row of the window is there, the latest label winning, the others unmatched
    assert len(window.labelled) == 30
    assert window.labels[("r0", 0)] == 0
    assert (window.label_count, window.unmatched_labels) == (40, 10)
    assert window.summary()["unmatched_labels"] == 10


def test_a_record_is_read_whatever_its_key_order_or_its_strings() -> None:
    # Given records whose top-level keys the fast path cannot take from before their inputs: inputs
    # first, a request id holding ',"inputs":', an input named "time" before the record's own time
    at = (START + timedelta(minutes=3)).isoformat()
    outside = (START - timedelta(minutes=3)).isoformat()
    tricky = [
        {"inputs": {"x": 1}, "time": at, "version": 1, "request_id": "a", "instance": 0},
        {"request_id": 'b,"inputs":{"time":"x"}', "instance": 0, "time": at, "version": 1, "inputs": {}},
        {"request_id": "c", "inputs": {"time": at, "version": 1}, "time": outside, "version": 1},
        {"request_id": "d", "instance": 0, "time": at, "version": 2, "inputs": {"time": outside}},
    ]
    labels = {('b,"inputs":{"time":"x"}', 0): 1}
    tally = WindowTally("loans", START, END, 10, labels)
    # When they are tallied
    tally.add_object("\n".join(json.dumps(r, separators=(",", ":")) for r in tricky).encode())
    window = tally.result()
    # Then each is judged by its own top-level time and version, and the labelled one is joined
    assert window.rows_by_version == {1: 2, 2: 1}
    assert [r.get("request_id") for r in window.sample] == ["a", 'b,"inputs":{"time":"x"}', "d"]
    assert [r["request_id"] for r in window.labelled] == ['b,"inputs":{"time":"x"}']


SAMPLE_IN_A_CHILD = """
import json, sys
from datetime import datetime
from sluice.domain.monitoring.capture_window import WindowTally
start, end = (datetime.fromisoformat(t) for t in sys.argv[1:3])
tally = WindowTally("loans", start, end, 25, {})
tally.add_object(sys.stdin.buffer.read())
print(json.dumps([r["request_id"] for r in tally.result().sample]))
"""


def test_the_same_objects_give_the_same_sample_in_another_process() -> None:
    # Given 2,000 captured lines
    body = b"\n".join(line(i) for i in range(2_000))
    # When they are sampled here and in a new interpreter (another hash seed)
    tally = WindowTally("loans", START, END, 25, {})
    tally.add_object(body)
    here = [r["request_id"] for r in tally.result().sample]
    child = subprocess.run(
        [sys.executable, "-c", SAMPLE_IN_A_CHILD, START.isoformat(), END.isoformat()],
        input=body,
        capture_output=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)},
    )
    # Then both drew the same 25 rows; another window of the same rows draws another sample
    assert json.loads(child.stdout) == here and len(here) == 25
    other = WindowTally("loans", START, END + timedelta(seconds=1), 25, {})
    other.add_object(body)
    assert [r["request_id"] for r in other.result().sample] != here
