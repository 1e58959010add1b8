"""Fixtures of the end-to-end suite, its profile (seeds, soak length) and its figures.

Every scenario records what it injected and what it saw with the ``figures`` fixture;
the table is printed at the end of the session and written to ``e2e-figures.json``
in pytest's base temporary directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Scenario
from tests.support.figures import FIGURES_FILE

#: Seeds of the kill scenario; each seed picks its own kill points.
SEEDS = [int(s) for s in os.environ.get("TELEPATH_E2E_SEEDS", "1,2,3").split(",") if s.strip()]
#: Length of the soak in seconds (the long profile runs it for 15 minutes or more).
SOAK_SECONDS = float(os.environ.get("TELEPATH_E2E_SOAK_SECONDS", "60"))
#: Calls per minute the soak's simulated account makes.
SOAK_CALLS_PER_MINUTE = float(os.environ.get("TELEPATH_E2E_SOAK_CALLS_PER_MINUTE", "6000"))
#: Largest RSS growth, in MiB, allowed once the soak's windows are full.
SOAK_MAX_GROWTH_MIB = float(os.environ.get("TELEPATH_E2E_SOAK_MAX_GROWTH_MIB", "8"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the scenarios on one worker under xdist: they time real processes."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture
def figures(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., None]:
    """Record the figures of one scenario (name=value pairs) for the summary table."""
    path = tmp_path_factory.getbasetemp() / FIGURES_FILE

    def record(**values: Any) -> None:
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"scenario": request.node.name, **values}, default=str) + "\n")

    return record


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    """A fresh directory for one scenario; whatever it starts is stopped at the end."""
    run = Scenario(tmp_path)
    try:
        yield run
    finally:
        run.close()
