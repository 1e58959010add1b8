"""The daemon against the simulator: exported figures, restarts, faults, and `run` itself."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.settings import load_settings
from monitor.simulator import DEFAULT_API_KEY
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

CONFIG = """
poll:
  calls_every: 30s
  backfill: 1h
  overlap: 10m
export:
  window: 5m
rules: []
"""


def make_daemon(tmp_path, url, clock, **env):
    config_path = tmp_path / "alerts.yaml"
    config_path.write_text(CONFIG)
    settings = load_settings(
        env={
            "TELEPATH_API_KEY": DEFAULT_API_KEY,
            "TELEPATH_API_URL": url,
            "TELEPATH_STATE_DB": str(tmp_path / "state.db"),
            "TELEPATH_LISTEN": "127.0.0.1:0",
            **env,
        }
    )
    return Daemon(settings, load_config(config_path), clock=clock)


def scrape(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    host, port = daemon.server.address
    text = httpx.get(f"http://{host}:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_exported_percentiles_match_the_simulators_own_calls(tmp_path, simulator, clock):
    """Per-trunk p50/p95/p99 and counts on /metrics equal exact figures from the calls."""
    server = simulator(scenario="ai-spike", calls_per_minute=240)
    clock.advance(4 * 60)  # into the incident
    daemon = make_daemon(tmp_path, server.url, clock)
    daemon.server.start()
    try:
        daemon.poll_calls()
        got = scrape(daemon)
    finally:
        daemon.stop()
    now = clock.now()
    in_window = [
        c for c in server.visible_calls() if now - timedelta(minutes=5) < c.finished_at <= now
    ]
    trunks = sorted({c.trunk_id for c in in_window})
    assert len(trunks) == 6
    for trunk in trunks:
        ai = sorted(
            c.ai_latency_ms
            for c in in_window
            if c.trunk_id == trunk and c.ai_latency_ms is not None
        )
        cuts = statistics.quantiles(ai, n=100, method="inclusive")
        for stat, expected in (("p50", cuts[49]), ("p95", cuts[94]), ("p99", cuts[98])):
            key = (("component", "ai"), ("stat", stat), ("trunk_id", trunk))
            assert got[("telepath_window_latency_seconds", key)] == pytest.approx(expected / 1000)
        count = sum(1 for c in in_window if c.trunk_id == trunk)
        assert got[("telepath_window_calls", (("trunk_id", trunk),))] == count
    spiked = (("component", "ai"), ("stat", "p50"), ("trunk_id", "conn_sim02"))
    healthy = (("component", "ai"), ("stat", "p50"), ("trunk_id", "conn_sim01"))
    assert (
        got[("telepath_window_latency_seconds", spiked)]
        > 2 * got[("telepath_window_latency_seconds", healthy)]
    )


def record_ingested(daemon: Daemon, sink: list[str]) -> None:
    """Note the id of every call the daemon ingests, on top of its own metrics."""
    feed = daemon.sync._on_new_calls
    assert feed is not None

    def note(calls):
        sink.extend(c.id for c in calls)
        feed(calls)

    daemon.sync._on_new_calls = note


def ingested_total(daemon: Daemon) -> float:
    return float(daemon.metrics.calls_ingested._value.get())


def test_restart_between_polls_misses_nothing_and_counts_nothing_twice(tmp_path, simulator, clock):
    """Stop after a poll, let calls arrive, start again: every call ingested exactly once."""
    server = simulator()
    since = clock.now() - timedelta(hours=1)
    ids: list[str] = []
    first = make_daemon(tmp_path, server.url, clock)
    record_ingested(first, ids)
    first.poll_calls()
    counted = ingested_total(first)
    first.stop()

    clock.advance(5 * 60)
    second = make_daemon(tmp_path, server.url, clock)
    record_ingested(second, ids)
    second.sync.restore()
    second.poll_calls()
    counted += ingested_total(second)
    second.stop()
    expected = [c.id for c in server.visible_calls() if c.start_time >= since]
    assert sorted(ids) == sorted(expected)
    assert counted == len(expected)


def test_a_kill_mid_sync_loses_nothing_and_counts_nothing_twice(tmp_path, simulator, clock):
    """Connections reset after the first page (the process dies); the next process completes it."""
    server = simulator(calls_per_minute=300)
    since = clock.now() - timedelta(hours=1)
    ids: list[str] = []
    first = make_daemon(tmp_path, server.url, clock)
    original = first.sync._ingest

    def ingest_then_break(calls):
        original(calls)
        server.set_faults(reset_next=1000)

    first.sync._ingest = ingest_then_break
    record_ingested(first, ids)
    first.poll_calls()
    assert first.calls_health.consecutive_failures == 1
    assert first.store.load_watermark() is None, "the watermark moves only after a full walk"
    counted = ingested_total(first)
    # Killed: no orderly stop, only the sockets and file handles the OS would close.
    first.store.close()
    first.client.close()
    first.server.stop()
    server.set_faults(reset_next=0)

    second = make_daemon(tmp_path, server.url, clock)
    record_ingested(second, ids)
    assert second.sync.restore() == counted
    second.poll_calls()
    counted += ingested_total(second)
    second.stop()
    expected = [c.id for c in server.visible_calls() if c.start_time >= since]
    assert sorted(ids) == sorted(expected)
    assert counted == len(expected)


def test_sync_survives_every_fault_and_reports_it(tmp_path, simulator, clock):
    """5xx, resets, slow or bad bodies, duplicates, odd records: polling goes on, metrics tell."""
    server = simulator(calls_per_minute=120)
    daemon = make_daemon(tmp_path, server.url, clock, TELEPATH_API_TIMEOUT="0.5")
    daemon.server.start()
    try:
        faults: list[dict[str, Any]] = [
            {"fail_next": 2},
            {"reset_next": 1},
            {"slow_next": 1, "slow_seconds": 1.5},
            {"malformed_next": 3},  # one of three kinds is a 200 our parser accepts
            {"duplicate_rate": 1.0},
            {"odd_record_rate": 0.5},
            {"fail_next": 50, "fail_status": 500},
        ]
        for change in faults:
            server.set_faults(**change)
            daemon.poll_calls()
            clock.advance(30)
        failed_polls = daemon.calls_health.consecutive_failures
        server.set_faults(fail_next=0, duplicate_rate=0.0, odd_record_rate=0.0)
        daemon.poll_calls()
        got = scrape(daemon)
        ready = httpx.get(f"http://{daemon.server.address[0]}:{daemon.server.address[1]}/readyz")
    finally:
        daemon.stop()
    assert failed_polls == 1
    assert ready.status_code == 200
    outcomes = {
        dict(k)["outcome"] for (name, k) in got if name == "telepath_monitor_api_requests_total"
    }
    assert {"ok", "http_error", "connection_error", "timeout", "malformed"} <= outcomes
    assert got[("telepath_monitor_duplicate_records_total", ())] > 0
    assert any(name == "telepath_monitor_records_skipped_total" for name, _ in got)
    assert got[("telepath_monitor_syncs_total", (("endpoint", "/calls"), ("result", "error")))] == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_metrics_and_stops_cleanly_on_sigterm(tmp_path):
    """`telepath-monitor run` becomes ready, exports figures, and exits 0 on SIGTERM."""
    from monitor.simulator import SimulatorOptions, SimulatorServer

    config = tmp_path / "alerts.yaml"
    config.write_text(CONFIG)
    port = free_port()
    with SimulatorServer(SimulatorOptions(history=timedelta(minutes=20))) as server:
        env = {
            **os.environ,
            "TELEPATH_API_KEY": DEFAULT_API_KEY,
            "TELEPATH_API_URL": server.url,
            "TELEPATH_CONFIG": str(config),
            "TELEPATH_STATE_DB": str(tmp_path / "state.db"),
            "TELEPATH_LISTEN": f"127.0.0.1:{port}",
            "TELEPATH_LOG_LEVEL": "DEBUG",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:

            def ready() -> bool:
                try:
                    return (
                        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
                    )
                except httpx.TransportError:
                    return False

            wait_for(ready, "200 from /readyz", timeout=30, interval=0.2)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert "telepath_window_calls{" in metrics
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0
    assert DEFAULT_API_KEY.encode() not in output
    assert b"stopped" in output


def test_slow_polls_are_reported_once_and_their_end_too(tmp_path, caplog):
    """A poll longer than calls_every is said once per streak, and its end at INFO."""
    import logging

    from monitor.clock import ManualClock
    from tests.support.daemon import make_daemon

    caplog.set_level(logging.INFO, logger="monitor.daemon")
    daemon = make_daemon(
        tmp_path, "http://127.0.0.1:9", ManualClock(), "poll: {calls_every: 10s}\n"
    )
    try:
        for took in (3.0, 12.0, 15.0, 11.0, 2.0):
            daemon._note_slow_poll(took)
    finally:
        daemon.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "monitor.daemon"]
    slow = [m for m in messages if "longer than poll.calls_every" in m]
    assert len(slow) == 1
    assert "took 12.0s" in slow[0]
    assert sum("back within poll.calls_every" in m for m in messages) == 1


def test_a_reload_applies_the_page_limit_and_the_trunk_cap(tmp_path):
    """poll.max_pages and export.max_trunks change without a restart."""
    from monitor.clock import ManualClock
    from monitor.config import load_config
    from tests.support.daemon import make_daemon

    daemon = make_daemon(tmp_path, "http://127.0.0.1:9", ManualClock(), "poll: {max_pages: 500}\n")
    try:
        path = tmp_path / "alerts.yaml"
        path.write_text("poll: {max_pages: 40}\nexport: {max_trunks: 7}\n")
        daemon.apply_config(load_config(path))
        assert (daemon.client.max_pages, daemon.metrics.cap.limit) == (40, 7)
    finally:
        daemon.stop()
