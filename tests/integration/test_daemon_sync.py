"""The daemon's sync figures on /metrics: calls in progress, late calls, ignored headers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.clock import ManualClock
from monitor.simulator import SimulatorServer
from monitor.telepath.client import HeaderIgnored
from tests.integration.test_daemon import make_daemon, scrape

pytestmark = pytest.mark.integration


def test_calls_in_progress_and_late_calls_are_exported(
    tmp_path: Path, simulator: Callable[..., SimulatorServer], clock: ManualClock
) -> None:
    """Listed from their start, some calls are always going: exported, not ingested."""
    server = simulator(list_in_progress=True, calls_per_minute=120)
    daemon = make_daemon(tmp_path, server.url, clock)
    daemon.server.start()
    try:
        daemon.poll_calls()
        clock.advance(30)
        daemon.poll_calls()
        daemon.metrics.on_client_event(HeaderIgnored("/calls", "x-ratelimit-reset"))
        got = scrape(daemon)
        stored = {c.id for c in daemon.store.load_calls()}
    finally:
        daemon.stop()
    going = got[("telepath_calls_in_progress", ())]
    assert going > 0
    final = {c.id for c in server.visible_calls()}
    assert stored
    assert stored <= final  # nothing in progress was stored
    assert got[("telepath_monitor_late_calls_total", ())] == 0
    header = (("endpoint", "/calls"), ("header", "x-ratelimit-reset"))
    assert got[("telepath_monitor_rate_limit_headers_ignored_total", header)] == 1
