"""A real Prometheus Alertmanager on loopback, for tests of the Alertmanager notifier.

The binary comes from Debian's ``prometheus-alertmanager`` package (``make tools``);
tests fail, not skip, without it. The process listens on 127.0.0.1 only and routes every
alert to one webhook receiver with ``send_resolved`` and 1 s group timings, so a test
sees the firing and then the resolved notification within seconds. Clustering is off
unless asked for (``cluster=True``): then it gossips on a loopback port of its own, joins
``peers``, and uses short gossip timings so a two-node cluster forms in a few seconds.
Its output goes to a log file in ``workdir``; failures quote its tail.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

import httpx
import pytest
import yaml

from tests.support.waiting import wait_for

BINARIES: Final = ("prometheus-alertmanager", "alertmanager")
#: Longest ``start()`` waits for ``/-/ready``.
READY_TIMEOUT: Final = 20.0
#: Longest ``stop()`` waits after SIGTERM, and again after SIGKILL.
STOP_TIMEOUT: Final = 5.0
#: Pause between readiness or alert checks, spent waiting on the process so an exit ends it.
POLL_INTERVAL: Final = 0.05
RECEIVER_NAME: Final = "telepath-monitor-test"
_BIND_ATTEMPTS: Final = 3


class AlertmanagerError(RuntimeError):
    """Alertmanager did not start, exited, or did not reach the state a test waited for."""


def find_binary() -> str:
    """Path of the Alertmanager binary; fails the test with the fix when it is missing."""
    for name in BINARIES:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail(
        "Alertmanager is not installed (neither prometheus-alertmanager nor alertmanager "
        "is on PATH); `make tools` installs Debian's prometheus-alertmanager",
        pytrace=False,
    )


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (``start()`` retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AlertmanagerProcess:
    """One Alertmanager process sending every notification to ``webhook_url``."""

    def __init__(
        self,
        workdir: Path,
        webhook_url: str,
        *,
        group_wait: str = "1s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
        ready_timeout: float = READY_TIMEOUT,
        cluster: bool = False,
        peers: Sequence[str] = (),
        peer_timeout: str = "2s",
    ) -> None:
        self.workdir = workdir
        self.webhook_url = webhook_url
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.ready_timeout = ready_timeout
        self.cluster = cluster
        self.peers = tuple(peers)
        #: How long the node at position n of the cluster waits (n times) before it
        #: notifies, so the gossip can tell it another node already did.
        self.peer_timeout = peer_timeout
        self.config_path = workdir / "alertmanager.yml"
        self.log_path = workdir / "alertmanager.log"
        self.storage_path = workdir / "alertmanager-data"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._http: httpx.Client | None = None
        self._port = 0
        self._cluster_port = 0

    # -- lifecycle ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The configuration written to ``config_path``."""
        return {
            "route": {
                "receiver": RECEIVER_NAME,
                "group_by": ["..."],  # every label set its own group: one delivery per alert
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [
                {
                    "name": RECEIVER_NAME,
                    "webhook_configs": [{"url": self.webhook_url, "send_resolved": True}],
                }
            ],
        }

    def command(self, port: int) -> list[str]:
        """The command line for a process listening on ``127.0.0.1:port``."""
        return [
            find_binary(),
            f"--config.file={self.config_path}",
            f"--storage.path={self.storage_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}",
            *self._cluster_flags(),
            "--log.level=debug",  # the tail in failure messages shows each flush and notify
        ]

    def _cluster_flags(self) -> list[str]:
        if not self.cluster:
            return ["--cluster.listen-address="]  # empty: no HA gossip, no 0.0.0.0:9094
        address = f"127.0.0.1:{self._cluster_port}"
        return [
            f"--cluster.listen-address={address}",
            f"--cluster.advertise-address={address}",
            *(f"--cluster.peer={peer}" for peer in self.peers),
            f"--cluster.peer-timeout={self.peer_timeout}",
            "--cluster.gossip-interval=50ms",
            "--cluster.pushpull-interval=1s",
            "--cluster.probe-interval=200ms",
            "--cluster.probe-timeout=100ms",
            "--cluster.settle-timeout=5s",
            "--cluster.reconnect-interval=1s",
        ]

    def start(self) -> None:
        """Start Alertmanager and wait (up to ``ready_timeout``) until ``/-/ready`` is 200."""
        if self._process is not None:
            raise AlertmanagerError("alertmanager already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_path.mkdir(exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            try:
                self._spawn(free_port())
                return
            except AlertmanagerError:
                # Another process took the free port between our probe and the bind: retry.
                if attempt == _BIND_ATTEMPTS or "address already in use" not in self.log_tail():
                    self.stop()
                    raise
                self.stop()

    def _spawn(self, port: int) -> None:
        self._port = port
        self._cluster_port = free_port() if self.cluster else 0
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self.command(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._http = httpx.Client(base_url=self.url, timeout=5.0, trust_env=False)

        def ready() -> bool:
            try:
                return self._client().get("/-/ready").status_code == 200
            except httpx.TransportError:
                return False

        self._wait(ready, self.ready_timeout, "to become ready")

    def stop(self) -> None:
        """Terminate, kill if it lingers past ``STOP_TIMEOUT``, release files; idempotent."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
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
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._port == 0:
            raise AlertmanagerError("alertmanager not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def cluster_address(self) -> str:
        """Gossip address to give other nodes as a peer, e.g. ``127.0.0.1:40124``."""
        if self._cluster_port == 0:
            raise AlertmanagerError("alertmanager not started in cluster mode")
        return f"127.0.0.1:{self._cluster_port}"

    # -- API ---------------------------------------------------------------------------

    def cluster_peers(self) -> list[str]:
        """Gossip addresses of the cluster members this node sees, itself included."""
        response = self._client().get("/api/v2/status")
        response.raise_for_status()
        peers = response.json().get("cluster", {}).get("peers") or []
        return sorted(str(peer["address"]) for peer in peers)

    def wait_for_peers(self, count: int, *, timeout: float = 15.0) -> list[str]:
        """Wait until this node sees ``count`` members (itself included)."""
        seen: list[str] = []

        def joined() -> bool:
            seen[:] = self.cluster_peers()
            return len(seen) == count

        self._wait(joined, timeout, f"to see {count} cluster members")
        return seen

    def post_alerts(self, alerts: Iterable[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``, as Prometheus or our notifier would."""
        response = self._client().post("/api/v2/alerts", json=list(alerts))
        if response.status_code != 200:
            raise AlertmanagerError(
                f"POST /api/v2/alerts answered {response.status_code}: {response.text}"
            )

    def alerts(self, active: bool = True) -> list[dict[str, Any]]:
        """Alerts from ``GET /api/v2/alerts``: only active ones by default, else every
        unresolved one (suppressed and unprocessed too). Resolved alerts never show."""
        response = self._client().get("/api/v2/alerts")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        if active:
            return [a for a in found if a.get("status", {}).get("state") == "active"]
        return found

    def wait_for_alert(
        self, labels: Mapping[str, str], *, active: bool = True, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until an alert carrying ``labels`` is listed (active, by default)."""
        found: list[dict[str, Any]] = []

        def listed() -> bool:
            found[:] = [
                alert
                for alert in self.alerts(active=active)
                if all(alert.get("labels", {}).get(k) == v for k, v in labels.items())
            ]
            return bool(found)

        self._wait(listed, timeout, f"to list an alert with labels {dict(labels)}")
        return found[0]

    def log_tail(self, lines: int = 30) -> str:
        """The last lines Alertmanager wrote."""
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- helpers -----------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise AlertmanagerError("alertmanager not started")
        return self._http

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Check ``condition`` until true, pausing on the process (an exit ends the wait)."""
        process = self._process
        if process is None:
            raise AlertmanagerError("alertmanager not started")

        def pause(seconds: float) -> None:
            try:
                code = process.wait(seconds)
            except subprocess.TimeoutExpired:
                return
            raise AlertmanagerError(
                f"alertmanager exited with status {code} while waiting {what}; "
                f"log tail:\n{self.log_tail()}"
            )

        try:
            wait_for(condition, what, timeout, interval=POLL_INTERVAL, pause=pause)
        except TimeoutError:
            raise AlertmanagerError(
                f"alertmanager failed {what} within {timeout}s; log tail:\n{self.log_tail()}"
            ) from None
