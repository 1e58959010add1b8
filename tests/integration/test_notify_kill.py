"""kill -9 between queueing and delivery: the real `run` process, the simulator, a receiver.

The webhook receiver is down while the first daemon fires an alert, so the notification
is queued (and its first attempt fails); the daemon is then killed with SIGKILL. A
second daemon, with the receiver back, delivers it exactly once, with the id it was
queued under, and does not fire the alert again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.simulator import DEFAULT_API_KEY, SimulatorOptions, SimulatorServer
from tests.support.receivers import WebhookReceiver
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "an-unguessable-signing-secret"
CONFIG = """
notifiers:
  ops:
    type: webhook
    url: {url}/alerts
    secret: {secret}
defaults:
  for: 0s
  notify: [ops]
rules:
  - name: any-calls
    summary: Calls are flowing (fires at once)
    metric: call_count
    per: account
    window: 10m
    warning: 0
"""


def outbox(db: Path) -> list[tuple[str, str, int]]:
    """(id, status, attempts) of every outbox entry, read without disturbing the daemon."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT id, status, attempts FROM outbox ORDER BY seq").fetchall()
    except sqlite3.OperationalError:  # the daemon has not created the table yet
        return []
    return [(str(i), str(s), int(a)) for i, s, a in rows]


def test_a_notification_queued_before_a_kill_is_delivered_once_after_restart(tmp_path):
    """SIGKILL after queueing, before delivery: the restarted daemon delivers it once."""
    hook = WebhookReceiver()
    hook.start()
    hook.stop()  # down, on a known port
    config = tmp_path / "alerts.yaml"
    config.write_text(CONFIG.format(url=hook.url, secret=SECRET))
    db = tmp_path / "state.db"
    with SimulatorServer(SimulatorOptions(history=timedelta(minutes=20))) as server:
        env = {
            **os.environ,
            "TELEPATH_API_KEY": DEFAULT_API_KEY,
            "TELEPATH_API_URL": server.url,
            "TELEPATH_CONFIG": str(config),
            "TELEPATH_STATE_DB": str(db),
            "TELEPATH_LISTEN": "127.0.0.1:0",
        }

        def daemon() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "monitor", "run"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )

        first = daemon()
        try:
            queued = wait_for(
                lambda: [e for e in outbox(db) if e[1] == "pending" and e[2] >= 1] or None,
                "failed first attempt",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first_output, _ = first.communicate(timeout=10)
        assert first.returncode == -signal.SIGKILL

        hook.start()
        second = daemon()
        try:
            (request,) = hook.wait_for(1, timeout=30)
            wait_for(lambda: all(e[1] == "delivered" for e in outbox(db)) or None, "delivery")
            second.send_signal(signal.SIGTERM)
            second_output, _ = second.communicate(timeout=30)
        finally:
            if second.poll() is None:
                second.kill()
                second.communicate()
            hook.stop()
    assert second.returncode == 0
    assert [e[0] for e in queued] == [request.headers["webhook-id"]]
    assert len(hook.requests) == 1
    assert [e[1] for e in outbox(db)] == ["delivered"]
    output = first_output + second_output
    for secret in (SECRET, DEFAULT_API_KEY):
        assert secret.encode() not in output
    assert b"connection failed" in first_output
