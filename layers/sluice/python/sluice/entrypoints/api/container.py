"""What the routes share in one Lambda container, and how a route reaches it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from sluice.app.serving.live import RolloutTally
from sluice.app.serving.production import ProductionModels

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Request

    from sluice.app.ports import PredictDeps, TrafficSink
    from sluice.app.serving.explain import Backgrounds
    from sluice.settings import PredictSettings

CONTEXT_KEY = "sluice_container"  # where create_app puts an app's Container in its context, per request


class Container:
    """One app's state for the life of its Lambda container: the function's settings, the deps
    `build_deps` builds for them (create_app's: `wiring.predict_deps`, or a test's fakes), and the
    production models loaded so far. Each is built on first use, or by `warm()` (PredictFunction's
    init in Lambda), never by importing a module (tests create apps with different settings in one
    process), and kept: a warm Lambda reuses its clients and loaded models."""

    def __init__(
        self, settings: Callable[[], PredictSettings], build_deps: Callable[[PredictSettings], PredictDeps]
    ) -> None:
        self._read_settings = settings
        self._build_deps = build_deps

    @cached_property
    def settings(self) -> PredictSettings:
        return self._read_settings()

    @cached_property
    def deps(self) -> PredictDeps:
        return self._build_deps(self.settings)

    @cached_property
    def models(self) -> ProductionModels:
        return ProductionModels(
            self.deps.registry,
            self.deps.artifacts,
            self.settings.alias_ttl_seconds,
            outcomes=self.deps.outcomes,
        )

    @cached_property
    def tally(self) -> RolloutTally:
        return RolloutTally(
            self.deps.registry, self.settings.rollout_flush_seconds, outcomes=self.deps.outcomes
        )

    @cached_property
    def backgrounds(self) -> Backgrounds:
        """The background samples /explain has read (imported on first use: predictions never do)."""
        from sluice.app.serving.explain import Backgrounds

        return Backgrounds(self.deps.registry, self.deps.artifacts)

    def warm(self) -> None:
        """Build the settings and the deps now (the deps create their boto3 clients), rather than in
        the first request that needs them."""
        self.deps  # noqa: B018 - built for its side effect

    def forget_deps(self) -> None:
        """Drop the deps and what holds them (loaded models, the rollout tally): they are built again
        on next use, with the clients of that moment (after a SnapStart restore: the copy's own)."""
        for built in ("deps", "models", "tally", "backgrounds"):
            self.__dict__.pop(built, None)

    @property
    def sink(self) -> TrafficSink:
        """Where captured requests and feedback go (Firehose delivery streams)."""
        return self.deps.sink


def container_of(http: Request) -> Container:
    """The Container of the app answering `http` (create_app puts it in the app's context)."""
    container: Container = http.context[CONTEXT_KEY]
    return container
