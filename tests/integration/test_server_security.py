"""The HTTP server locked down: TLS, basic auth, idle timeouts, a connection cap (issue 19)."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import httpx
import pytest

from monitor.server import PROBE_LANE, MetricsServer
from monitor.webconfig import WebConfig, load_web_config
from tests.support.tls import Certs, make_certs

pytestmark = pytest.mark.integration

PASSWORD = "scrape-me-please"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
METRICS = b"# HELP x_total a test metric\n# TYPE x_total counter\nx_total 1.0\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls"))


def web_config(certs: Certs, extra_tls: str = "", users: bool = True) -> WebConfig:
    path = certs.ca.parent / f"web-{abs(hash((extra_tls, users)))}.yml"
    text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n" + extra_tls
    if users:
        text += f"basic_auth_users:\n  prometheus: {HASH}\n"
    path.write_text(text)
    return load_web_config(path)


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[MetricsServer, list[str]]]]:
    servers: list[MetricsServer] = []

    def start(**kwargs: Any) -> tuple[MetricsServer, list[str]]:
        events: list[str] = []
        server = MetricsServer(
            "127.0.0.1", 0, lambda: METRICS, lambda: (True, "ok"),
            status_page=lambda: "<p>status</p>", listener=events.append, **kwargs,
        )  # fmt: skip
        server.start()
        servers.append(server)
        return server, events

    yield start
    for server in servers:
        server.stop()


def url(server: MetricsServer, path: str = "") -> str:
    host, port = server.address
    return f"{server.scheme}://{host}:{port}{path}"


def tls_client(certs: Certs, **kwargs: Any) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if kwargs.pop("client_cert", False):
        context.load_cert_chain(certs.client_cert, certs.client_key)
    return httpx.Client(verify=context, timeout=5, **kwargs)


def test_metrics_answer_401_without_credentials_and_200_with_them_over_tls(serve, certs):
    """The issue's "done when": over TLS, /metrics is 401 without a login, 200 with it."""
    server, events = serve(web=web_config(certs))
    assert server.scheme == "https"
    with tls_client(certs) as client:
        denied = client.get(url(server, "/metrics"))
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"].startswith('Basic realm="telepath-monitor"')
        ok = client.get(url(server, "/metrics"), auth=("prometheus", PASSWORD))
        assert ok.status_code == 200
        assert ok.content == METRICS
        wrong = client.get(url(server, "/metrics"), auth=("prometheus", "guess"))
        unknown = client.get(url(server, "/metrics"), auth=("root", PASSWORD))
        assert (wrong.status_code, unknown.status_code) == (401, 401)
        assert client.get(url(server, "/"), auth=("prometheus", "guess")).status_code == 401
        assert client.get(url(server, "/status"), auth=("prometheus", PASSWORD)).status_code == 200
        assert client.get(url(server, "/nope")).status_code == 401  # nothing is revealed
    assert events == ["auth_missing", "auth_wrong", "auth_wrong", "auth_wrong", "auth_missing"]


def test_probes_stay_open_for_kubelet(serve, certs):
    """/healthz and /readyz need no credentials: probes send none."""
    server, _ = serve(web=web_config(certs))
    with tls_client(certs) as client:
        assert client.get(url(server, "/healthz")).text == "ok\n"
        assert client.get(url(server, "/readyz")).status_code == 200


def test_failed_logins_leave_no_password_or_hash_in_the_log(serve, certs, caplog):
    """Even at DEBUG, a failed login logs neither what was sent nor the stored hash."""
    caplog.set_level("DEBUG")
    server, _ = serve(web=web_config(certs))
    with tls_client(certs) as client:
        client.get(url(server, "/metrics"), auth=("prometheus", "hunter2-guess"))
    logged = caplog.text
    assert "basic auth failed (wrong)" in logged
    for secret in (
        "hunter2-guess",
        HASH,
        PASSWORD,
        base64.b64encode(b"prometheus:hunter2-guess").decode(),
    ):
        assert secret not in logged


def test_plain_http_to_a_tls_port_gets_nothing_and_is_counted(serve, certs):
    """A client that does not speak TLS is dropped; the server goes on serving."""
    server, events = serve(web=web_config(certs, users=False))
    with pytest.raises(httpx.HTTPError), httpx.Client(timeout=5) as plain:
        plain.get(url(server, "/metrics").replace("https://", "http://"))
    with tls_client(certs) as client:
        assert client.get(url(server, "/metrics")).status_code == 200
    assert "tls_failed" in events


def test_client_certificates_are_required_when_the_file_says_so(serve, certs):
    """RequireAndVerifyClientCert: no certificate, no connection; ours from the CA passes."""
    extra = "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
    server, _ = serve(web=web_config(certs, extra, users=False))
    with pytest.raises(httpx.HTTPError), tls_client(certs) as anonymous:
        anonymous.get(url(server, "/metrics"))
    with tls_client(certs, client_cert=True) as client:
        assert client.get(url(server, "/metrics")).status_code == 200


def test_min_version_tls13_refuses_tls12_clients(serve, certs):
    """min_version TLS13: a client capped at TLS 1.2 cannot connect."""
    server, _ = serve(web=web_config(certs, "  min_version: TLS13\n", users=False))
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.HTTPError), httpx.Client(verify=context, timeout=5) as old:
        old.get(url(server, "/metrics"))


# --- connections -----------------------------------------------------------------------


def idle(server: MetricsServer, count: int) -> list[socket.socket]:
    """Open ``count`` connections that send nothing; give the server time to accept them."""
    socks = [socket.create_connection(server.address, timeout=5) for _ in range(count)]
    time.sleep(0.2)  # the accept loop runs on its own thread
    return socks


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_an_idle_connection_is_closed_after_the_idle_timeout(serve):
    """A connection that never sends a request is closed; a kept-alive one too."""
    server, _ = serve(idle_timeout=0.5)
    (silent,) = idle(server, 1)
    with silent:
        assert closed_by_server(silent, within=5)
    with httpx.Client(timeout=5) as client:
        first = client.get(url(server, "/healthz"))
        assert first.http_version == "HTTP/1.1"
        assert "close" not in first.headers.get("Connection", "")


def test_at_the_cap_the_longest_idle_connection_makes_room(serve):
    """A flood of idle connections: threads stay bounded, and probes and scrapes are still
    served, each new connection closing the one idle longest."""
    server, events = serve(max_connections=3, idle_timeout=30)
    baseline = threading.active_count()
    held = idle(server, 3)
    with httpx.Client(timeout=5) as client:
        assert client.get(url(server, "/healthz")).status_code == 200
        assert client.get(url(server, "/metrics")).status_code == 200
    assert "idle_closed" in events
    assert closed_by_server(held[0], within=5)  # the oldest went first
    held += idle(server, 40)
    assert threading.active_count() <= baseline + 3 + PROBE_LANE
    with httpx.Client(timeout=5) as client:
        assert client.get(url(server, "/healthz")).status_code == 200
        assert client.get(url(server, "/metrics")).status_code == 200
    for sock in held:
        sock.close()


def test_when_every_connection_is_busy_the_probe_lane_answers_healthz(serve):
    """All served connections mid-request: /healthz still 200, anything else 503."""
    release = threading.Event()
    entered = threading.Semaphore(0)

    def slow_page() -> bytes:
        entered.release()
        release.wait(20)
        return b""

    events: list[str] = []
    server = MetricsServer(
        "127.0.0.1", 0, slow_page, lambda: (True, "ok"), listener=events.append,
        max_connections=2,
    )  # fmt: skip
    server.start()
    base = url(server)
    busy = [
        threading.Thread(target=httpx.get, args=(base + "/metrics",), kwargs={"timeout": 30})
        for _ in range(2)
    ]
    try:
        for thread in busy:
            thread.start()
        for _ in busy:
            assert entered.acquire(timeout=10)
        with httpx.Client(timeout=5) as client:
            probe = client.get(base + "/healthz")
            assert probe.status_code == 200
            assert probe.headers["Connection"] == "close"  # the lane answers once per connection
            refused = client.get(base + "/metrics")
            assert refused.status_code == 503
            assert refused.headers["Retry-After"] == "5"
        assert "over_capacity" in events
    finally:
        release.set()
        for thread in busy:
            thread.join(10)
        server.stop()


def test_a_tls_client_that_never_handshakes_does_not_block_others(serve, certs):
    """The handshake runs on the connection's thread: a silent client holds only its own."""
    server, _ = serve(web=web_config(certs, users=False), idle_timeout=1)
    silent = idle(server, 2)
    with tls_client(certs) as client:
        assert client.get(url(server, "/healthz")).status_code == 200
    for sock in silent:
        with sock:
            assert closed_by_server(sock, within=5)


def test_the_image_health_check_speaks_tls_when_the_web_config_says_so(serve, certs):
    """python -m monitor.healthcheck reads TELEPATH_WEB_CONFIG: https, no password needed."""
    from monitor.healthcheck import main as healthcheck

    config = web_config(certs)
    server, _ = serve(web=config)
    host, port = server.address
    env = {"TELEPATH_LISTEN": f"{host}:{port}", "TELEPATH_WEB_CONFIG": str(config.path)}
    assert healthcheck([], env=env) == 0
    assert healthcheck([], env={"TELEPATH_LISTEN": f"{host}:{port}"}) == 1  # plain http
