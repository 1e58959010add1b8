"""The machinery of the end-to-end suite: a recording simulator, real daemon processes,
receivers, read-only looks into the state DB, and the secret witness.

Everything runs on the real clock: the daemon is a real ``python -m monitor run``
process, so waits are bounded polls of what it shows from outside (its log, /readyz,
the state DB, the receivers), each with a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from monitor.simulator import SimulatorOptions, SimulatorServer
from tests.support.receivers import Received, SlackReceiver, WebhookReceiver
from tests.support.waiting import wait_for

#: Distinctive secrets: any of them showing up where it should not is a leak.
API_KEY: Final = "sk_live_e2eApiKey4f7a1c9d2b6e"
WEBHOOK_SECRET: Final = "e2e-webhook-secret-9d3b7f21a0"
WEBHOOK_PATH: Final = "/hooks/e2e-webhook-path-c5a80e7f"
SLACK_TOKEN: Final = "xoxb-e2e-slack-token-61f0ab93"
SLACK_HOOK_PATH: Final = "/services/TE2E0000/BE2E0000/e2eSlackHookPath2b7d"
SECRETS: Final = {
    "API key": API_KEY,
    "webhook secret": WEBHOOK_SECRET,
    "webhook URL": WEBHOOK_PATH.rsplit("/", 1)[1],
    "Slack token": SLACK_TOKEN,
    "Slack webhook URL": SLACK_HOOK_PATH.rsplit("/", 1)[1],
}

_LISTENING = re.compile(r"serving /metrics, /healthz and /readyz on [^\s:]+:(\d+)")


# --- the API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiHit:
    """One request the simulator answered."""

    at: float  # monotonic seconds
    epoch: float  # Unix seconds, for the API's rate windows
    endpoint: str
    status: int  # 0: connection dropped without an answer
    natural_429: bool  # refused by the rate limit itself, not by an injected fault


class Api:
    """The Telepath simulator on the real clock, recording each request it answers.

    ``hooks`` are called with each :class:`ApiHit` before the answer goes out, so a
    test can act at an exact point of a sync (a kill after the k-th page).
    """

    def __init__(self, **options: Any) -> None:
        self.server = SimulatorServer(SimulatorOptions(api_key=API_KEY, **options))
        self.limit: int | None = self.server.options.rate_limit_per_minute
        self.hits: list[ApiHit] = []
        self.hooks: list[Callable[[ApiHit], None]] = []
        self._lock = threading.Lock()
        app = self.server._app  # the one seam the simulator has for a request log
        answer = app.handle

        def handle(method: str, target: str, authorization: str | None, body: bytes) -> Any:
            reply = answer(method, target, authorization, body)
            path = target.split("?", 1)[0]
            if path.startswith("/v1/"):
                natural = reply.status == 429 and b"RATE_LIMIT_EXCEEDED" in reply.body
                hit = ApiHit(time.monotonic(), time.time(), path[3:], reply.status, natural)
                with self._lock:
                    self.hits.append(hit)
                for hook in list(self.hooks):
                    hook(hit)
            return reply

        app.handle = handle  # type: ignore[method-assign]

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def set_faults(self, **changes: Any) -> None:
        """Change faults through the control endpoint, as an operator would."""
        response = httpx.put(
            self.url.removesuffix("/v1") + "/_sim/faults",
            json=changes,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=5,
        )
        response.raise_for_status()

    def snapshot(self) -> list[ApiHit]:
        with self._lock:
            return list(self.hits)

    def count(self, endpoint: str = "/calls") -> int:
        return sum(1 for h in self.snapshot() if h.endpoint == endpoint)

    def busiest_rate_window(self) -> int:
        """Most requests in one of the API's own rate windows (the clock minute)."""
        per = Counter(math.floor(h.epoch / 60) for h in self.snapshot())
        return max(per.values(), default=0)

    def busiest_60s(self, skip: int = 0) -> int:
        """Most requests in any sliding 60-second span (after the first ``skip``)."""
        times = sorted(h.at for h in self.snapshot()[skip:])
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - 60:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


# --- the daemon ----------------------------------------------------------------------------


class DaemonProcess:
    """One ``python -m monitor run``, its output going to a file (never a full pipe)."""

    def __init__(self, workdir: Path, env: dict[str, str], index: int) -> None:
        self.log = workdir / f"daemon-{index}.log"
        self._env = env
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run"],
            env=env,
            cwd=workdir,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self._port: int | None = None
        self.scrapes: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def port(self, timeout: float = 30) -> int:
        if self._port is None:

            def listening() -> int | None:
                if not self.alive:
                    raise RuntimeError(f"daemon exited early:\n{self.output()[-3000:]}")
                match = _LISTENING.search(self.output())
                return int(match.group(1)) if match else None

            self._port = wait_for(listening, "metrics server", timeout)
        return self._port

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port()}{path}", timeout=5)

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            try:
                return self.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, "ready daemon", timeout)

    def scrape(self) -> str:
        """/metrics, kept for the secret witness."""
        text = self.get("/metrics").text
        self.scrapes.append(text)
        return text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` matching ``labels`` in a fresh scrape."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.scrape()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
        return total

    def hup(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for a clean exit (SIGKILL past the deadline)."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._out.close()
        return code

    def rss_kib(self) -> int | None:
        """VmRSS of the process, from /proc."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) if match else None


# --- the run of one scenario ---------------------------------------------------------------


@dataclass
class Scenario:
    """Everything one scenario starts; :meth:`close` stops it all, bounded."""

    workdir: Path
    log_level: str = "INFO"
    log_format: str = "text"
    api: Api | None = None
    hook: WebhookReceiver | None = None
    slack: SlackReceiver | None = None
    daemons: list[DaemonProcess] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Further text the daemon sent somewhere (receivers a test starts itself).
    extra_exposures: list[str] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.workdir / "state.db"

    @property
    def config(self) -> Path:
        return self.workdir / "alerts.yaml"

    def start_api(self, **options: Any) -> Api:
        self.api = Api(**options)
        self.api.start()
        return self.api

    def start_receivers(self) -> tuple[WebhookReceiver, SlackReceiver]:
        self.hook = WebhookReceiver()
        self.hook.start()
        self.slack = SlackReceiver(token=SLACK_TOKEN)
        self.slack.start()
        return self.hook, self.slack

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("TELEPATH_")}
        assert self.api is not None
        env = {
            **base,
            "TELEPATH_API_KEY": API_KEY,
            "TELEPATH_API_URL": self.api.url,
            "TELEPATH_CONFIG": str(self.config),
            "TELEPATH_STATE_DB": str(self.db),
            "TELEPATH_LISTEN": "127.0.0.1:0",
            "TELEPATH_LOG_LEVEL": self.log_level,
            "TELEPATH_LOG_FORMAT": self.log_format,
        }
        if self.hook is not None:
            env["E2E_WEBHOOK_URL"] = self.hook.url + WEBHOOK_PATH
            env["E2E_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        if self.slack is not None:
            env["E2E_SLACK_TOKEN"] = SLACK_TOKEN
            env["E2E_SLACK_API"] = self.slack.api_url
            env["E2E_SLACK_HOOK_URL"] = self.slack.url + SLACK_HOOK_PATH
        return {**env, **self.extra_env}

    def write_config(self, text: str) -> None:
        """Replace the config file in one step (the daemon also watches its mtime)."""
        staged = self.config.with_suffix(".tmp")
        staged.write_text(text)
        staged.replace(self.config)

    def daemon(self) -> DaemonProcess:
        process = DaemonProcess(self.workdir, self.env(), len(self.daemons) + 1)
        self.daemons.append(process)
        return process

    def close(self) -> None:
        for process in self.daemons:
            if process.alive:
                process.kill()
            elif not process._out.closed:
                process._out.close()
        for server in (self.hook, self.slack, self.api):
            if server is not None:
                server.stop()

    # --- what the secret witness reads ---

    def exposures(self) -> Iterator[tuple[str, str]]:
        """(where, text) of everything the daemon showed to anyone but the secret's owner."""
        for process in self.daemons:
            yield f"{process.log.name}", process.output()
            for n, text in enumerate(process.scrapes):
                yield f"{process.log.name} /metrics scrape {n + 1}", text
        for n, text in enumerate(self.extra_exposures):
            yield f"other receiver request {n + 1}", text
        for receiver in (self.hook, self.slack):
            if receiver is None:
                continue
            for n, request in enumerate(receiver.requests):
                headers = dict(request.headers)
                if request.path.startswith("/api/"):
                    headers.pop("authorization", None)  # Slack's Web API must get the token
                where = f"{receiver.name} request {n + 1}"
                yield where, json.dumps(headers) + "\n" + request.body.decode(errors="replace")

    def leaks(self) -> list[str]:
        """Every (place, secret) where a secret shows; empty when none does."""
        found = []
        for where, text in self.exposures():
            for name, value in SECRETS.items():
                if value in text:
                    found.append(f"{name} in {where}")
        return found

    def places_checked(self) -> int:
        return sum(1 for _ in self.exposures())


# --- the state DB, read-only ---------------------------------------------------------------


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` from the daemon's state DB without disturbing it; [] before it exists."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def outbox(db: Path) -> list[tuple[str, str, str, str, int]]:
    """(id, notifier, event, status, attempts) of every outbox entry, in order."""
    rows = query(db, "SELECT id, notifier, event, status, attempts FROM outbox ORDER BY seq")
    return [(str(a), str(b), str(c), str(d), int(e)) for a, b, c, d, e in rows]


def stored_call_ids(db: Path) -> set[str]:
    return {str(row[0]) for row in query(db, "SELECT id FROM calls")}


# --- what the receivers got ----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook POST as received."""

    webhook_id: str
    event: str
    alert_id: str
    rule: str
    signed_ok: bool


def webhook_deliveries(hook: WebhookReceiver, path: str = WEBHOOK_PATH) -> list[Delivery]:
    """The POSTs to ``path`` that carried an alert (2xx-answered or not)."""
    found = []
    for request in hook.requests:
        if request.method != "POST" or request.path != path:
            continue
        body = request.json()
        found.append(
            Delivery(
                request.headers["webhook-id"],
                str(body["event"]),
                str(body["alert"]["id"]),
                str(body["alert"]["rule"]),
                _signed_ok(request),
            )
        )
    return found


def _signed_ok(request: Received) -> bool:
    """Standard Webhooks signature check against the configured secret."""
    headers = request.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request.body
    digest = hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    return hmac.compare_digest(headers.get("webhook-signature", ""), expected)


def slack_events(slack: SlackReceiver) -> list[tuple[str, str]]:
    """(source, first line of text) of every Slack message, top level and threaded."""
    with_threads = list(slack.messages)
    for message in slack.messages:
        with_threads += slack.replies(message.ts)
    return [(m.source, (m.text or "").splitlines()[0] if m.text else "") for m in with_threads]
