"""How `make test` shares the suite between its pytest-xdist workers (`--dist loadgroup`, see
`pytest_xdist_make_scheduler` in tests/conftest.py).

xdist's `load` sends tests in runs of consecutive ones and refills whichever worker runs low, so a module can
be split between the workers: then both set up its module-scoped fixtures (a stack of its own, a trained
model, a `sluice local up` process), and a worker that went on to another package and comes back deploys
the package's shared stack again. Here a module is one unit of work, sent whole to one worker; the
modules marked `xdist_group` with the same name (tests/integration/sam_build: one `sam build` per session)
are one unit. Units go out in the order of the collection, which `order_for_workers` decides: packages in
their usual order (so each worker enters each package once), and within each, the modules holding a test
marked `slow` first, so that no long module is left to run alone at the end while the other worker idles.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling

SLOW = "slow"
AFTER_SUITE = "after_suite"


class ModuleScheduling(LoadGroupScheduling):
    """`loadgroup` where every test that is in no xdist_group is grouped with its module, in the
    collection's order (never reordered by unit size: that would mix the packages)."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        config.option.loadscopereorder = False
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        # a test marked xdist_group("name") is `nodeid@name` (an "@" inside a parameter id ends with "]")
        group = nodeid.rsplit("@", 1)[-1] if "@" in nodeid else ""
        if group and not any(c in group for c in "[]/:"):
            return group
        return nodeid.split("::", 1)[0]


def _unit(item: pytest.Item) -> str:
    group = item.get_closest_marker("xdist_group")
    if group is not None:
        return str(group.args[0] if group.args else group.kwargs.get("name", "default"))
    return item.nodeid.split("::", 1)[0]


def _package(item: pytest.Item) -> str:
    """The folder under tests/ the test is in (e2e, integration, unit)."""
    parts = item.nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""


def order_for_workers(items: list[pytest.Item]) -> None:
    """Sort in place: each package's units together, the packages in collection order; within a
    package the units with a test marked slow first; the tests marked after_suite last."""
    packages: dict[str, int] = {}
    first: dict[str, int] = {}
    slow: set[str] = set()
    for index, item in enumerate(items):
        packages.setdefault(_package(item), index)
        first.setdefault(_unit(item), index)
        if item.get_closest_marker(SLOW) is not None:
            slow.add(_unit(item))
    position = {id(item): index for index, item in enumerate(items)}

    def key(item: pytest.Item) -> tuple[bool, int, bool, int, int]:
        unit = _unit(item)
        return (
            item.get_closest_marker(AFTER_SUITE) is not None,
            packages[_package(item)],
            unit not in slow,
            first[unit],
            position[id(item)],
        )

    items.sort(key=key)
