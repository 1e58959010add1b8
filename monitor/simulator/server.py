"""The loopback HTTP server around :class:`~monitor.simulator.api.SimulatorApp`.

Standard library only: a ``ThreadingHTTPServer`` (one daemon thread per connection,
HTTP/1.1 keep-alive) serving in a background thread. ``stop()`` is bounded: it stops
accepting, wakes responses sleeping for a slow fault, shuts down open connections
(idle keep-alive ones included) and joins every thread with a timeout.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Final

from monitor.clock import Clock, SystemClock
from monitor.loopback import TrackedHTTPServer
from monitor.models import Call
from monitor.simulator.api import SimulatorApp
from monitor.simulator.options import FaultOptions, SimulatorOptions

logger = logging.getLogger("monitor.simulator")

#: Longest ``stop()`` waits for request threads before giving up on them.
STOP_TIMEOUT: Final = 2.0
_MAX_BODY: Final = 64 * 1024


class _HTTPServer(TrackedHTTPServer):
    """The tracked server, carrying the app and the "stopping" flag slow faults watch."""

    name = "telepath-simulator"
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], app: SimulatorApp) -> None:
        self.app = app
        self.stopping = threading.Event()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "telepath-simulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after a minute
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.app.handle(
            self.command, self.path, self.headers.get("Authorization"), body
        )
        if reply.delay > 0 and self.server.stopping.wait(reply.delay):
            self.close_connection = True  # shutting down: no point answering
            return
        if reply.reset or self.server.stopping.is_set():
            # Linger 0: close with a TCP reset instead of an orderly FIN where the OS allows.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds no secret: the key travels only in the Authorization header.
        logger.debug("simulator %s - %s", self.address_string(), format % args)


class SimulatorServer:
    """A Telepath-compatible API on loopback, for demos, integration tests and benchmarks.

    The scenario's start is ``clock.now()`` at construction; pass a ``ManualClock`` to
    drive time (calls become visible, rate windows reset) from a test.
    """

    def __init__(self, options: SimulatorOptions, clock: Clock | None = None) -> None:
        self.options = options
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._started_at = self._clock.now()
        self._app = SimulatorApp(options, self._clock, self._started_at)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve in a background thread; returns once the socket is listening."""
        if self._httpd is not None:
            raise RuntimeError("simulator already started")
        httpd = _HTTPServer((self.options.host, self.options.port), self._app)
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="telepath-simulator",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        logger.info("simulator serving %s (scenario %s)", self.url, self.options.scenario)

    def stop(self) -> None:
        """Stop serving and release the socket, within about ``STOP_TIMEOUT``; idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None or httpd.stopping.is_set():
            return
        httpd.stopping.set()
        httpd.stop(thread, STOP_TIMEOUT)
        logger.info("simulator stopped")

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:40123/v1``."""
        if self._httpd is None:
            raise RuntimeError("simulator not started")
        host, port = self._httpd.server_address[:2]
        host = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{host}:{port}/v1"

    @property
    def started_at(self) -> datetime:
        """When the scenario's timeline starts (the clock at construction)."""
        return self._started_at

    @property
    def incident(self) -> tuple[datetime, datetime] | None:
        """Start and end of the scenario's incident, or None for ``steady``."""
        timeline = self._app.timeline
        if not timeline.has_incident:
            return None
        return timeline.incident_start, timeline.incident_end

    @property
    def faults(self) -> FaultOptions:
        """The live fault options; assign fields to change what the next requests meet."""
        return self._app.faults

    def set_faults(self, **changes: Any) -> None:
        """Change several fault options at once, validated, under the server's lock."""
        self._app.update_faults(changes)

    @property
    def request_counts(self) -> Counter[str]:
        """A snapshot of requests served per endpoint template, failures included."""
        with self._app.lock:
            return Counter(self._app.request_counts)

    def reset_request_counts(self) -> None:
        """Forget the requests counted so far."""
        with self._app.lock:
            self._app.request_counts.clear()

    def visible_calls(self, now: datetime | None = None) -> list[Call]:
        """Every call a perfect client walking ``/calls`` would get at ``now``, in order.

        Sorted by start_time then id; before any fault injection.
        """
        moment = self._clock.now() if now is None else now
        return [c.to_call() for c in self._app.timeline.visible(moment)]
