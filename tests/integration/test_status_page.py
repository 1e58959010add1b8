"""The status page of a running daemon with a firing alert, in a real headless browser.

The daemon syncs the simulator's ai-spike scenario on a manual clock until conn_sim02
fires, then serves its HTTP server on 127.0.0.1 (the scheduler is never started). The
page is fetched with httpx and loaded by Debian's ``chromium`` in headless mode, which
saves screenshots under ``$TELEPATH_TEST_ARTIFACTS`` (else the test's tmp_path).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitor.clock import ManualClock
from monitor.daemon import Daemon
from monitor.simulator import SimulatorServer
from tests.support.daemon import SPIKE_RULE
from tests.support.daemon import make_daemon as build_daemon

pytestmark = pytest.mark.integration

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_TEXT = "&lt;img src=x onerror=alert(1)&gt;"
HOSTILE_PATH = "/calls/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
KEY = ("ai-latency-p95", "conn_sim02")
#: Bounds one browser run; a headless page load takes a couple of seconds.
BROWSER_TIMEOUT = 60

CONFIG = (
    """
links:
  call: https://dash.example/calls/{call_id}
poll:
  calls_every: 30s
defaults:
  for: 2m
rules:
"""
    + SPIKE_RULE
)


def make_daemon(tmp_path: Path, url: str, clock: ManualClock) -> Daemon:
    """A daemon on the simulator at ``url``, serving on 127.0.0.1:0 once started."""
    return build_daemon(tmp_path, url, clock, CONFIG)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $TELEPATH_TEST_ARTIFACTS when set, else the test's tmp_path."""
    configured = os.environ.get("TELEPATH_TEST_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def firing_daemon(
    tmp_path: Path, simulator: Callable[..., SimulatorServer], clock: ManualClock
) -> Iterator[tuple[Daemon, str]]:
    """A daemon whose ai-latency-p95 alert fires for conn_sim02, serving on 127.0.0.1:0."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=8))
    daemon = make_daemon(tmp_path, server.url, clock)
    try:
        for _ in range(16):  # eight minutes of polls; it fires about three minutes in
            daemon.poll_calls()
            state = daemon.state(*KEY)
            if state is not None and state.state == "firing":
                break
            clock.advance(30)
        state = daemon.state(*KEY)
        assert state is not None
        assert state.state == "firing"
        daemon.server.start()
        host, port = daemon.server.address
        yield daemon, f"http://{host}:{port}"
    finally:
        daemon.stop()


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run headless chromium once with a throwaway profile; fail clearly if it is missing."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed; `make tools` installs it (Debian package chromium)")
    profile = tmp_path / "chromium-profile"
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # tests often run as root in containers, where the sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def screenshot(url: str, path: Path, size: tuple[int, int], tmp_path: Path) -> tuple[int, int]:
    """Save a screenshot of ``url`` at ``size``; returns the PNG's width and height."""
    chromium(f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url, tmp_path=tmp_path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_page_of_a_firing_daemon_shows_the_alert_and_its_call_links(firing_daemon):
    """GET / names the firing rule, the trunk and links each worst call to the dashboard."""
    daemon, base = firing_daemon
    worst = daemon.latest[KEY].offending
    response = httpx.get(base + "/", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "AI agent answers slowly" in page
    assert "trunk conn_sim02" in page
    assert 'class="banner' in page
    assert worst
    for call in worst:
        assert f'href="https://dash.example/calls/{call.id}"' in page


def test_chromium_renders_the_firing_alert_and_saves_screenshots(
    firing_daemon, artifacts, tmp_path
):
    """Headless chromium shows the alert with call links; phone and desktop screenshots saved."""
    daemon, base = firing_daemon
    worst = daemon.latest[KEY].offending
    dom = chromium("--dump-dom", base + "/", tmp_path=tmp_path).stdout
    assert "AI agent answers slowly" in dom
    assert "conn_sim02" in dom
    assert f'<a class="call" href="https://dash.example/calls/{worst[0].id}"' in dom

    phone = artifacts / "status-page-phone.png"
    desktop = artifacts / "status-page-desktop.png"
    assert screenshot(base + "/", phone, (390, 1200), tmp_path) == (390, 1200)
    assert screenshot(base + "/", desktop, (1280, 900), tmp_path) == (1280, 900)
    # A blank page compresses to a few kilobytes; a rendered one is far larger.
    assert phone.stat().st_size > 20_000
    assert desktop.stat().st_size > 20_000


def test_a_hostile_call_id_from_the_api_renders_as_text_in_the_browser(
    firing_daemon, artifacts, tmp_path
):
    """A call id carrying markup makes no element in chromium's DOM; it shows as text."""
    daemon, base = firing_daemon
    observation = daemon.latest[KEY]
    hostile = replace(observation.offending[0], id=HOSTILE)
    daemon.latest[KEY] = replace(observation, offending=(hostile, *observation.offending[1:]))

    dom = chromium("--dump-dom", base + "/", tmp_path=tmp_path).stdout
    assert "<img" not in dom
    assert "onerror=alert(1)>" not in dom
    assert HOSTILE_TEXT in dom
    assert f'href="https://dash.example{HOSTILE_PATH}"' in dom
    screenshot(base + "/", artifacts / "status-page-hostile.png", (390, 1200), tmp_path)
