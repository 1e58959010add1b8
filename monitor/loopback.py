"""A threaded HTTP server that can be stopped within a bound: the simulator's and the
test receivers' shared base.

``ThreadingHTTPServer`` alone cannot stop promptly: idle keep-alive connections keep
their threads blocked in ``recv``. This server tracks every connection and its thread,
so :meth:`TrackedHTTPServer.stop` can shut the sockets down and join the threads with a
deadline. It binds without resolving a host name (``HTTPServer.server_bind`` looks up
a FQDN, which can block on DNS).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["TrackedHTTPServer"]

log = logging.getLogger(__name__)


class TrackedHTTPServer(ThreadingHTTPServer):
    """One daemon thread per connection, all of them known until they end."""

    daemon_threads = True
    block_on_close = False  # stop() joins with a timeout, never unbounded
    #: Names connection threads and log lines.
    name = "loopback"

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._active: dict[socket.socket, threading.Thread] = {}
        self._active_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"{self.name}-conn",
            daemon=True,
        )
        with self._active_lock:
            self._active[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("%s connection error", self.name, exc_info=True)

    def stop(self, serving: threading.Thread, timeout: float) -> None:
        """Stop ``serve_forever`` (run by ``serving``), shut every open connection down
        (idle keep-alive ones too), release the socket, and join, within ``timeout``."""
        deadline = time.monotonic() + timeout
        self.shutdown()  # returns within one poll interval of serve_forever
        with self._active_lock:
            active = list(self._active.items())
        for sock, _ in active:
            with contextlib.suppress(OSError):  # already closed by its handler
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in active:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.server_close()
        serving.join(max(0.0, deadline - time.monotonic()))
