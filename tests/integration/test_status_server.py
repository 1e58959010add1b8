"""The status page as the daemon's HTTP server serves it, on 127.0.0.1:0."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

from monitor.server import MetricsServer
from monitor.status import render
from tests.unit.test_status import alert, snap

pytestmark = pytest.mark.integration


@pytest.fixture
def serve() -> Iterator[Callable[..., httpx.Client]]:
    """Start MetricsServers on 127.0.0.1:0; each gives a client for its URL; all stopped."""
    servers: list[MetricsServer] = []
    clients: list[httpx.Client] = []

    def start(status_page: Callable[[], str] | None = None) -> httpx.Client:
        server = MetricsServer(
            "127.0.0.1", 0, lambda: b"", lambda: (True, "ok"), status_page=status_page
        )
        server.start()
        servers.append(server)
        host, port = server.address
        client = httpx.Client(base_url=f"http://{host}:{port}", timeout=5)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


def test_get_root_serves_the_page_as_html_with_security_headers(serve):
    """GET / is the status page: HTML, not cached, no scripts allowed, no sniffing."""
    client = serve(lambda: render(snap((alert(),))))
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert "AI agent answers slowly" in response.text
    assert client.get("/status?x=1").text == response.text


def test_head_answers_headers_only(serve):
    """HEAD / gives the GET headers and no body."""
    client = serve(lambda: "<!DOCTYPE html><p>hi</p>")
    response = client.head("/")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len("<!DOCTYPE html><p>hi</p>"))
    assert response.content == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_the_server_is_read_only(serve, method):
    """Any method but GET and HEAD is refused with 405 and an Allow header."""
    client = serve(lambda: "page")
    response = client.request(method, "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_a_failing_page_answers_500_and_the_server_goes_on(serve, caplog):
    """A status callback that raises gives a short 500 and a log line; probes still answer."""

    def broken() -> str:
        raise RuntimeError("boom")

    client = serve(broken)
    with caplog.at_level(logging.ERROR, logger="monitor.server"):
        response = client.get("/")
    assert response.status_code == 500
    assert response.text == "status page unavailable; see the daemon's log\n"
    assert "boom" not in response.text
    assert "rendering the status page failed" in caplog.text
    assert client.get("/healthz").text == "ok\n"
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_without_a_status_page_root_is_not_found(serve):
    """A server built without a page keeps answering only the probes and metrics."""
    client = serve()
    assert client.get("/").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_probe_answers_are_unchanged(serve):
    """/healthz, /readyz and /metrics answer as before the page existed."""
    client = serve(lambda: "page")
    metrics = client.get("/metrics")
    assert client.get("/healthz").text == "ok\n"
    assert client.get("/readyz").text == "ok\n"
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    assert client.get("/nope").status_code == 404
