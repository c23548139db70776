"""Explaining predictions of the production version: the same checks and limits as a prediction, then
each instance's Shapley values against the background stored with the version (domain/explain). The
API's /explain, `sluice predict --explain` (through it) and batch jobs with `explain: true` share
`explanation_body`'s domain code."""

from __future__ import annotations

from typing import Any

from sluice.app.ports import ArtifactReader, RegistryReader
from sluice.app.serving.production import ServedModel, predict, refuse_beyond_budget
from sluice.domain.explain.background import BACKGROUND_ARTIFACT, Background, read_background
from sluice.domain.explain.sentences import outcome_text, sentences
from sluice.domain.explain.shapley import (
    EXACT_MAX_FEATURES,
    PERMUTATION_PAIRS,
    Explanation,
    explain_instance,
)
from sluice.domain.scoring.onnx_model import OnnxModel, feed_from_instances
from sluice.errors import ArtifactCorrupt, ExplanationUnavailable, ModelUnavailable

# Model rows one request may cost: ~5 s for the credit-risk forest here (~5 µs a row), so a model a few
# times slower per row still answers inside PredictFunction's 29 s. Past it, a 413 says how many
# instances to send at once.
MAX_EXPLAIN_ROWS = 1_000_000


class Backgrounds:
    """The background of each served version, read and verified once per container."""

    def __init__(self, registry: RegistryReader, artifacts: ArtifactReader) -> None:
        self._registry = registry
        self._artifacts = artifacts
        self._loaded: dict[tuple[str, int], Background] = {}

    def of(self, served: ServedModel) -> Background:
        """The background stored with `served`'s version. Raises ExplanationUnavailable (409) for a
        version trained before backgrounds were stored, ModelUnavailable when its file fails its
        sha256 check."""
        key = (served.name, served.version)
        if key not in self._loaded:
            record = self._registry.get_version(served.name, served.version)
            artifact = record.artifacts.get(BACKGROUND_ARTIFACT)
            if artifact is None:
                raise ExplanationUnavailable(
                    f"{served.name} version {served.version} has no background sample to explain with: it "
                    "was trained before versions stored one; retrain it (any new version stores one)",
                    [{"instance": None, "field": None, "message": "this version cannot be explained"}],
                )
            try:
                data = self._artifacts.get_verified(artifact)
            except ArtifactCorrupt as exc:
                raise ModelUnavailable(f"{served.name} version {served.version}: {exc}") from exc
            self._loaded.clear()  # a container serves one production version per model at a time
            self._loaded[key] = read_background(data, served.onnx.inputs)
        return self._loaded[key]


def rows_per_instance(model: OnnxModel, background: Background) -> int:
    """The most model rows one instance's explanation costs."""
    d = len(model.inputs)
    if d <= EXACT_MAX_FEATURES:
        return background.rows * (1 << d)
    return background.rows * 2 * PERMUTATION_PAIRS * (d + 1)


def explanation_body(
    explanation: Explanation, instance: dict[str, Any], target: str, model: OnnxModel
) -> dict[str, Any]:
    """One instance's explanation as the API answers it."""
    classifier = explanation.explained_class is not None
    outcome = outcome_text(target, explanation.explained_class, len(model.classes or ()) == 2)
    body: dict[str, Any] = {
        "prediction": explanation.explained_class if classifier else explanation.output,
        "explained": outcome,
        "output": explanation.output,
        "base_value": explanation.base_value,
        "contributions": explanation.contributions,
        "sentences": sentences(explanation.contributions, instance, outcome, classifier),
        "method": explanation.method,
    }
    if explanation.error_bound is not None:
        body["error_bound"] = explanation.error_bound
    return body


def explain(
    served: ServedModel,
    backgrounds: Backgrounds,
    instances: list[Any],
    *,
    max_instances: int,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The prediction's answer (same checks: 400, 413) with `explanations`, one per instance. Raises
    ExplanationUnavailable (409) for a version without a background, InvalidRequest (413) when the
    explanations would cost more than MAX_EXPLAIN_ROWS model rows."""
    body = predict(served, instances, max_instances=max_instances, request_id=request_id)
    background = backgrounds.of(served)
    per_instance = rows_per_instance(served.onnx, background)
    refuse_beyond_budget(
        len(instances),
        per_instance,
        MAX_EXPLAIN_ROWS,
        f"explaining {len(instances)} instances at once would take too long",
        per="/explain request",
    )
    feed, _ = feed_from_instances(served.onnx.features, instances)  # valid: predict checked them
    body["explanations"] = [
        explanation_body(
            explain_instance(served.onnx, background, {n: v[i : i + 1] for n, v in feed.items()}),
            instances[i],
            background.target,
            served.onnx,
        )
        for i in range(len(instances))
    ]
    return body
