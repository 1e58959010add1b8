"""Fixtures shared by the unit tests."""

from __future__ import annotations

import io
import logging

import pytest


@pytest.fixture
def stream():
    """A StringIO that receives the log output; the root logger is restored after."""
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
