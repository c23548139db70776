"""Powertools' REST resolver with routers included on first use.

A cold start imports only the routes a prediction needs. A router that predictions never use (the
dashboard, the models listing, the console to come) is declared by its module and the path it answers
under, and is imported and included on the first request that no included route answers and whose path
is at or below that prefix; Powertools then routes that request again. Routes, their middlewares, the
one exception → status mapping and the 404 of an unknown path behave as if the router had been included
at start; the OpenAPI document includes every router first (`include_lazy_routers()`).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder


def under(path: str, prefix: str) -> bool:
    """Whether `path` is `prefix` or below it (`/models` covers `/models` and `/models/x`, not `/modelsx`)."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class LazyRoutesResolver(APIGatewayRestResolver):
    """APIGatewayRestResolver whose `include_router_lazily` routers are included on first use."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lazy: dict[str, str] = {}  # module → the path prefix of its routes, not yet included
        self._including = threading.Lock()  # the local stack may resolve from several threads

    def include_router_lazily(self, module: str, prefix: str) -> None:
        """Include `module`'s `router` when a request under `prefix` first finds no route (every route
        of the router must be at or below `prefix`)."""
        self._lazy[module] = prefix

    @property
    def lazy_routers(self) -> dict[str, str]:
        """The routers declared lazily and not included yet: module → path prefix."""
        return dict(self._lazy)

    def include_lazy_routers(self, path: str | None = None) -> list[str]:
        """Import and include the pending routers whose prefix covers `path` (all of them when `path`
        is None), in the order they were declared; returns their modules."""
        with self._including:
            due = [module for module, prefix in self._lazy.items() if path is None or under(path, prefix)]
            for module in due:
                self.include_router(importlib.import_module(module).router)
                del self._lazy[module]
        return due

    def _handle_not_found(self, method: str, path: str) -> ResponseBuilder:
        # Powertools calls this when no included route matches the request (method and path): include
        # the routers for its path, if any is pending, and route it again; else its usual 404.
        if self._lazy and self.include_lazy_routers(path):
            return self._resolve()
        return super()._handle_not_found(method, path)
