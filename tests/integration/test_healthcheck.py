"""``python -m monitor.healthcheck`` (the container's HEALTHCHECK) against real loopback
servers: healthy, failing, closed, hung, redirected, behind a proxy variable."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from monitor import healthcheck

pytestmark = pytest.mark.integration


class _Healthz(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        status = self.server.status if self.path == "/healthz" else 200
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(HTTPServer):
    status = 200


@pytest.fixture
def server() -> Iterator[_Server]:
    """An HTTP server on 127.0.0.1:0 whose /healthz answers ``server.status``."""
    httpd = _Server(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="healthz", daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def _listen(httpd: _Server) -> str:
    return f"127.0.0.1:{httpd.server_address[1]}"


def test_healthy_while_healthz_answers_200_and_not_after_a_503(server, capsys):
    """Exit 0 and silence on a 200; exit 1 with one stderr line naming the status on a 503."""
    env = {"TELEPATH_LISTEN": _listen(server)}
    assert healthcheck.main([], env) == 0
    assert capsys.readouterr() == ("", "")
    server.status = 503
    assert healthcheck.main([], env) == 1
    err = capsys.readouterr().err
    assert err == f"unhealthy: http://{_listen(server)}/healthz: HTTP 503\n"


def test_a_closed_port_is_unhealthy(capsys):
    """Nothing listening (a bound, non-listening port refuses) gives exit 1 and the reason."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        assert healthcheck.main([f"127.0.0.1:{port}"], {}) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"unhealthy: http://127.0.0.1:{port}/healthz: ")
    assert err.count("\n") == 1


def test_a_daemon_that_accepts_but_never_answers_is_unhealthy(capsys):
    """A hung daemon fails the probe within its --timeout rather than hanging it."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        port = listening.getsockname()[1]
        assert healthcheck.main([f"127.0.0.1:{port}", "--timeout", "0.2"], {}) == 1
    assert "timed out" in capsys.readouterr().err


def test_a_wildcard_listen_address_is_probed_on_loopback(server):
    """TELEPATH_LISTEN=0.0.0.0:PORT or :PORT reaches the daemon on 127.0.0.1."""
    port = server.server_address[1]
    assert healthcheck.main([], {"TELEPATH_LISTEN": f"0.0.0.0:{port}"}) == 0
    assert healthcheck.main([], {"TELEPATH_LISTEN": f":{port}"}) == 0


def test_an_address_argument_overrides_the_environment(server):
    """``python -m monitor.healthcheck HOST:PORT`` probes that address."""
    assert healthcheck.main([_listen(server)], {"TELEPATH_LISTEN": "127.0.0.1:1"}) == 0


def test_proxy_variables_do_not_divert_the_probe(server, monkeypatch):
    """HTTP_PROXY meant for the Telepath API is not used for the loopback probe."""
    with socket.socket() as dead_proxy:
        dead_proxy.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{dead_proxy.getsockname()[1]}"
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        assert healthcheck.main([_listen(server)], {}) == 0


def test_a_redirect_is_not_followed(server, capsys):
    """Only a 200 from /healthz itself counts; a 302 elsewhere is unhealthy."""
    server.status = 302
    assert healthcheck.main([_listen(server)], {}) == 1
    assert "HTTP 302" in capsys.readouterr().err
