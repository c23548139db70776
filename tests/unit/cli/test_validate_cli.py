"""`sluice validate`: every kind of bad data gets the right exit code and a report naming the column
and the rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import spec_path

SPEC = spec_path("credit-risk")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_good_data_passes_with_a_profile_of_every_column(sluice, credit_csv: Path) -> None:
    # Given generated credit-risk data / When validated with --json
    result = sluice("validate", "--spec", SPEC, "--data", credit_csv, "--json")
    # Then it passes and profiles every column
    assert result.exit_code == 0, result.stdout
    report = result.json
    assert report["passed"] is True and report["n_rows"] == 3000
    assert report["columns"]["age"]["missing_rate"] > 0  # the generator leaves ~5% of ages empty
    assert set(report["columns"]["segment"]["categories"]) == {"retail", "sme", "corporate"}
    assert report["columns"]["income"]["min"] >= 0


@pytest.mark.parametrize(
    ("column", "row", "value", "check"),
    [
        ("income", 3, "lots", "type"),
        ("income", 5, "-10", "range"),
        ("age", 2, "7", "range"),
        ("age", 4, "250", "range"),
        ("segment", 6, "bank", "category"),
        ("segment", 7, "", "nullable"),
        ("debt_ratio", 8, "", "nullable"),
        ("default", 9, "2", "target"),
        ("default", 10, "", "target"),
    ],
)
def test_each_bad_cell_is_reported_with_column_row_and_example(
    sluice, tmp_path: Path, credit_csv: Path, column: str, row: int, value: str, check: str
) -> None:
    # Given good data with one cell broken
    rows = _rows(credit_csv)[:50]
    rows[row - 1][column] = value
    data = _write(tmp_path / "bad.csv", rows)
    # When validated
    result = sluice("validate", "--spec", SPEC, "--data", data, "--json")
    # Then it fails, naming the column, the row and the value
    assert result.exit_code == 1
    problems = result.json["problems"]
    assert [(p["column"], p["check"], p["rows"], p["example"]) for p in problems] == [
        (column, check, [row], value)
    ]


def test_missing_and_extra_columns_are_named(sluice, tmp_path: Path, credit_csv: Path) -> None:
    rows = _rows(credit_csv)[:20]
    for r in rows:
        r["customer_id"] = "x"
    header = [c for c in rows[0] if c != "region"]
    data = _write(tmp_path / "cols.csv", rows, header)
    result = sluice("validate", "--spec", SPEC, "--data", data, "--json")
    assert result.exit_code == 1
    named = {(p["column"], p["check"]) for p in result.json["problems"]}
    assert named == {("region", "columns"), ("customer_id", "columns")}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (
            b"income,age,debt_ratio,credit_lines,months_employed,segment,region,gender,default\n",
            "no data rows",
        ),
        (b"income,age\n1,2\n\xff\xfe,3\n", "not UTF-8"),
        (b"income,age\n1,2,3\n", "row 1 has 3 fields"),
    ],
)
def test_unusable_files_fail_with_a_file_level_problem(
    sluice, tmp_path: Path, content: bytes, message: str
) -> None:
    data = tmp_path / "odd.csv"
    data.write_bytes(content)
    result = sluice("validate", "--spec", SPEC, "--data", data)
    assert result.exit_code == 1
    assert message in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_duplicate_rows_are_a_warning_not_a_failure(sluice, tmp_path: Path, credit_csv: Path) -> None:
    rows = _rows(credit_csv)[:30]
    data = _write(tmp_path / "dup.csv", [*rows, rows[4], rows[7]])
    result = sluice("validate", "--spec", SPEC, "--data", data, "--json")
    assert result.exit_code == 0
    (warning,) = result.json["warnings"]
    assert warning["check"] == "duplicates" and warning["rows"] == [31, 32]


def test_text_report_names_problems_for_people(sluice, tmp_path: Path, credit_csv: Path) -> None:
    rows = _rows(credit_csv)[:10]
    rows[1]["segment"] = "bank"
    result = sluice("validate", "--spec", SPEC, "--data", _write(tmp_path / "b.csv", rows))
    assert result.exit_code == 1
    assert "ERROR column 'segment': unknown categories ['bank']" in result.stdout
    assert "rows 2" in result.stdout


@pytest.mark.parametrize("which", ["spec", "data"])
def test_unreadable_spec_or_missing_file_exits_2(
    sluice, tmp_path: Path, credit_csv: Path, which: str
) -> None:
    bad_spec = tmp_path / "spec.yaml"
    bad_spec.write_text("name: credit-risk\ntask: binary\n")
    args = {"spec": (bad_spec, credit_csv), "data": (SPEC, tmp_path / "absent.csv")}[which]
    result = sluice("validate", "--spec", args[0], "--data", args[1])
    assert result.exit_code == 2
    assert ("target" if which == "spec" else "no such file") in result.stderr
