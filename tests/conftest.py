"""Fixtures for every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.figures import print_figures


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands configure the root logger; put it back so tests stay independent."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The e2e scenarios' figures, when any ran (tests/support/figures.py)."""
    print_figures(terminalreporter)
