"""The daemon's HTTP server: the status page, ``/metrics``, ``/healthz`` and ``/readyz``.

``/healthz`` says the process is alive (for restarts); ``/readyz`` says the data is
fresh: the last sync succeeded recently and the key was accepted (for routing and
for "is the monitor itself working" alerts). ``/`` (also ``/status``) is the status
page for people (:mod:`monitor.status`).

Everything here only reads: GET and HEAD are served, any other method is answered
405. A failing page or collector answers 500, a failing readiness check 503 (not
ready); each failure is logged and the server goes on.

With a web config (``TELEPATH_WEB_CONFIG``, :mod:`monitor.webconfig`) the socket speaks
TLS and every path but the probes asks for basic auth (:mod:`monitor.httpauth`): a
missing or wrong login gets 401 with ``WWW-Authenticate`` and is counted, never logged
with what was sent.

Connections are bounded (issue 19). Each one gets :data:`IDLE_TIMEOUT` seconds for
every read, so an idle keep-alive connection or one that never sends a request is
closed; the TLS handshake runs on the connection's thread under the same timeout, not
on the accepting thread. At most :data:`MAX_CONNECTIONS` are served at once. When a
new connection finds them all taken, the one idle longest (waiting for a request, its
headers or its handshake) is closed to make room, as nginx does with keep-alive
connections, so a flood of idle connections cannot lock out a probe or a scrape: the
newest connection is the last to go. Only when every one of them is busy serving a
request does a small probe lane (:data:`PROBE_LANE` connections, :data:`PROBE_TIMEOUT`
s each) answer ``/healthz`` and ``/readyz`` and tell everything else 503; past that
too, a connection is closed at once. Each case is counted.

Why our own ``http.server`` and not a kept server library such as uvicorn: uvicorn
(0.54) does TLS and keep-alive timeouts, but it sets no timeout on a connection that
never sends a request (``H11Protocol.connection_made``), and its ``limit_concurrency``
answers 503 to every request, ``/healthz`` included; both points of the issue would
still be our code, inside its protocol classes, plus an event loop and an ASGI adapter
beside the scheduler's threads. The standard library has the rest: ``ssl`` for TLS,
socket timeouts for idle connections, and a semaphore for the cap.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal

from prometheus_client import CONTENT_TYPE_LATEST

from monitor.httpauth import REALM, BasicAuth
from monitor.webconfig import WebConfig, server_ssl_context

log = logging.getLogger(__name__)

#: Returns (ready, reason) for /readyz.
Readiness = Callable[[], tuple[bool, str]]
#: Returns the /metrics body (text format 0.0.4).
MetricsPage = Callable[[], bytes]
#: Returns the status page as HTML.
StatusPage = Callable[[], str]

TEXT: Final = "text/plain; charset=utf-8"
HTML: Final = "text/html; charset=utf-8"
ALLOW: Final = "GET, HEAD"
#: The page is self-contained: inline styles, no scripts, no frames, no forms.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATUS_PATHS: Final = frozenset({"/", "/status"})
#: Open to anyone even with basic auth: kubelet and load balancers send no credentials.
PROBE_PATHS: Final = frozenset({"/healthz", "/readyz"})
#: Seconds a connection may stay silent (between requests, or before its first one).
IDLE_TIMEOUT: Final = 15.0
#: Connections served at once; more are turned to the probe lane.
MAX_CONNECTIONS: Final = 32
#: Connections over the cap still answered, for probes only, each for a short time.
PROBE_LANE: Final = 4
PROBE_TIMEOUT: Final = 2.0

#: Seconds the accepting thread waits for an evicted connection's slot to come free.
EVICT_WAIT: Final = 1.0

#: What the server reports to its listener (a metric counts each).
ServerEvent = Literal[
    "auth_missing",
    "auth_malformed",
    "auth_wrong",
    "tls_failed",
    "idle_closed",
    "over_capacity",
    "refused",
]
Listener = Callable[[ServerEvent], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.1 keeps connections alive (Prometheus reuses its connection); every
    # response carries Content-Length, which keep-alive needs.
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle's algorithm the body waits for
    # the client's delayed ACK (40 ms a request on a kept-alive connection, measured).
    disable_nagle_algorithm = True
    #: True on the probe lane: only /healthz and /readyz are answered.
    probes_only = False

    def setup(self) -> None:
        super().setup()
        # Every read waits at most this long: BaseHTTPRequestHandler closes on timeout.
        server = self.server
        self.connection.settimeout(
            server.probe_timeout if self.probes_only else server.idle_timeout
        )
        if isinstance(self.connection, ssl.SSLSocket):
            # Here, on this connection's thread and under its timeout: a client that
            # never finishes the handshake cannot hold the accepting thread.
            try:
                self.connection.do_handshake()
            except OSError:
                if not self.server.evicted(self.connection):  # counted as idle_closed
                    self.server.emit("tls_failed")
                raise

    def handle_one_request(self) -> None:
        self.server.mark(self.connection, idle=True)
        super().handle_one_request()

    def parse_request(self) -> bool:
        parsed = super().parse_request()  # reads the headers: still idle until they are in
        self.server.mark(self.connection, idle=False)
        return parsed

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _not_allowed(self) -> None:
        # Read-only: nothing on this server changes state (RFC 9110 §15.5.6 wants Allow).
        self._send(405, b"method not allowed\n", TEXT, extra={"Allow": ALLOW})

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _respond(self, *, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        if self.probes_only:
            self.close_connection = True
            if path not in PROBE_PATHS:
                self.server.emit("over_capacity")
                self._send(503, b"busy: too many connections\n", TEXT, head=head,
                           extra={"Retry-After": "5"})  # fmt: skip
                return
        if path not in PROBE_PATHS and not self._authorized(head=head):
            return
        if path == "/metrics":
            try:
                body = self.server.metrics_page()
            except Exception:  # a failing collector must not take the server down
                log.exception("rendering /metrics failed")
                self._send(500, b"metrics unavailable\n", TEXT, head=head)
                return
            self._send(200, body, CONTENT_TYPE_LATEST, head=head)
        elif path == "/healthz":
            self._send(200, b"ok\n", TEXT, head=head)
        elif path == "/readyz":
            try:
                ready, reason = self.server.readiness()
            except Exception:
                log.exception("answering /readyz failed")
                ready, reason = False, "readiness unknown; see the daemon's log"
            self._send(200 if ready else 503, (reason + "\n").encode(), TEXT, head=head)
        elif path in STATUS_PATHS and (page := self.server.status_page) is not None:
            self._status(page, head=head)
        else:
            self._send(404, b"not found\n", TEXT, head=head)

    def _authorized(self, *, head: bool) -> bool:
        auth = self.server.auth
        if auth is None:
            return True
        outcome = auth.check(self.headers.get("Authorization"))
        if outcome == "ok":
            return True
        self.server.emit(f"auth_{outcome}")  # type: ignore[arg-type]
        # The client's address and the kind of failure; never the user, password or hash.
        log.debug("basic auth failed (%s) from %s", outcome, self.address_string())
        self._send(401, b"unauthorized\n", TEXT, head=head, extra={"WWW-Authenticate": REALM})
        return False

    def _status(self, page: StatusPage, *, head: bool) -> None:
        try:
            body = page().encode("utf-8")
        except Exception:  # a failing page must not take the server down
            log.exception("rendering the status page failed")
            self._send(500, b"status page unavailable; see the daemon's log\n", TEXT, head=head)
            return
        csp = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
        self._send(200, body, HTML, head=head, extra=csp)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        head: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            # Said aloud, so a keep-alive client does not send its next request into a
            # connection we are about to close (the probe lane closes after one answer).
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _ProbeHandler(_Handler):
    probes_only = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    metrics_page: MetricsPage
    readiness: Readiness
    status_page: StatusPage | None
    auth: BasicAuth | None = None
    listener: Listener | None = None
    idle_timeout: float = IDLE_TIMEOUT
    probe_timeout: float = PROBE_TIMEOUT

    def __init__(self, address: tuple[str, int], max_connections: int, probe_lane: int) -> None:
        super().__init__(address, _Handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._probe_slots = threading.BoundedSemaphore(probe_lane)
        #: Served connections → when they went idle; None while a request is served.
        self._idle_since: dict[socket.socket, float | None] = {}
        self._evicted: set[socket.socket] = set()
        self._idle_lock = threading.Lock()

    def evicted(self, connection: socket.socket) -> bool:
        with self._idle_lock:
            return connection in self._evicted

    def mark(self, connection: socket.socket, *, idle: bool) -> None:
        with self._idle_lock:
            if connection in self._idle_since:
                self._idle_since[connection] = time.monotonic() if idle else None

    def _close_longest_idle(self) -> bool:
        with self._idle_lock:
            idle = [(since, id(c), c) for c, since in self._idle_since.items() if since is not None]
            if not idle:
                return False
            _, _, victim = min(idle)
            self._idle_since[victim] = None  # never picked twice
            self._evicted.add(victim)
        self.emit("idle_closed")
        with contextlib.suppress(OSError):  # its thread sees the end and frees the slot
            victim.shutdown(socket.SHUT_RDWR)
        return True

    def emit(self, event: ServerEvent) -> None:
        if self.listener is not None:
            try:
                self.listener(event)
            except Exception:  # a metric must not fail a request
                log.exception("counting the server event %s failed", event)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Replaces ThreadingMixIn's one-thread-per-connection without a bound.
        if self._slots.acquire(blocking=False) or (
            self._close_longest_idle() and self._slots.acquire(timeout=EVICT_WAIT)
        ):
            handler: type[_Handler] = _Handler
            slots = self._slots
            with self._idle_lock:  # idle until its handshake and first request are in
                self._idle_since[request] = time.monotonic()
        elif self._probe_slots.acquire(blocking=False):
            handler, slots = _ProbeHandler, self._probe_slots
        else:
            self.emit("refused")
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve, args=(request, client_address, handler, slots), daemon=True
        )
        thread.start()

    def _serve(
        self,
        request: socket.socket,
        client_address: Any,
        handler: type[_Handler],
        slots: threading.BoundedSemaphore,
    ) -> None:
        try:
            handler(request, client_address, self)
        except OSError as exc:  # TLS failures, timeouts, resets: the client's business
            log.debug("connection from %s ended: %s", client_address[0], exc)
        except Exception:
            log.exception("serving a connection from %s failed", client_address[0])
        finally:
            with self._idle_lock:
                self._idle_since.pop(request, None)
                self._evicted.discard(request)
            self.shutdown_request(request)
            slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr; ours go to the log.
        log.exception("serving a connection failed")


class MetricsServer:
    """Serves the status page, /metrics and probes on ``host:port`` from a thread.

    Args:
        host: the address to listen on.
        port: the port; 0 picks a free one (see :attr:`address`).
        metrics_page: returns the /metrics body (text format 0.0.4).
        readiness: answers ``/readyz``.
        status_page: renders ``/``; without it ``/`` is 404.
        web: TLS and basic auth (``TELEPATH_WEB_CONFIG``); None serves plain HTTP, open.
        listener: told of each failed login, failed handshake and turned-away connection.
        max_connections: connections served at once before the probe lane takes over.
        idle_timeout: seconds a connection may stay silent before it is closed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics_page: MetricsPage,
        readiness: Readiness,
        *,
        status_page: StatusPage | None = None,
        web: WebConfig | None = None,
        listener: Listener | None = None,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self._bind = (host, port)
        self._web = web
        self._listener = listener
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        self._metrics_page = metrics_page
        self._readiness = readiness
        self._status_page = status_page
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when 0 was asked for); after :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the metrics server is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def scheme(self) -> str:
        """``https`` with a TLS web config, else ``http``."""
        return "https" if self._web is not None and self._web.tls is not None else "http"

    def start(self) -> None:
        """Bind and serve from a background thread.

        Raises:
            WebConfigError: the TLS files named by the web config no longer load.
        """
        server = _Server(self._bind, self._max_connections, PROBE_LANE)
        server.metrics_page = self._metrics_page
        server.readiness = self._readiness
        server.status_page = self._status_page
        server.listener = self._listener
        server.idle_timeout = self._idle_timeout
        server.probe_timeout = min(PROBE_TIMEOUT, self._idle_timeout)
        web = self._web
        if web is not None:
            if web.tls is not None:
                try:
                    context = server_ssl_context(web.tls, web.path)
                except BaseException:
                    server.server_close()
                    raise
                server.socket = context.wrap_socket(
                    server.socket, server_side=True, do_handshake_on_connect=False
                )
            if web.users:
                server.auth = BasicAuth(web.users, time.monotonic)
        self._server = server
        # A short poll interval bounds how long stop() waits for the serving loop.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="metrics-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port; safe whether or not it was started."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
        self._server = None
