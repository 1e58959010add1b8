"""`telepath-monitor demo`: the alert fires and resolves in about three minutes, and the
command starts and stops cleanly."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitor.clock import ManualClock
from monitor.demo import INCIDENT_AT, build_demo
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_the_demo_alert_fires_and_resolves_within_about_three_minutes(clock: ManualClock) -> None:
    """On the demo's own timeline, conn_sim02 fires after the spike and resolves by 3.5 min."""
    console = io.StringIO()
    demo = build_demo(listen="127.0.0.1:0", clock=clock, console=console)
    start = clock.now()
    seen: dict[str, float] = {}
    try:
        while clock.now() - start < timedelta(minutes=4):
            demo.daemon.poll_calls()
            demo.daemon.delivery.deliver_due("terminal")
            for word in ("FIRING", "RESOLVED"):
                if word in console.getvalue() and word not in seen:
                    seen[word] = (clock.now() - start).total_seconds()
            clock.advance(10)
    finally:
        demo.stop()
    text = console.getvalue()
    assert INCIDENT_AT.total_seconds() < seen["FIRING"] <= 120
    assert seen["FIRING"] < seen["RESOLVED"] <= 210
    assert set(re.findall(r"trunk (conn_sim\d+)", text)) == {"conn_sim02"}
    assert not Path(demo.workdir.name).exists()


def test_the_demo_command_serves_metrics_and_stops_on_ctrl_c(tmp_path):
    """The banner says where to look, /metrics answers, Ctrl-C (SIGINT) ends it cleanly."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "demo", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().decode() for _ in range(3)]
        match = re.search(r"(http://127\.0\.0\.1:\d+)/metrics", lines[2])
        assert match, lines

        def scraped() -> httpx.Response | None:
            metrics = httpx.get(f"{match[1]}/metrics", timeout=2)
            return metrics if "telepath_window_calls{" in metrics.text else None

        metrics = wait_for(scraped, "window gauges on /metrics", timeout=20, interval=0.2)
        assert metrics.status_code == 200
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert b"demo stopped" in output
    assert b"Traceback" not in output
