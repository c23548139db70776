"""`sluice drift` end to end through `sluice.tools.cli.main`: exit codes, the --json shape, inputs, flags."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sluice.tools.cli import main

DATASET_KEYS = {"dataset_drift", "drift_share", "share_threshold", "n_reference", "n_current", "features"}
COLUMN_KEYS = {
    "type",
    "method",
    "score",
    "threshold",
    "drifted",
    "missing_reference",
    "missing_current",
    "unseen_categories",
}
SPEC = """\
name: credit-risk
task: binary
target: default
features:
  - {name: income, type: numeric, min: 0}
  - {name: age, type: numeric}
  - {name: segment, type: categorical, categories: [retail, sme, corporate]}
algorithm: {name: logistic_regression}
metric: roc_auc
drift:
  share_threshold: 0.3
  columns:
    age: {method: psi, threshold: 0.2}
"""


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def rows(
    n: int, seed: int, income_shift: float = 0.0, segments: tuple[str, ...] = ("retail", "sme", "corporate")
) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "income": round(float(rng.normal(50_000 + income_shift, 10_000)), 2),
            "age": int(rng.integers(18, 90)),
            "segment": str(rng.choice(segments)),
            "default": int(rng.integers(0, 2)),
        }
        for _ in range(n)
    ]


def captured(path: Path, records: list[dict[str, object]], compress: bool = False) -> Path:
    lines = "".join(
        json.dumps(
            {
                "request_id": f"r{i}",
                "time": "2026-01-01T00:00:00Z",
                "model": "credit-risk",
                "version": 1,
                "inputs": {k: v for k, v in r.items() if k != "default"},
                "outputs": {"label": 0},
            }
        )
        + "\n"
        for i, r in enumerate(records)
    ).encode()
    path.write_bytes(gzip.compress(lines) if compress else lines)
    return path


@pytest.fixture
def reference_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "reference.csv", rows(3000, seed=1))


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["drift", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_same_distribution_exits_0_with_the_documented_json_shape(
    tmp_path: Path, reference_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given current data drawn like the reference
    current = write_csv(tmp_path / "current.csv", rows(2000, seed=2))
    # When `sluice drift --json` runs
    code, report = run_json(capsys, "--reference", str(reference_csv), "--current", str(current))
    # Then it exits 0 and prints one JSON object with the keys and types
    assert code == 0
    assert set(report) >= DATASET_KEYS
    assert report["dataset_drift"] is False
    assert isinstance(report["drift_share"], float)
    assert report["share_threshold"] == 0.5
    assert (report["n_reference"], report["n_current"]) == (3000, 2000)
    features = report["features"]
    assert isinstance(features, dict)
    assert list(features) == ["income", "age", "segment", "default"]
    for column in features.values():
        assert set(column) >= COLUMN_KEYS
        assert column["type"] in ("numerical", "categorical")
        assert column["method"] in ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")
        assert isinstance(column["score"], float)
        assert isinstance(column["drifted"], bool)
        assert isinstance(column["unseen_categories"], list)
    assert features["income"]["type"] == "numerical"
    assert features["segment"]["type"] == "categorical"


def test_shifted_data_exits_1(
    tmp_path: Path, reference_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given current data with income moved by two standard deviations and a new segment
    current = write_csv(
        tmp_path / "current.csv", rows(2000, seed=3, income_shift=20_000, segments=("retail", "startup"))
    )
    # When checked
    code, report = run_json(capsys, "--reference", str(reference_csv), "--current", str(current))
    # Then it exits 1, and names the new segment
    features = report["features"]
    assert isinstance(features, dict)
    assert code == 1
    assert report["dataset_drift"] is True
    assert features["income"]["drifted"] is True
    assert features["segment"]["unseen_categories"] == ["startup"]


def test_model_folder_and_captured_traffic_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model folder with reference.csv.gz and gzip-compressed captured traffic (no target)
    folder = tmp_path / "models" / "credit-risk" / "3"
    folder.mkdir(parents=True)
    plain = write_csv(tmp_path / "plain.csv", rows(3000, seed=1))
    (folder / "reference.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    traffic = captured(tmp_path / "capture.jsonl.gz", rows(1500, seed=4), compress=True)
    # When checked
    code, report = run_json(capsys, "--reference", str(folder), "--current", str(traffic))
    # Then the features under "inputs" are compared and the target, absent from traffic, is not
    assert code == 0
    assert report["n_reference"] == 3000
    assert report["n_current"] == 1500
    features = report["features"]
    assert isinstance(features, dict)
    assert set(features) == {"income", "age", "segment"}


def test_flags_force_types_methods_and_thresholds(
    tmp_path: Path, reference_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given plain JSON-lines traffic
    traffic = captured(tmp_path / "capture.jsonl", rows(1500, seed=5))
    # When age is forced categorical, income uses PSI with threshold 0.3, and the share threshold is 0.9
    code, report = run_json(
        capsys,
        "--reference", str(reference_csv),
        "--current", str(traffic),
        "--categorical", "age",
        "--method", "income=psi",
        "--threshold", "income=0.3",
        "--share-threshold", "0.9",
    )  # fmt: skip
    # Then the report shows each choice
    features = report["features"]
    assert isinstance(features, dict)
    assert code == 0
    assert features["age"]["type"] == "categorical"
    assert (features["income"]["method"], features["income"]["threshold"]) == ("psi", 0.3)
    assert report["share_threshold"] == 0.9


def test_spec_sets_types_features_and_drift_settings(
    tmp_path: Path, reference_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a spec with three features, a share threshold of 0.3 and PSI for age
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    current = write_csv(tmp_path / "current.csv", rows(2000, seed=6, income_shift=20_000))
    # When checked with --spec
    code, report = run_json(
        capsys, "--reference", str(reference_csv), "--current", str(current), "--spec", str(spec)
    )
    # Then only the features are compared (not the target), with the spec's settings
    features = report["features"]
    assert isinstance(features, dict)
    assert list(features) == ["income", "age", "segment"]
    assert (features["age"]["method"], features["age"]["threshold"]) == ("psi", 0.2)
    assert report["share_threshold"] == 0.3
    assert code == 1  # income drifted: 1 of 3 columns ≥ 0.3


def test_min_rows_reports_insufficient_data_and_exits_0(
    tmp_path: Path, reference_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 50 current rows that moved a lot, and a minimum of 500 rows
    current = write_csv(tmp_path / "current.csv", rows(50, seed=7, income_shift=50_000))
    # When checked with --min-rows 500
    code, report = run_json(
        capsys, "--reference", str(reference_csv), "--current", str(current), "--min-rows", "500"
    )
    # Then no verdict is given
    assert code == 0
    assert report["status"] == "insufficient_data"
    assert report["features"] == {}


def test_html_report_is_written(
    tmp_path: Path, reference_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an output path for the HTML report
    current = write_csv(tmp_path / "current.csv", rows(500, seed=8))
    html = tmp_path / "out" / "report.html"
    html.parent.mkdir()
    # When checked with --html (and the text output)
    code = main(["drift", "--reference", str(reference_csv), "--current", str(current), "--html", str(html)])
    text = capsys.readouterr().out
    # Then the page exists with one pair of charts per column, and stdout has the summary line
    assert code == 0
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") == 2 * 4
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert text.startswith("No dataset drift: 0 of 4 columns drifted")


def test_drift_is_explained_in_words_in_json_text_and_html(
    tmp_path: Path, reference_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given current data whose income median is 20,000 higher (50,000 → 70,000) and a spec naming the model
    sample_args = [(3000, 1, 0.0), (2000, 3, 20_000.0)]  # the reference fixture's rows, then the current
    current = write_csv(tmp_path / "current.csv", rows(*sample_args[1]))
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    html = tmp_path / "report.html"
    # When checked with --json and --html
    args = ["--reference", str(reference_csv), "--current", str(current), "--spec", str(spec)]
    code, report = run_json(capsys, *args, "--html", str(html))
    # Then the JSON explains the drift: the income sentence with its direction and size, what the CLI user
    # may do (it acts on nothing itself), with the model's name in the commands
    words = report["explanation"]
    assert isinstance(words, dict) and code == 1
    assert set(words) == {"headline", "columns", "predictions", "next", "actions", "multivariate"}
    assert words["headline"].startswith("Dataset drift: income changed (1 of 3 columns drifted)")
    found = re.match(
        r"income: median rose from ([\d,]+) to ([\d,]+) \(\+(\d+)%\)", words["columns"]["income"]
    )
    assert found is not None, words["columns"]
    before, after, percent = (float(group.replace(",", "")) for group in found.groups())
    medians = [
        np.median([float(str(r["income"])) for r in rows(n, seed, shift)]) for n, seed, shift in sample_args
    ]
    assert before == pytest.approx(medians[0], rel=0.01) and after == pytest.approx(medians[1], rel=0.01)
    assert percent == round(100 * (medians[1] / medians[0] - 1))
    assert words["predictions"] is None
    assert words["next"].startswith("`sluice drift` only compares files: nothing was alerted or retrained.")
    assert any("`sluice models rollback credit-risk`" in action for action in words["actions"])
    # And the HTML page is titled with the files it compared and holds the same sentence
    page = html.read_text(encoding="utf-8")
    assert "<h1>Drift: current.csv against reference.csv</h1>" in page
    assert words["columns"]["income"] in page
    # And the text output ends with the words
    code = main(["drift", *args])
    text = capsys.readouterr().out
    assert words["columns"]["income"] in text and words["actions"][0] in text


@pytest.mark.parametrize(
    ("current_name", "current_bytes", "extra", "message"),
    [
        ("missing.csv", None, [], "cannot open file"),
        ("latin1.csv", "a,b\nécu,1\n".encode("latin-1"), [], "not UTF-8"),
        ("ragged.csv", b"income,age\n1,2,3\n", [], "row 1 has 3 fields"),
        ("bad.jsonl", b'{"inputs": {"income": 1}}\n{not json\n', [], "is not valid JSON"),
        ("broken.csv.gz", b"\x1f\x8b\x08\x00garbage", [], "cannot read file"),
        ("reference.csv", None, ["--method", "income=kolmogorov"], "unknown drift method"),
        ("reference.csv", None, ["--method", "segment=ks"], "needs numbers"),
        ("reference.csv", None, ["--method", "income"], "expected COLUMN=VALUE"),
        ("reference.csv", None, ["--threshold", "nosuch=0.1"], "no column named nosuch"),
        ("reference.csv", None, ["--spec", "/nonexistent/spec.yaml"], "cannot read spec"),
    ],
)
def test_unusable_input_exits_2_with_a_message_and_no_traceback(
    tmp_path: Path,
    reference_csv: Path,
    capsys: pytest.CaptureFixture[str],
    current_name: str,
    current_bytes: bytes | None,
    extra: list[str],
    message: str,
) -> None:
    # Given an input that cannot be used
    current = tmp_path / current_name
    if current_bytes is not None:
        current.write_bytes(current_bytes)
    # When checked
    code = main(["drift", "--reference", str(reference_csv), "--current", str(current), *extra])
    err = capsys.readouterr().err
    # Then the exit code is 2 and stderr says why in one line, without a traceback
    assert code == 2
    assert message in err
    assert err.startswith("sluice drift: ")
    assert "Traceback" not in err


def test_folder_without_reference_sample_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an empty folder as the reference
    current = write_csv(tmp_path / "current.csv", rows(10, seed=9))
    # When checked, Then exit 2 explains what the folder lacks
    assert main(["drift", "--reference", str(tmp_path), "--current", str(current)]) == 2
    assert "without reference.csv.gz" in capsys.readouterr().err


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path, reference_csv: Path) -> None:
    # Given `sluice drift --json` piped into a reader that closes the pipe at once (`| head -c 0`)
    current = write_csv(tmp_path / "current.csv", rows(500, seed=3))
    command = [str(Path(sys.executable).parent / "sluice"), "drift", "--reference", str(reference_csv)]
    command += ["--current", str(current), "--json"]
    read, write = os.pipe()
    os.close(read)  # nobody will ever read: every write to the pipe fails with EPIPE
    # When it runs
    try:
        done = subprocess.run(command, stdout=write, stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(write)
    # Then it stops like a Unix tool stopped by SIGPIPE, without a traceback on stderr
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert done.returncode == 141
