"""Batch jobs with `explain: true` (`sluice batch --explain`, or `"explain": true` in the state machine's
input): the version's background is pinned with its model when the job starts, and each part gets each
scored row's explanation beside its scores — `base_value` and one `contribution_<feature>` column per
input — computed by the same code as /explain (domain/explain/shapley.py)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from sluice.domain.explain.background import BACKGROUND_ARTIFACT, Background, read_background
from sluice.domain.explain.shapley import explain_instance
from sluice.domain.registry.records import Artifact
from sluice.errors import ExplanationUnavailable

if TYPE_CHECKING:
    from sluice.app.ports import ArtifactReader
    from sluice.domain.data.features import Feed
    from sluice.domain.registry.records import ModelVersion
    from sluice.domain.scoring.batch import BatchJob
    from sluice.domain.scoring.onnx_model import OnnxModel

# The pinned background this container has read, by (uri, sha256): a warm child reuses it.
_BACKGROUNDS: dict[tuple[str, str], Background] = {}


def pinned_background(version: ModelVersion) -> Artifact:
    """The version's background, pinned by a job whose input asks to explain (`explain: true`). Raises
    ExplanationUnavailable for a version trained before versions stored one (the job fails at once,
    its manifest saying why)."""
    artifact = version.artifacts.get(BACKGROUND_ARTIFACT)
    if artifact is None:
        raise ExplanationUnavailable(
            f"{version.model} version {version.version} has no background sample to explain with: it was "
            "trained before versions stored one; retrain it, or score without explain"
        )
    return artifact


def _background(job: BatchJob, model: OnnxModel, artifacts: ArtifactReader) -> Background:
    assert job.background_uri is not None and job.background_sha256 is not None
    key = (job.background_uri, job.background_sha256)
    if key not in _BACKGROUNDS:
        _BACKGROUNDS.clear()
        data = artifacts.get_verified(Artifact(uri=job.background_uri, sha256=job.background_sha256))
        _BACKGROUNDS[key] = read_background(data, model.inputs)
    return _BACKGROUNDS[key]


def with_contributions(
    scored: bytes, model: OnnxModel, feed: Feed, job: BatchJob, artifacts: ArtifactReader
) -> bytes:
    """A results part (CSV, one line per row of `feed`) with `base_value` and `contribution_<feature>`
    columns added: the Shapley values of the predicted class's probability, or of the value."""
    background = _background(job, model, artifacts)
    lines = list(csv.reader(io.StringIO(scored.decode("utf-8"))))
    names = list(model.inputs)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*lines[0], "base_value", *(f"contribution_{n}" for n in names)])
    for i, line in enumerate(lines[1:]):
        explanation = explain_instance(model, background, {n: v[i : i + 1] for n, v in feed.items()})
        contributions = [round(explanation.contributions[n], 9) for n in names]
        writer.writerow([*line, round(explanation.base_value, 9), *contributions])
    return text.getvalue().encode("utf-8")
