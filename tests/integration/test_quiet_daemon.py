"""Silences and the heartbeat in a running daemon, against the simulator, on a manual clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from prometheus_client.exposition import generate_latest

from monitor.quiet import Silence
from tests.integration.test_notify import flush, spike_config
from tests.support.daemon import make_daemon

pytestmark = pytest.mark.integration


def test_a_silence_is_picked_up_live_and_its_end_lets_the_alert_out(
    tmp_path, simulator, clock, hook
):
    """Added while the daemon runs, a silence holds the firing; when it ends with the alert
    still firing, the firing goes out then, and the resolution after it."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=8))
    start, end = server.incident
    daemon = make_daemon(
        tmp_path, server.url, clock, spike_config(ops=f"    type: webhook\n    url: {hook.url}/x\n")
    )
    try:
        daemon.poll_calls()
        clock.advance(30)
        until = start + timedelta(minutes=5)
        daemon.store.add_silence(
            Silence(
                "s1", "ai-*", "conn_sim0[2]", clock.now(), until, "carrier work", "ops", clock.now()
            )
        )
        states = []
        while clock.now() < end + timedelta(minutes=5):
            daemon.poll_calls()
            flush(daemon)
            state = daemon.state("ai-latency-p95", "conn_sim02")
            states.append(
                (clock.now(), state.state if state else None, state.held if state else None)
            )
            clock.advance(30)
        metrics = generate_latest(daemon.metrics.registry).decode()
    finally:
        daemon.stop()
    first_firing = next(at for at, st, _ in states if st == "firing")
    assert first_firing < until
    assert any(held and held.startswith("silenced by s1") for _, _, held in states)
    bodies = [r.json() for r in hook.requests]
    assert [(b["status"], b["alert"]["group"]["trunk_id"]) for b in bodies] == [
        ("firing", "conn_sim02"),
        ("resolved", "conn_sim02"),
    ]
    assert until <= _time(bodies[0]["sent_at"]) <= until + timedelta(seconds=30)
    assert 'telepath_monitor_notifications_held_total{reason="silenced"}' in metrics


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_heartbeat_pings_while_healthy_and_stops_when_sync_fails(
    tmp_path, simulator, clock, hook
):
    """Pings go out after good syncs; with /calls failing past the readiness bound they stop."""
    server = simulator()
    config = (
        spike_config(ops="    type: console\n")
        + f"heartbeat:\n  url: {hook.url}/ping\n  every: 1m\n"
    )
    daemon = make_daemon(tmp_path, server.url, clock, config)
    daemon._schedule_heartbeat()
    try:
        daemon.poll_calls()
        daemon.heartbeat()
        assert [r.path for r in hook.requests] == ["/ping"]
        server.set_faults(fail_next=1000, fail_status=503)
        for _ in range(8):
            clock.advance(30)
            daemon.poll_calls()
        daemon.heartbeat()
        daemon.heartbeat()
        metrics = generate_latest(daemon.metrics.registry).decode()
    finally:
        daemon.stop()
    assert len(hook.requests) == 1
    assert 'telepath_monitor_heartbeats_total{result="sent"} 1.0' in metrics
    assert 'telepath_monitor_heartbeats_total{result="skipped"} 2.0' in metrics
