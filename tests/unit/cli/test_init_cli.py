"""`sluice init`: a spec inferred from a CSV, printed or written, that `sluice validate` accepts on the same
file and that trains; input it cannot use stops it with exit code 2 and a message naming the problem."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from sluice.domain.spec.model_spec import Task, load_spec
from tests.conftest import write_example


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_init_writes_a_spec_that_validates_the_same_file(sluice, tmp_path: Path) -> None:
    # Given a credit-risk CSV
    data = write_example(tmp_path / "loans.csv", "credit-risk", rows=400, seed=2)
    spec = tmp_path / "spec.yaml"
    # When a user infers a spec for its target, with gender as the sensitive column
    result = sluice("init", "--data", data, "--target", "default", "--sensitive", "gender", "--out", spec)
    # Then the spec is written (named after the file) and says where, and stdout stays empty
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and f"wrote {spec}" in result.stderr
    written = load_spec(spec)
    assert (written.name, written.task, written.target, written.sensitive) == (
        "loans",
        Task.BINARY,
        "default",
        "gender",
    )
    # and `sluice validate` accepts the same file with it
    validated = sluice("validate", "--spec", spec, "--data", data)
    assert validated.exit_code == 0, validated.stdout


def test_init_prints_commented_yaml_or_the_json_document(sluice, tmp_path: Path) -> None:
    # Given a wine CSV whose file name is not a model name
    data = write_example(tmp_path / "Wine Cellar 2024.csv", "wine")
    # When a user asks for the YAML, then for JSON
    printed = sluice("init", "--data", data, "--target", "target")
    as_json = sluice("init", "--data", data, "--target", "target", "--name", "wine", "--json")
    # Then the YAML is commented, named from the file stem, and the JSON is the same document renamed
    assert printed.exit_code == 0 and as_json.exit_code == 0
    assert "# Inferred by `sluice init`" in printed.stdout
    assert "task: multiclass  # 'target' has 3 integer classes" in printed.stdout
    document = yaml.safe_load(printed.stdout)
    assert document["name"] == "wine-cellar-2024"
    assert as_json.json == {**document, "name": "wine"}


def test_init_names_left_out_columns_and_warnings_on_stderr(sluice, tmp_path: Path) -> None:
    # Given a CSV with a row number, a constant column and a row without a target
    rows = [[str(i), "EU", f"{i * 1.5:.1f}", str(i % 2)] for i in range(1, 41)]
    rows[5][3] = ""
    data = _write(tmp_path / "accounts.csv", ["row", "zone", "balance", "closed"], rows)
    # When a spec is inferred
    result = sluice("init", "--data", data, "--target", "closed")
    # Then stderr names each left-out column with why, and what stops the file from validating as it is
    assert result.exit_code == 0, result.stderr
    assert "left out row: a different integer on every row" in result.stderr
    assert "left out zone: always 'EU'" in result.stderr
    assert "warning: 1 of 40 rows have no closed" in result.stderr
    assert [f["name"] for f in yaml.safe_load(result.stdout)["features"]] == ["balance"]


def test_input_init_cannot_use_exits_2_naming_the_problem(sluice, tmp_path: Path) -> None:
    # Given a good file, a file whose target is empty, a file that is not UTF-8, and no file at all
    good = _write(tmp_path / "good.csv", ["x", "y"], [["1", "0"], ["2", "1"], ["3", "0"]])
    empty_target = _write(tmp_path / "empty.csv", ["x", "y"], [["1", ""], ["2", "NA"]])
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("x,y\ncafé,1\n".encode("latin-1"))
    cases = [
        ((good, "label"), "target: column 'label' is not in"),
        ((empty_target, "y"), "target: column 'y' has no value at all"),
        ((latin1, "y"), "not UTF-8"),
        ((tmp_path / "nowhere.csv", "y"), "no such file"),
    ]
    for (data, target), message in cases:
        # When a spec is asked for
        result = sluice("init", "--data", data, "--target", target)
        # Then it stops with exit code 2 and says why, printing no spec
        assert result.exit_code == 2, (data, result.stdout)
        assert result.stderr.startswith("sluice init: ") and message in result.stderr
        assert result.stdout == ""


def test_the_inferred_spec_trains_a_servable_model_with_sluice_train(sluice, tmp_path: Path) -> None:
    # Given a spec inferred from a credit-risk CSV, its search narrowed to one fast algorithm (the
    # default list takes about 30 s on these rows; everything else stays as inferred)
    data = write_example(tmp_path / "credit.csv", "credit-risk", rows=600, seed=4)
    spec_file = tmp_path / "spec.yaml"
    assert sluice("init", "--data", data, "--target", "default", "--out", spec_file).exit_code == 0
    text = spec_file.read_text(encoding="utf-8")
    assert "\ncandidates: auto  #" in text
    spec_file.write_text(
        text.replace(
            "\ncandidates: auto",
            "\ncv_folds: 2\ncandidates: [{name: logistic_regression, params: {C: [0.1, 1.0]}}]",
        )
    )
    # When it is trained as a user would
    result = sluice(
        "train", "--spec", spec_file, "--data", data, "--out", tmp_path / "model", "--workers", "1", "--json"
    )
    # Then the model is servable and passes the inferred gates (better than chance)
    assert result.exit_code == 0, result.stderr
    trained = result.json
    assert trained["servable"] is True and trained["gates"]["passed"] is True
    assert trained["metrics"]["roc_auc"] > 0.5
    assert (tmp_path / "model" / "model.onnx").is_file()
