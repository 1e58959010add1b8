"""The HTTP server's locks: bcrypt, TLS, keep-alive, and 200 idle connections.

Prints figures, asserts nothing. What a scrape costs with TELEPATH_WEB_CONFIG (TLS and
basic auth) against plain HTTP, what bcrypt costs per login and what the cache of good
logins saves, and what 200 idle connections hold (issue 19 found 207 threads).

    .venv/bin/python bench/bench_server.py [--quick]
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import bcrypt
import httpx

# The repository root too: the certificates come from tests/support/tls.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import machine

from monitor.httpauth import BasicAuth
from monitor.server import MAX_CONNECTIONS, PROBE_LANE, MetricsServer
from monitor.webconfig import load_web_config
from tests.support.tls import make_certs

BODY = b"x_total 1.0\n" * 2000  # a 24 kB page: the request, not the rendering, is measured


def median_ms(action: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def requests_per_second(client: httpx.Client, url: str, n: int, **kwargs: object) -> float:
    client.get(url, **kwargs)  # type: ignore[arg-type]  # connect (and handshake) first
    started = time.perf_counter()
    for _ in range(n):
        client.get(url, **kwargs).raise_for_status()  # type: ignore[arg-type]
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    n = 50 if quick else 500
    print(machine())
    for cost in (10, 12):
        hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(cost))
        ms = median_ms(lambda h=hashed: bcrypt.checkpw(b"pw", h), 3 if quick else 9)
        print(f"bcrypt.checkpw, cost {cost}: {ms:.0f} ms per login (median)")
    auth = BasicAuth({"p": bcrypt.hashpw(b"pw", bcrypt.gensalt(12))}, time.monotonic)
    header = "Basic cDpwdw=="  # p:pw
    auth.check(header)
    ms = median_ms(lambda: auth.check(header), 1000)
    print(f"BasicAuth.check, a remembered good login: {ms * 1000:.1f} µs")

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        certs = make_certs(directory)
        user_hash = bcrypt.hashpw(b"pw", bcrypt.gensalt(12)).decode()
        (directory / "web.yml").write_text(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            f"basic_auth_users:\n  p: {user_hash}\n"
        )
        web = load_web_config(directory / "web.yml")
        verify = ssl.create_default_context(cafile=str(certs.ca))
        for label, config in (("plain HTTP", None), ("TLS + basic auth", web)):
            server = MetricsServer("127.0.0.1", 0, lambda: BODY, lambda: (True, "ok"), web=config)
            server.start()
            host, port = server.address
            url = f"{server.scheme}://{host}:{port}/metrics"
            try:
                with httpx.Client(verify=verify, timeout=10) as client:
                    rate = requests_per_second(client, url, n, auth=("p", "pw"))
                print(f"/metrics ({len(BODY) // 1000} kB), {label}, one keep-alive connection: "
                      f"{rate:,.0f} requests/s")  # fmt: skip
                if config is not None:
                    continue
                before = threading.active_count()
                idle = [socket.create_connection((host, port)) for _ in range(200)]
                time.sleep(0.5)
                held = threading.active_count() - before
                started = time.perf_counter()
                status = httpx.get(f"http://{host}:{port}/healthz", timeout=10).status_code
                took = (time.perf_counter() - started) * 1000
                print(f"200 idle connections: {held} threads held (cap {MAX_CONNECTIONS}, "
                      f"+{PROBE_LANE} probe lane); /healthz: {status}, {took:.0f} ms")  # fmt: skip
                for sock in idle:
                    sock.close()
            finally:
                server.stop()


if __name__ == "__main__":
    main()
