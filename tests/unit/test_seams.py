"""The guard of tests/unit/conftest.py: a unit test that reaches for the network or a
process fails at once, naming where the test belongs."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import httpx
import pytest

from tests.unit.conftest import SeamError


def test_a_unit_test_cannot_connect_a_socket():
    with pytest.raises(SeamError, match="move this test to tests/integration"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_a_unit_test_cannot_listen():
    with socket.socket() as sock, pytest.raises(SeamError, match="open a socket"):
        sock.bind(("127.0.0.1", 0))


def test_an_http_client_without_mock_transport_is_refused():
    with httpx.Client() as client, pytest.raises(SeamError):
        client.get("http://127.0.0.1:9/")


@pytest.mark.parametrize(
    "start",
    [
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=False),
        lambda: subprocess.Popen([sys.executable, "-c", "pass"]),
        lambda: asyncio.run(asyncio.create_subprocess_exec(sys.executable, "-c", "pass")),
    ],
    ids=["run", "Popen", "asyncio"],
)
def test_a_unit_test_cannot_start_a_process(start):
    with pytest.raises(SeamError, match="start a subprocess"):
        start()
