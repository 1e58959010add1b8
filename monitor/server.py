"""The daemon's HTTP server: the status page, ``/metrics``, ``/healthz`` and ``/readyz``.

``/healthz`` says the process is alive (for restarts); ``/readyz`` says the data is
fresh: the last sync succeeded recently and the key was accepted (for routing and
for "is the monitor itself working" alerts). ``/`` (also ``/status``) is the status
page for people (:mod:`monitor.status`).

Everything here only reads: GET and HEAD are served, any other method is answered
405. A failing page or collector answers 500, a failing readiness check 503 (not
ready); each failure is logged and the server goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST

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


class _Handler(BaseHTTPRequestHandler):
    server: _Server

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
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    metrics_page: MetricsPage
    readiness: Readiness
    status_page: StatusPage | None


class MetricsServer:
    """Serves the status page, /metrics and probes on ``host:port`` from a thread.

    Args:
        host: the address to listen on.
        port: the port; 0 picks a free one (see :attr:`address`).
        metrics_page: returns the /metrics body (text format 0.0.4).
        readiness: answers ``/readyz``.
        status_page: renders ``/``; without it ``/`` is 404.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics_page: MetricsPage,
        readiness: Readiness,
        *,
        status_page: StatusPage | None = None,
    ) -> None:
        self._bind = (host, port)
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

    def start(self) -> None:
        """Bind and serve from a background thread."""
        server = _Server(self._bind, _Handler)
        server.metrics_page = self._metrics_page
        server.readiness = self._readiness
        server.status_page = self._status_page
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
