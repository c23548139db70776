"""The card of a real candidate opened in headless Chromium: the summary for people is at the top of the
page, visible, and comes before the details.

Needs Debian's chromium (`make browser-deps`). The test fails when it is missing; it skips only when
SLUICE_SKIP_BROWSER=1 is set explicitly (never in CI). The screenshot and the page are kept in
test-artefacts/ (card-summary.png, card-summary.html) for a person to look at.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from sluice.domain.candidate import train_candidate
from sluice.domain.reports.card import build_card, render_card_html
from sluice.domain.spec.model_spec import parse_spec
from sluice.domain.training.baseline import baseline_metrics
from sluice.domain.training.decisions import FairnessSnapshot, MitigationReport, ThresholdChoice
from sluice.domain.training.evaluation import apply_gates
from sluice.domain.training.pipeline import split_holdout
from sluice.domain.training.search import CandidateScore, Experiment
from sluice.tools.example_data import example_table
from tests.unit.domain.test_drift_report_browser import (
    chromium,
    pixels_of,
    read_png,
    require_chromium,
)

WIDTH, HEIGHT = 1200, 1400
TOP_BAND = 420  # pixels: the title, the verdict box and the summary's first sentences
VERDICT_OK_BACKGROUND = "#e3f9e5"  # charts.STYLE's `.ok`

SPEC = """
name: credit-risk
description: Probability that a borrower defaults within a year.
intended_use: Loan officers screening applications; not for automatic refusals.
task: binary
target: default
features:
  - {name: income, type: numeric, min: 0}
  - {name: age, type: numeric, min: 18, max: 110, nullable: true}
  - {name: debt_ratio, type: numeric, min: 0, max: 5}
  - {name: credit_lines, type: numeric, min: 0, max: 100}
  - {name: months_employed, type: numeric, min: 0, max: 600, nullable: true}
  - {name: segment, type: categorical, categories: [retail, sme, corporate]}
  - {name: region, type: categorical, categories: [north, south, east, west], nullable: true}
sensitive: gender
algorithm: {name: logistic_regression, params: {}}
metric: roc_auc
gates: {min_metric: 0.6, max_fairness_gap: 0.2}
rollout: {mode: canary}
"""


def experiment_of(chosen_mean: float) -> Experiment:
    def candidate(index: int, algorithm: str, mean: float, size: int) -> CandidateScore:
        return CandidateScore(
            index=index,
            algorithm=algorithm,
            params={"C": 1.0} if index == 0 else {"max_depth": 4},
            folds=3,
            metric="roc_auc",
            mean=mean,
            std=0.012,
            fold_scores=[mean - 0.01, mean, mean + 0.01],
            fit_seconds=0.05 * (index + 1),
            model_size_bytes=size,
            latency_ms_single_row=0.04,
        )

    return Experiment(
        model="credit-risk",
        metric="roc_auc",
        higher_is_better=True,
        folds=3,
        rows=640,
        candidates=[
            candidate(0, "logistic_regression", chosen_mean, 2_000),
            candidate(1, "random_forest", chosen_mean - 0.02, 90_000),
        ],
        chosen=0,
        reason="logistic_regression has the best mean ROC AUC",
    )


# The test artefacts: kept after the run (git ignores them), for a person to look at.
ARTEFACTS = Path(__file__).resolve().parents[3] / "test-artefacts"


@pytest.mark.browser
def test_the_card_opens_with_its_summary_visible_at_the_top(tmp_path: Path) -> None:
    require_chromium()
    # Given a candidate trained on a small credit-risk table, and its card with a search, a chosen
    # threshold, a mitigation report, the trivial baseline and production version 3
    spec = parse_spec(SPEC)
    table = example_table("credit-risk", rows=800)
    candidate = train_candidate(spec, table, dataset_sha256="d" * 64, version="4")
    split = split_holdout(spec, table)
    primary = candidate.evaluation.primary
    assert primary is not None
    champion = candidate.evaluation.model_copy(update={"metrics": {"roc_auc": primary - 0.03}})
    card = build_card(
        spec=spec,
        version="4",
        lineage=candidate.card.lineage,
        parameters=candidate.card.parameters,
        parity=candidate.parity,
        evaluation=candidate.evaluation,
        gates=apply_gates(spec, candidate.evaluation, champion),
        champion=champion,
        champion_version=3,
        baseline=baseline_metrics(spec, split.train, split.holdout),
        threshold=ThresholdChoice(value=0.5, objective="f1", score=0.41, rows=split.train.n_rows),
        mitigation=MitigationReport(
            mitigation="reweighing",
            attribute="gender",
            before=FairnessSnapshot(
                demographic_parity_gap=0.09, equal_opportunity_gap=0.08, metric=primary + 0.004
            ),
            after=FairnessSnapshot(demographic_parity_gap=0.03, equal_opportunity_gap=0.02, metric=primary),
            metric_cost=0.004,
        ),
        experiment=experiment_of(primary),
        rollout="canary",
    )
    assert card.summary is not None and card.summary.passed
    page = tmp_path / "card.html"
    page.write_text(render_card_html(card), encoding="utf-8")
    screenshot = tmp_path / "card.png"
    # When headless Chromium opens it (no network), takes a screenshot and dumps the page's DOM
    shot = chromium(tmp_path, f"--screenshot={screenshot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    assert shot.returncode == 0, shot.stderr.decode(errors="replace")[-2000:]
    dump = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dump.returncode == 0, dump.stderr.decode(errors="replace")[-2000:]
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", dump.stdout.decode())).split())
    # Then every summary sentence is on the page, before the gates and the "Metrics" heading
    details = text.index("Metrics")
    for sentence in card.summary.sentences:
        assert 0 <= text.find(sentence) < text.index("Gates") < details, sentence
    assert "better than production version 3" in text[:details]
    assert "tried as a canary on 10% of requests first" in text[:details]
    # And the top band of the screenshot shows the green verdict box and dark text
    image = read_png(screenshot.read_bytes())
    assert image.shape[:2] == (HEIGHT, WIDTH)
    top = image[:TOP_BAND]
    verdict_pixels = pixels_of(top, VERDICT_OK_BACKGROUND)
    dark_pixels = int(np.all(top[:, :, :3] < 100, axis=2).sum())
    kept = ARTEFACTS / "card-summary.png"  # a person looks at it after the run
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(screenshot.read_bytes())
    (ARTEFACTS / "card-summary.html").write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"\nscreenshot {kept}: {verdict_pixels} verdict-box pixels, {dark_pixels} dark pixels on top")
    assert verdict_pixels > 0.3 * WIDTH * 40  # a box across the page, ~40 px high
    assert dark_pixels > 2000  # text, not an empty band
