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

LIMIT = 240  # requests per minute the simulated key allows; the daemon wants more
CALLS_PER_MINUTE = 300
OVERLAP = timedelta(minutes=7)
WINDOW, FOR, RETRY_MAX = 20, 2, 2  # seconds: the rule's window and `for`, delivery's cap
INCIDENT_AT, INCIDENT_FOR = 6, 30  # seconds after the spent rate window ends
CONFIG = f"""
# The counts below are of firing and resolved notifications: no call-details follow-ups.
links: {{detail_calls: 0}}
poll: {{calls_every: 1s, overview_every: 5s, backfill: 10m, overlap: 7m}}
notifiers:
  ops:
    {{type: webhook, url: "${{E2E_WEBHOOK_URL}}", secret: "${{E2E_WEBHOOK_SECRET}}", timeout: 2s}}
delivery: {{retry_initial: 1s, retry_max: {RETRY_MAX}s}}
defaults: {{for: {FOR}s, notify: [ops]}}
rules:
  - name: ai-latency-p50
    summary: AI agent answers slowly
    metric: ai_latency_ms
    stat: p50
    window: {WINDOW}s
    min_calls: 5
    warning: 1000
    recovery: 600
"""
#: The longest a poll can take: a sweep of the whole overlap, paced to the key's limit.
POLL_SECONDS = math.ceil(OVERLAP.total_seconds() / 60 * CALLS_PER_MINUTE / 100) / (LIMIT / 60)
#: Polls allowed between a change at the API and the alert it causes: the poll running
#: when it happens, the one that sees it, and one spare for a failed attempt.
POLLS_ALLOWED = 3
BOUNDARY_AHEAD = 8  # seconds from the start to the end of the spent rate window
SETUP = 10  # seconds: the other client's requests, the daemon's start
#: The most this test may take: each wait below is bounded by its share. pytest's timeout
#: is twice that, so the test's own waits fail first, with a message that says which.
BUDGET = (
    SETUP + BOUNDARY_AHEAD + INCIDENT_AT + INCIDENT_FOR + 2 * WINDOW + FOR
    + 3 * POLLS_ALLOWED * POLL_SECONDS + RETRY_MAX + 1
)  # fmt: skip

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(math.ceil(2 * BUDGET))]


def test_api_faults_leave_one_alert_and_the_rate_limit_intact(
    scenario: Scenario, figures: Callable[..., None]
) -> None:
    """Budget spent by another client, 5xx, resets, timeouts, bad bodies, duplicates and
    drifting records: one firing and one resolution, and no API window over its limit."""
    # Every 429 waits for the end of the API's rate window: the window is shifted to end
    # a few seconds from now (not at the next clock minute, up to 60 s away), and the
    # incident is placed just after it.
    boundary = math.ceil(time.time()) + BOUNDARY_AHEAD
    phase = boundary % 60
    api = scenario.start_api(
        scenario="ai-spike",
        calls_per_minute=CALLS_PER_MINUTE,
        history=timedelta(minutes=15),
        incident_at=timedelta(seconds=boundary - time.time() + INCIDENT_AT),
        incident_for=timedelta(seconds=INCIDENT_FOR),
        rate_limit_per_minute=LIMIT,
        retry_after_header=True,
        rate_window_phase=phase,
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
    daemon.wait_ready(timeout=boundary - time.time() + POLLS_ALLOWED * POLL_SECONDS)
    burst = {"fail_next": 4, "fail_status": 502, "reset_next": 3, "slow_next": 2,
             "slow_seconds": 1.5, "malformed_next": 3}  # fmt: skip
    api.set_faults(**burst)
    # The alert fires once the window holds mostly spiking calls, held for `for`; it
    # resolves once the window has moved past the incident. Each allows a few polls.
    firing = wait_for(
        lambda: [d for d in webhook_deliveries(hook) if d.event == "firing"],
        "firing notification",
        timeout=boundary - time.time() + INCIDENT_AT + WINDOW + FOR
        + POLLS_ALLOWED * POLL_SECONDS,
    )  # fmt: skip
    api.set_faults(fail_next=5, fail_status=503)  # a failed poll while firing
    incident_end = boundary + INCIDENT_AT + INCIDENT_FOR
    wait_for(
        lambda: [d for d in webhook_deliveries(hook) if d.event == "resolved"],
        "resolution",
        timeout=max(0.0, incident_end - time.time()) + WINDOW + POLLS_ALLOWED * POLL_SECONDS,
    )
    time.sleep(RETRY_MAX + 1)  # a repeat would be delivered by now: retries wait at most this
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

    def window(epoch: float) -> int:  # the API's rate window, shifted by the phase
        return math.floor((epoch - phase) / 60)

    per_window: dict[int, int] = {}
    for h in hits:
        per_window[window(h.epoch)] = per_window.get(window(h.epoch), 0) + 1
    first_window = window(api.snapshot()[0].epoch)
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
    assert all(h.epoch < (first_window + 1) * 60 + phase for h in natural_429)
    assert all(metrics[o] > 0 for o in metrics)
    assert skipped > 0
    assert duplicates > 0
    assert scenario.leaks() == []
