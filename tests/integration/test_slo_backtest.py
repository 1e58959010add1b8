"""`backtest` replays SLO burn alerts: over the simulator's ai-spike incident, the
spiked trunk's budget burns and its alert fires during the incident and clears after,
through the CLI's fetch and replay phases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor import backtest
from monitor.config import load_config
from monitor.settings import load_settings
from monitor.simulator.scenarios import affected_trunks

pytestmark = pytest.mark.integration

CONFIG = """
poll:
  calls_every: 30s
rules: []
slos:
  - name: ai-fast
    good: {metric: ai_latency_ms, threshold: 1500}
    status: [connected]
    objective: 90%
    period: 1h
    alerts:
      - {burn_rate: 3, long: 10m, short: 2m, severity: critical}
  - name: whole
    per: account
    good: {metric: ai_latency_ms, threshold: 1500}
    objective: 90%
    period: 1h
    alerts:
      - {burn_rate: 3, long: 10m, short: 2m}
"""
RULE = "slo-ai-fast-burn-10m-2m"


def test_backtest_replays_the_slo_burn_of_the_incident(tmp_path, simulator, clock, api_client):
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=6))
    incident_start, incident_end = server.incident
    start, end = clock.now(), incident_end + timedelta(minutes=15)
    clock.advance((end + timedelta(minutes=10) - clock.now()).total_seconds())
    path = tmp_path / "alerts.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    since = backtest.fetch_start(config, start)
    assert since <= start - timedelta(minutes=10)  # the long window is fetched too
    client = api_client(server.url, max_pages=10_000)
    calls = backtest.fetch_calls(client, since, end, clock=clock, requests_per_minute=6000)
    rules, notes = backtest.replay_rules(config, [RULE], ["conn_sim02"])
    slos, slo_notes = backtest.replay_slos(config, [RULE], ["conn_sim02"])
    assert rules == ()
    assert [s.name for s in slos] == ["ai-fast"]
    assert not any("not replayed" in n for n in slo_notes)  # "whole" was not chosen
    settings = load_settings({"api_key": "unused"}, env={})
    steps = backtest.replay(settings, config, rules, calls, start, end, slos=slos)
    result = backtest.build_result(
        backtest.shown_rules(config, rules, slos), steps, start, end,
        config.poll.calls_every, calls=len(calls), notes=[*notes, *slo_notes],
    )  # fmt: skip
    [alert] = result.timeline
    assert (alert.rule, alert.group) == (RULE, *affected_trunks("ai-spike", 6))
    # Counted by start minute once ended, so a few minutes behind the incident.
    assert incident_start < alert.start < incident_end
    assert alert.end is not None
    assert incident_end < alert.end <= incident_end + timedelta(minutes=10)
    assert any("count only the calls fetched" in n for n in result.notes)

    _, all_notes = backtest.replay_slos(config, [], ["conn_sim02"])
    assert any("not replayed: SLO whole" in n for n in all_notes)
