"""`sluice experiments`' use case on the in-memory ports: a version's stored experiment, the latest
version that searched by default, and clear refusals for what has none."""

from __future__ import annotations

import pytest

from sluice.app.registry.experiments import experiment_of
from sluice.domain.training.search import CandidateScore, Experiment
from sluice.errors import ArtifactCorrupt, ModelNotFound
from tests.unit.app.fakes import FakePorts

MODEL = "loans"


def _experiment(version: int, chosen: int) -> Experiment:
    scores = [
        CandidateScore(
            index=i,
            algorithm="random_forest",
            params={"max_depth": depth},
            folds=5,
            metric="roc_auc",
            mean=0.8 + i / 100,
            std=0.01,
            fold_scores=[0.8 + i / 100] * 5,
            fit_seconds=0.2,
            model_size_bytes=1000 * (i + 1),
            latency_ms_single_row=0.05,
        )
        for i, depth in enumerate((4, 8))
    ]
    return Experiment(
        model=MODEL,
        version=str(version),
        metric="roc_auc",
        higher_is_better=True,
        folds=5,
        rows=800,
        candidates=scores,
        chosen=chosen,
        reason=f"best of version {version}",
    )


def _searched(fakes: FakePorts, experiment: Experiment) -> int:
    """A version whose run searched: its experiment stored beside its model."""
    files = {
        "model": ("model.onnx", b"onnx"),
        "experiments": ("experiments.json", experiment.model_dump_json().encode()),
    }
    return fakes.train_version(MODEL, files).version


def _single_algorithm(fakes: FakePorts) -> int:
    return fakes.train_version(MODEL, {"model": ("model.onnx", b"onnx")}).version


def test_a_versions_experiment_is_read_back_whole(fakes: FakePorts) -> None:
    # Given a version that searched
    stored = _experiment(1, chosen=1)
    version = _searched(fakes, stored)
    # When its experiment is asked for
    experiment = experiment_of(MODEL, version, fakes.deps())
    # Then it is the one stored
    assert experiment == stored


def test_without_a_version_the_latest_version_that_searched_is_shown(fakes: FakePorts) -> None:
    # Given versions 1 and 2 that searched and a version 3 that trained one algorithm
    _searched(fakes, _experiment(1, chosen=0))
    _searched(fakes, _experiment(2, chosen=1))
    _single_algorithm(fakes)
    # When the model's experiment is asked for without a version
    experiment = experiment_of(MODEL, None, fakes.deps())
    # Then version 2's is shown
    assert experiment.version == "2"
    assert experiment.reason == "best of version 2"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (2, r"loans version 2 trained one algorithm: it has no candidate search"),
        (9, r"model 'loans' has no version 9"),
    ],
)
def test_a_version_without_a_search_or_unknown_is_refused_by_name(
    fakes: FakePorts, version: int, message: str
) -> None:
    # Given version 1 that searched and version 2 that did not
    _searched(fakes, _experiment(1, chosen=0))
    _single_algorithm(fakes)
    # When asked for the version, Then ModelNotFound says why
    with pytest.raises(ModelNotFound, match=message):
        experiment_of(MODEL, version, fakes.deps())


def test_an_unknown_model_or_one_that_never_searched_is_refused(fakes: FakePorts) -> None:
    # Given a model whose only version trained one algorithm
    _single_algorithm(fakes)
    # When asked for its latest search, or for a model the registry does not know
    # Then each is refused with a message that names the reason
    with pytest.raises(ModelNotFound, match=r"no version of loans searched candidates"):
        experiment_of(MODEL, None, fakes.deps())
    with pytest.raises(ModelNotFound, match=r"no model named 'credit' in the registry"):
        experiment_of("credit", None, fakes.deps())


def test_a_stored_experiment_whose_bytes_changed_is_not_shown(fakes: FakePorts) -> None:
    # Given a version whose experiments.json was altered after it was recorded
    version = _searched(fakes, _experiment(1, chosen=0))
    uri = fakes.registry.get_version(MODEL, version).artifacts["experiments"].uri
    fakes.artifacts.add(uri, _experiment(1, chosen=1).model_dump_json().encode())
    # When it is asked for, Then the verified read refuses it
    with pytest.raises(ArtifactCorrupt):
        experiment_of(MODEL, version, fakes.deps())
