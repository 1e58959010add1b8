"""Fixtures shared by the unit tests, which stay off the network and spawn nothing.

Tests that open sockets (loopback servers, HTTP clients without ``MockTransport``) or
start processes (promtool, hadolint, Alertmanager, Chromium) belong in
``tests/integration``: an autouse fixture here makes both fail at once, naming the seam.
"""

from __future__ import annotations

import io
import logging
import socket
import subprocess

import pytest


class SeamError(AssertionError):
    """A unit test reached for the network or a process."""


def _message(what: str) -> str:
    return f"unit tests must not {what}; move this test to tests/integration"


def _refuse_socket(sock: socket.socket, *args: object) -> None:
    # Closed here: the callers (create_connection, httpcore) only clean up after OSError.
    sock.close()
    raise SeamError(_message("open a socket"))


def _refuse_process(*args: object, **kwargs: object) -> None:
    raise SeamError(_message("start a subprocess"))


@pytest.fixture(autouse=True)
def _no_sockets_or_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse socket connect/bind and process creation for the length of each test."""
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse_socket)
    # Every way of starting a process in the standard library ends up here.
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse_process)


@pytest.fixture
def stream():
    """A StringIO that receives the log output; the root logger is restored after."""
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
