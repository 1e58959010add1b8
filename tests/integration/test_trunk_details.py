"""Trunk names, call details and attribution end to end (issue 15): the daemon against the
simulator, with real loopback receivers standing for Slack, a webhook and Alertmanager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from monitor.clock import ManualClock
from monitor.daemon import Daemon
from monitor.simulator.trunks import RENAMED_FROM, RENAMED_TO
from monitor.status import render
from tests.support.daemon import make_daemon
from tests.support.receivers import SlackReceiver, WebhookReceiver

pytestmark = pytest.mark.integration


@pytest.fixture
def am() -> Iterator[WebhookReceiver]:
    """Stands for Alertmanager: records what is posted to /api/v2/alerts."""
    with WebhookReceiver() as receiver:
        yield receiver


def drive(daemon: Daemon, clock: ManualClock, minutes: float) -> None:
    """Poll every 30 s and deliver after each poll, as the daemon's threads would."""
    for _ in range(int(minutes * 2)):
        daemon.poll_calls()
        for name in daemon.senders:
            daemon.delivery.deliver_due(name)
        clock.advance(30)


def spike_config(slack: SlackReceiver, hook: WebhookReceiver, am: WebhookReceiver) -> str:
    return f"""
links:
  call: https://dash.example/calls/{{call_id}}
  detail_calls: 2
notifiers:
  oncall:
    type: slack
    webhook_url: {slack.webhook_url}
  ops:
    type: webhook
    url: {hook.url}/alerts
  am:
    type: alertmanager
    url: {am.url}
defaults:
  for: 1m
  repeat: never
  notify: [oncall, ops, am]
rules:
  - name: ai-latency-p95
    summary: AI agent answers slowly
    metric: ai_latency_ms
    stat: p95
    window: 2m
    min_calls: 5
    warning: 1500
"""


def test_a_firing_alert_names_its_trunk_and_carries_details_and_attribution(
    tmp_path, simulator, clock, slack, hook, am
):
    """ai-spike on conn_sim02 ("Support line EU"): Slack, the webhook and Alertmanager all
    name the trunk and say the AI latency explains the rise; a details follow-up brings the
    worst calls' slowest segment and codec, fetched once and within detail_calls."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=6))
    start, _ = server.incident
    daemon = make_daemon(tmp_path, server.url, clock, spike_config(slack, hook, am))
    try:
        daemon.poll_trunks()
        drive(daemon, clock, (start - clock.now()).total_seconds() / 60 + 4)
        daemon.refresh_alertmanager("am")
        metrics = daemon.metrics.render().decode()
        page = render(daemon.status_snapshot())
    finally:
        daemon.stop()

    # Webhook: the firing delivery, then the details follow-up of the same alert.
    bodies = [r.json() for r in hook.requests]
    assert [(b["status"], b["event"]) for b in bodies] == [
        ("firing", "firing"),
        ("firing", "details"),
    ]
    firing, details = (b["alert"] for b in bodies)
    assert firing["group"] == {"trunk_id": "conn_sim02", "trunk_name": "Support line EU"}
    attribution = firing["attribution"]
    assert attribution["baseline_seconds"] == 3600
    assert attribution["headline"].startswith("AI latency +")
    assert attribution["headline"].endswith("of the rise")
    ai = attribution["components"][0]
    assert ai["metric"] == "ai_latency_ms"
    assert ai["share"] > 0.8
    assert ai["value_ms"] > ai["baseline_ms"] * 2
    assert details["id"] == firing["id"]
    assert len(details["call_details"]) == 2
    worst = details["call_details"][0]
    assert worst["id"] == firing["offending_calls"][0]["id"]
    assert worst["slowest_segment"]["name"] == "ai_agent"
    assert worst["codec"] in ("G.722", "PCMU", "opus")
    assert any(e["kind"] == "agent.slow_response" for e in worst["events"])
    assert worst["url"] == f"https://dash.example/calls/{worst['id']}"
    # Once per alert, at most detail_calls requests, never delaying the firing.
    assert server.request_counts["/calls/{id}"] == 2

    # Slack: the firing message names the trunk and says why; the follow-up shows details.
    first, follow_up = slack.messages
    text = json.dumps(first.blocks)
    assert "Support line EU (conn_sim02)" in text
    assert "*Why:* AI latency +" in text
    assert "Support line EU (conn_sim02)" in (first.text or "")
    assert follow_up.text is not None
    assert "Details" in follow_up.text
    assert "slowest ai_agent" in json.dumps(follow_up.blocks)

    # Alertmanager: the name and attribution as annotations, the details kept on re-posts.
    posted = [alert for r in am.requests for alert in r.json()]
    assert {a["labels"]["trunk_id"] for a in posted} == {"conn_sim02"}
    assert all("trunk_name" not in a["labels"] for a in posted)
    assert all(a["annotations"]["trunk_name"] == "Support line EU" for a in posted)
    assert all(a["annotations"]["attribution"].startswith("AI latency +") for a in posted)
    assert "slowest ai_agent" in posted[-1]["annotations"]["call_details"]
    assert (
        posted[-1]["annotations"]["summary"]
        == "AI agent answers slowly (Support line EU (conn_sim02))"
    )

    # The status page names the trunk of the open alert.
    assert "trunk Support line EU (conn_sim02)" in page

    # The catalogue: every trunk exported with its name, provider and status.
    assert (
        'telepath_trunk_info{name="Support line EU",provider="elevenlabs",'
        'status="active",trunk_id="conn_sim02"} 1.0' in metrics
    )
    assert (
        'name="Retired line",provider="custom",status="inactive",trunk_id="conn_sim07"' in metrics
    )


def test_a_rename_mid_run_is_taken_in_and_survives_a_restart(tmp_path, simulator, clock):
    """conn_sim01 is renamed when the incident begins: the next read of /trunks says so,
    and the state DB keeps the name for the next daemon."""
    server = simulator(scenario="steady", incident_at=timedelta(minutes=2))
    config = "rules: []\n"
    first = make_daemon(tmp_path, server.url, clock, config)
    try:
        first.poll_trunks()
        assert first.catalogue.name("conn_sim01") == RENAMED_FROM
        clock.advance(180)
        first.poll_trunks()
        assert first.catalogue.name("conn_sim01") == RENAMED_TO
    finally:
        first.stop()
    second = make_daemon(tmp_path, server.url, clock, config)
    try:
        assert second.catalogue.name("conn_sim01") == RENAMED_TO
        retired = second.catalogue.get("conn_sim07")
        assert retired is not None
        assert not retired.active
    finally:
        second.stop()


FLATLINE_RULE = """
rules:
  - name: trunk-flatline
    summary: A trunk went quiet
    metric: call_count
    op: "<"
    window: 2m
    critical: 1
    for: 0s
"""


@pytest.mark.parametrize("disabled", [False, True])
def test_a_disabled_trunk_raises_no_flatline_alert(tmp_path, simulator, clock, disabled):
    """flatline silences conn_sim04; listed inactive in /trunks it raises nothing, while the
    same silence of an active trunk fires."""
    server = simulator(
        scenario="flatline",
        calls_per_minute=300,
        disabled_trunks=("conn_sim04",) if disabled else (),
    )
    start, _ = server.incident
    daemon = make_daemon(tmp_path, server.url, clock, FLATLINE_RULE)
    intents: list[Any] = []
    try:
        daemon.poll_trunks()
        while clock.now() < start + timedelta(minutes=4):
            daemon.poll_calls()
            intents += [i for i in daemon.alert_states() if i.state == "firing"]
            clock.advance(30)
        observation = daemon.latest[("trunk-flatline", "conn_sim04")]
    finally:
        daemon.stop()
    firing = {s.group for s in intents}
    if disabled:
        assert firing == set()
        assert observation.value is None
        assert observation.reason == "trunk is inactive"
    else:
        assert firing == {"conn_sim04"}
