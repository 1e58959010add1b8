"""API faults against the real daemon: it keeps running, stays within the advertised rate
limit, and the expected alert fires (and resolves) exactly once."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from tests.e2e.harness import API_KEY, Scenario, webhook_deliveries
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

LIMIT = 240  # requests per minute the simulated key allows; the daemon wants more
CONFIG = """
# The counts below are of firing and resolved notifications: no call-details follow-ups.
links: {detail_calls: 0}
poll: {calls_every: 1s, overview_every: 5s, backfill: 10m, overlap: 7m}
notifiers:
  ops: {type: webhook, url: "${E2E_WEBHOOK_URL}", secret: "${E2E_WEBHOOK_SECRET}", timeout: 2s}
delivery: {retry_initial: 1s, retry_max: 2s}
defaults: {for: 2s, notify: [ops]}
rules:
  - name: ai-latency-p50
    summary: AI agent answers slowly
    metric: ai_latency_ms
    stat: p50
    window: 20s
    min_calls: 5
    warning: 1000
    recovery: 600
"""


def test_api_faults_leave_one_alert_and_the_rate_limit_intact(
    scenario: Scenario, figures: Callable[..., None]
) -> None:
    """Budget spent by another client, 5xx, resets, timeouts, bad bodies, duplicates and
    drifting records: one firing and one resolution, and no API window over its limit."""
    # The API's rate windows are clock minutes, so every 429 waits for the next one:
    # the incident is placed just after it.
    now = time.time()
    boundary = math.ceil(now / 60) * 60
    if boundary - now < 4:
        boundary += 60
    incident_at = boundary - now + 10
    api = scenario.start_api(
        scenario="ai-spike",
        calls_per_minute=300,
        history=timedelta(minutes=15),
        incident_at=timedelta(seconds=incident_at),
        incident_for=timedelta(seconds=30),
        rate_limit_per_minute=LIMIT,
        retry_after_header=True,
    )
    hook, _ = scenario.start_receivers()
    scenario.extra_env["TELEPATH_API_TIMEOUT"] = "1"
    scenario.log_level = "DEBUG"
    scenario.write_config(CONFIG)

    # Another integration on the same key spends this minute's budget.
    with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}) as other:
        for _ in range(LIMIT):
            other.get(api.url + "/analytics/overview")
    foreign = len(api.snapshot())
    api.set_faults(duplicate_rate=0.3, odd_record_rate=0.05)
    injected = {"duplicate_rate": 0.3, "odd_record_rate": 0.05}

    daemon = scenario.daemon()
    daemon.wait_ready(timeout=boundary - time.time() + 30)
    burst = {"fail_next": 4, "fail_status": 502, "reset_next": 3, "slow_next": 2,
             "slow_seconds": 1.5, "malformed_next": 3}  # fmt: skip
    api.set_faults(**burst)
    firing = wait_for(
        lambda: [d for d in webhook_deliveries(hook) if d.event == "firing"],
        "firing notification",
        timeout=boundary - time.time() + 45,
    )
    api.set_faults(fail_next=5, fail_status=503)  # a failed poll while firing
    wait_for(
        lambda: [d for d in webhook_deliveries(hook) if d.event == "resolved"],
        "resolution",
        timeout=60,
    )
    time.sleep(3)  # anything sent twice would arrive now
    metrics = {
        outcome: daemon.metric("telepath_monitor_api_requests_total", outcome=outcome)
        for outcome in ("ok", "http_error", "connection_error", "timeout", "malformed")
    }
    skipped = daemon.metric("telepath_monitor_records_skipped_total")
    duplicates = daemon.metric("telepath_monitor_duplicate_records_total")
    alive = daemon.alive
    code = daemon.terminate()

    hits = api.snapshot()[foreign:]
    natural_429 = [h for h in hits if h.natural_429]
    per_window: dict[int, int] = {}
    for h in hits:
        per_window[math.floor(h.epoch / 60)] = per_window.get(math.floor(h.epoch / 60), 0) + 1
    first_window = math.floor(api.snapshot()[0].epoch / 60)
    deliveries = webhook_deliveries(hook)
    figures(
        faults_injected=sum(v for k, v in burst.items() if k.endswith("_next")) + 5 + LIMIT,
        fault_rates=injected,
        api_requests=len(hits),
        busiest_api_window=max(per_window.values()),
        busiest_60s=api.busiest_60s(skip=foreign),
        limit=LIMIT,
        natural_429=len(natural_429),
        outcomes=metrics,
        records_skipped=skipped,
        duplicates_dropped=duplicates,
        notifications_expected=2,
        notifications_delivered=len(deliveries),
        leaks=len(scenario.leaks()),
    )
    assert alive
    assert code == 0
    assert [(d.event, d.alert_id) for d in deliveries] == [
        ("firing", firing[0].alert_id),
        ("resolved", firing[0].alert_id),
    ]
    assert firing[0].alert_id.startswith("ai-latency-p50:conn_sim02:")
    assert all(d.signed_ok for d in deliveries)
    assert per_window.get(first_window, 0) <= 3, "the daemon waited for the spent budget"
    assert all(count <= LIMIT for count in per_window.values())
    assert all(h.epoch < (first_window + 1) * 60 for h in natural_429)
    assert all(metrics[o] > 0 for o in metrics)
    assert skipped > 0
    assert duplicates > 0
    assert scenario.leaks() == []
