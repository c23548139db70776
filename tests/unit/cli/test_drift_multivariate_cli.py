"""`sluice drift` as a user types it, on files whose columns each look as before but relate differently:
the multivariate check finds it (exit 1), in the JSON, in words and in the HTML; its threshold is a flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sluice.tools.cli import main
from tests.unit.cli.test_drift_cli import write_csv


def accounts(n: int, seed: int, *, flipped: bool) -> list[dict[str, object]]:
    """Income and spend correlated (+0.8, or −0.8 when `flipped`), each N(0, 1) either way; and age."""
    rng = np.random.default_rng(seed)
    income = rng.normal(size=n)
    spend = (-0.8 if flipped else 0.8) * income + 0.6 * rng.normal(size=n)
    age = rng.integers(18, 90, size=n)
    return [
        {"income": round(float(i), 4), "spend": round(float(s), 4), "age": int(a)}
        for i, s, a in zip(income, spend, age, strict=True)
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("multivariate")
    reference = write_csv(folder / "reference.csv", accounts(2000, seed=1, flipped=False))
    current = write_csv(folder / "current.csv", accounts(2000, seed=2, flipped=True))
    return reference, current


def test_a_changed_relationship_exits_1_with_multivariate_in_json_words_and_html(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = files
    html = tmp_path / "report.html"
    # When `sluice drift --json --html` compares them
    code = main(
        ["drift", "--reference", str(reference), "--current", str(current), "--json", "--html", str(html)]
    )
    report = json.loads(capsys.readouterr().out)
    # Then no column drifted on its own, but the columns together did: dataset drift, exit 1
    assert code == 1 and report["dataset_drift"] is True
    assert not any(column["drifted"] for column in report["features"].values())
    together = report["multivariate"]
    assert together["drift"] is True and together["changed_relationship"] is True
    assert together["roc_auc"] > 0.75 and together["threshold"] == 0.55
    assert sorted(together["columns"]) == ["income", "spend"]
    assert together["rows"] == {"reference": 1500, "current": 1500}
    # And the words say what changed and what to check
    words = report["explanation"]
    assert words["headline"].startswith("Dataset drift: the relationship between")
    assert "how the columns relate to each other" in words["multivariate"]
    assert words["actions"][0].startswith("Check how ")
    # And the HTML report shows the classifier's verdict
    page = html.read_text(encoding="utf-8")
    assert "The columns together" in page and f"{together['roc_auc']:.3f}" in page


def test_the_threshold_flag_and_the_text_output(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = files
    # When the threshold is set above the classifier's ROC AUC
    code = main(
        [
            "drift",
            "--reference",
            str(reference),
            "--current",
            str(current),
            "--multivariate-threshold",
            "0.99",
        ]
    )
    text = capsys.readouterr().out
    # Then it is no drift (exit 0), and the text output says what the columns together showed
    assert code == 0
    assert "multivariate: no drift" in text and "threshold 0.99" in text
    # And a threshold of 0.5 or less is refused
    assert (
        main(
            [
                "drift",
                "--reference",
                str(reference),
                "--current",
                str(current),
                "--multivariate-threshold",
                "0.5",
            ]
        )
        == 2
    )
