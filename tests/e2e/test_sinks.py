"""Receivers down, rate limiting and refusing for good, with a broken config reloaded on
SIGHUP meanwhile: every notification arrives once, refusals become dead letters, and the
old rules keep working."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.e2e.harness import (
    SLACK_HOOK_PATH,
    Scenario,
    outbox,
    webhook_deliveries,
)
from tests.support.receivers import WebhookReceiver
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

CONFIG = """
# The counts below are of firing and resolved notifications: no call-details follow-ups.
links: {detail_calls: 0}
poll: {calls_every: 1s, overview_every: 5s, backfill: 10m}
notifiers:
  ops: {type: webhook, url: "${E2E_WEBHOOK_URL}", secret: "${E2E_WEBHOOK_SECRET}", timeout: 2s}
  chat:
    type: slack
    token: ${E2E_SLACK_TOKEN}
    channel: "#voice-oncall"
    api_url: ${E2E_SLACK_API}
    timeout: 2s
  room: {type: slack, webhook_url: "${E2E_SLACK_HOOK_URL}", timeout: 2s}
  gone: {type: webhook, url: "${E2E_GONE_URL}", timeout: 2s}
delivery: {retry_initial: 1s, retry_max: 2s}
defaults: {for: 2s, notify: [ops, chat, room, gone]}
rules:
  - name: ai-latency-p50
    summary: AI agent answers slowly
    metric: ai_latency_ms
    stat: p50
    window: 10s
    min_calls: 5
    warning: 1000
    recovery: 600
"""
BROKEN = CONFIG.replace("window: 10s", "window: ten seconds").replace("rules:", "rulez: []\nrules:")


def test_sink_faults_deliver_once_and_dead_letter_refusals(
    scenario: Scenario, figures: Callable[..., None]
) -> None:
    """Webhook down, Slack answering 429 + Retry-After, a receiver answering 410, and a
    broken config on SIGHUP: firing and resolution reach each live sink exactly once."""
    scenario.start_api(
        scenario="ai-spike",
        calls_per_minute=600,
        history=timedelta(minutes=15),
        incident_at=timedelta(seconds=10),
        incident_for=timedelta(seconds=12),
    )
    hook, slack = scenario.start_receivers()
    with WebhookReceiver() as gone:
        gone.respond(410, "gone", times=100)
        scenario.extra_env["E2E_GONE_URL"] = gone.url + "/alerts"
        scenario.log_format = "json"
        scenario.write_config(CONFIG)
        hook.stop()  # down, on a known port
        slack.rate_limit(retry_after=2, times=2)
        daemon = scenario.daemon()
        daemon.wait_ready()

        scenario.write_config(BROKEN)
        daemon.hup()
        wait_for(lambda: "config reload (SIGHUP) refused" in daemon.output(), "refusal", 10)

        def ops_failed() -> bool:
            return any(e[1] == "ops" and e[4] >= 2 for e in outbox(scenario.db))

        wait_for(ops_failed, "two failed attempts to the webhook", timeout=45)
        hook.start()
        wait_for(
            lambda: [d for d in webhook_deliveries(hook) if d.event == "resolved"],
            "resolution at the webhook",
            timeout=60,
        )

        def settled() -> bool:
            entries = outbox(scenario.db)
            return bool(entries) and all(e[3] != "pending" for e in entries)

        wait_for(settled, "no pending notification", timeout=30)
        time.sleep(2)  # anything sent twice would arrive now
        reload_errors = daemon.metric("telepath_monitor_config_reloads_total", result="error")
        dead = daemon.metric("telepath_monitor_notifications_dead_lettered_total")
        code = daemon.terminate()
        gone_requests = len(gone.requests)
        scenario.extra_exposures = [r.body.decode() for r in gone.requests]

    entries = outbox(scenario.db)
    deliveries = webhook_deliveries(hook)
    per_id = Counter(d.webhook_id for d in deliveries)
    room = [m for m in slack.messages if m.source == "webhook"]
    chat = [m for m in slack.messages if m.source == "api"]
    chat_replies = [r for m in chat for r in slack.replies(m.ts)]
    figures(
        faults_injected="webhook down, 2 Slack 429s, 410 for good, broken config on SIGHUP",
        notifications_expected=6,
        notifications_delivered=len(deliveries) + len(room) + len(chat) + len(chat_replies),
        duplicated=sum(n - 1 for n in per_id.values()),
        dead_letters=sum(1 for e in entries if e[3] == "dead"),
        slack_requests=len(slack.requests),
        reload_errors=reload_errors,
        leaks=len(scenario.leaks()),
    )
    assert code == 0
    assert reload_errors >= 1
    assert [d.event for d in deliveries] == ["firing", "resolved"]
    assert set(per_id.values()) == {1}
    assert all(d.signed_ok for d in deliveries)
    assert len(room) == 2
    assert all(m.text for m in room)
    assert len(chat) == 1
    assert len(chat_replies) == 1
    assert {(e[1], e[3]) for e in entries} == {
        ("ops", "delivered"), ("chat", "delivered"), ("room", "delivered"), ("gone", "dead")
    }  # fmt: skip
    assert sum(1 for e in entries if e[1] == "gone") == 2 == gone_requests == dead
    assert all(r.path == SLACK_HOOK_PATH for r in slack.requests if r.path.startswith("/services/"))
    assert scenario.leaks() == []
