"""The daemon with an SLO against the simulator's ai-spike incident: the burn alert
goes to the outbox with its figures, the status page and /metrics show the SLO, and a
restart keeps the counts (the history has them, though the calls table is pruned)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from monitor.status import render
from tests.support.daemon import make_daemon as make_support_daemon

pytestmark = pytest.mark.integration

CONFIG = """
poll:
  backfill: 1h
notifiers:
  tickets: {type: console}
slos:
  - name: ai-fast
    summary: AI answers within 1.5 s
    good: {metric: ai_latency_ms, threshold: 1500}
    status: [connected]
    objective: 95%
    period: 1d
    alerts:
      - {burn_rate: 1, long: 2h, short: 1h, severity: warning, notify: [tickets]}
"""
RULE = "slo-ai-fast-burn-2h-1h"


def make_daemon(tmp_path, url, clock):
    return make_support_daemon(tmp_path, url, clock, CONFIG)


def test_the_spiked_trunk_burns_its_budget_and_a_restart_keeps_the_counts(
    tmp_path, simulator, clock
):
    server = simulator(scenario="ai-spike", calls_per_minute=240)
    clock.advance(4 * 60)
    daemon = make_daemon(tmp_path, server.url, clock)
    try:
        daemon.poll_calls()
        before = {(f.slo.name, f.group): f.counts for f in daemon.slos.figures}
        firing = {s.group for s in daemon.states if s.rule == RULE and s.state == "firing"}
        entries = [e.notification for e in daemon.store.outbox_entries()]
        page = render(daemon.status_snapshot())
        text = daemon.metrics.render().decode()
    finally:
        daemon.stop()

    assert firing == {"conn_sim02"}
    (sent,) = [n for n in entries if n.rule == RULE and n.event == "firing"]
    # Its worst calls' details follow, as for any alert (links.detail_calls).
    assert [n.event for n in entries if n.rule == RULE] == ["firing", "details"]
    assert sent.notifier == "tickets"
    (alert,) = sent.alerts
    assert alert["metric"] == "burn_rate"
    assert "objective 95%" in alert["summary"]
    assert "budget remaining" in alert["summary"]
    assert alert["offending_calls"]
    assert all(c["ai_latency_ms"] > 1500 for c in alert["offending_calls"])
    assert '<h2 id="slos">SLOs</h2>' in page
    assert "conn_sim02" in page.split('id="slos"')[1]
    assert 'telepath_slo_burn_rate{slo="ai-fast",trunk_id="conn_sim02",window="1h"}' in text

    # Every call read is counted by its start minute; the period holds them all.
    total = sum(counts[timedelta(days=1)].total for counts in before.values())
    connected = [c for c in server.visible_calls() if c.status == "connected"]
    assert total == len(connected)

    clock.advance(60)
    again = make_daemon(tmp_path, server.url, clock)
    try:
        again.evaluate(sync_ok=True)  # no poll: the counts come from the history alone
        after = {(f.slo.name, f.group): f.counts for f in again.slos.figures}
        still = {s.group for s in again.states if s.rule == RULE and s.state == "firing"}
        resent = [e for e in again.store.outbox_entries() if e.notification.rule == RULE]
    finally:
        again.stop()
    day = timedelta(days=1)
    assert {k: v[day] for k, v in after.items()} == {k: v[day] for k, v in before.items()}
    assert still == {"conn_sim02"}
    # No notification after the restart: the outbox holds the first run's two alone.
    assert [e.notification.id for e in resent] == [n.id for n in entries if n.rule == RULE]


def test_unreadable_slo_counts_hold_the_slo_alerts_and_the_rules_go_on(
    tmp_path, simulator, clock, monkeypatch, caplog
):
    server = simulator(scenario="ai-spike", calls_per_minute=240)
    clock.advance(4 * 60)
    daemon = make_daemon(tmp_path, server.url, clock)
    try:
        daemon.poll_calls()
        assert {s.group for s in daemon.states if s.state == "firing"} == {"conn_sim02"}

        def broken(*_args: object, **_kwargs: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr("monitor.slo.tracker.read_figures", broken)
        clock.advance(30)
        daemon.evaluate(sync_ok=True)
        firing = [s for s in daemon.states if s.rule == RULE and s.state == "firing"]
    finally:
        daemon.stop()
    assert [s.group for s in firing] == ["conn_sim02"]  # held, not resolved
    assert firing[0].no_data
    assert "reading the SLO counts failed" in caplog.text
