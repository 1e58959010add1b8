"""The status page: what it shows, how it escapes, and how the server serves it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.alerts import AlertState
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.models import Call
from monitor.quiet import Silence
from monitor.rules import Observation
from monitor.settings import load_settings
from monitor.status import (
    AlertView,
    EndpointHealth,
    SilenceView,
    StatusSnapshot,
    SyncStatus,
    WorstCall,
    render,
)

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_TEXT = "&lt;img src=x onerror=alert(1)&gt;"


def health(endpoint: str = "/calls", **changes: Any) -> EndpointHealth:
    fields: dict[str, Any] = {
        "endpoint": endpoint,
        "last_success": NOW - timedelta(seconds=20),
        "last_attempt": NOW - timedelta(seconds=20),
        "failing_since": None,
        "consecutive_failures": 0,
        "last_error": None,
        "key_refused": False,
    }
    return EndpointHealth(**{**fields, **changes})


def sync(**changes: Any) -> SyncStatus:
    fields: dict[str, Any] = {
        "calls": health(),
        "overview": health("/analytics/overview"),
        "watermark": NOW - timedelta(minutes=1),
        "ready": True,
        "ready_reason": "ok",
    }
    return SyncStatus(**{**fields, **changes})


def worst(call_id: str = "call_1", url: str | None = "default", **changes: Any) -> WorstCall:
    link = f"https://dash.example/calls/{call_id}" if url == "default" else url
    fields: dict[str, Any] = {
        "id": call_id,
        "trunk_id": "conn_sim02",
        "status": "completed",
        "start_time": NOW - timedelta(minutes=2),
        "latency_ms": 2950.0,
        "url": link,
    }
    return WorstCall(**{**fields, **changes})


def alert(**changes: Any) -> AlertView:
    fields: dict[str, Any] = {
        "rule": "ai-latency-p95",
        "summary": "AI agent answers slowly",
        "group": "conn_sim02",
        "state": "firing",
        "severity": "critical",
        "metric": "ai_latency_ms",
        "stat": "p95",
        "unit": "ms",
        "value": 2950.0,
        "threshold": 2500.0,
        "op": ">",
        "since": NOW - timedelta(minutes=3),
        "held": None,
        "calls_in_window": 143,
        "worst_calls": (worst(),),
    }
    return AlertView(**{**fields, **changes})


def snap(
    alerts: tuple[AlertView, ...] = (),
    silences: tuple[SilenceView, ...] = (),
    **changes: Any,
) -> StatusSnapshot:
    fields: dict[str, Any] = {
        "generated_at": NOW,
        "version": "0.1.0",
        "alerts": alerts,
        "silences": silences,
        "sync": sync(),
        "rules": 3,
    }
    return StatusSnapshot(**{**fields, **changes})


# --- render ------------------------------------------------------------------------------


def test_a_hostile_call_id_renders_as_text():
    """A call id carrying markup shows as text; no element is made from it."""
    url = "https://dash.example/calls/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
    page = render(snap((alert(worst_calls=(worst(HOSTILE, url=url),)),)))
    assert "<img" not in page
    assert HOSTILE_TEXT in page
    assert f'href="{url}"' in page


def test_hostile_trunk_summary_rule_and_error_render_as_text():
    """Trunk ids, summaries, rule names and API errors are escaped, quotes included."""
    hostile = alert(
        group='"><script>alert(1)</script>',
        summary="<script>alert(2)</script>",
        rule="r<b>",
        held="silenced by <i>x</i>",
    )
    failing = health(failing_since=NOW, consecutive_failures=2, last_error="<script>x</script>")
    page = render(snap((hostile,), sync=sync(calls=failing)))
    assert "<script" not in page
    assert "<b>" not in page
    assert "<i>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_only_http_and_https_urls_become_links():
    """A javascript: or data: link is shown as plain text, never as an href."""
    calls = (
        worst("js_call", url="javascript:alert(1)"),
        worst("data_call", url="data:text/html,<b>x</b>"),
        worst("web_call"),
    )
    page = render(snap((alert(worst_calls=calls, runbook_url="JavaScript:alert(3)"),)))
    assert "JavaScript:alert(3)" in page
    assert 'href="javascript' not in page.lower()
    assert 'href="data:text' not in page
    assert "js_call" in page
    assert "data_call" in page
    assert 'href="https://dash.example/calls/web_call"' in page


def test_a_call_without_a_link_is_listed_without_one():
    """With no links.call configured the worst calls still show, as text."""
    page = render(snap((alert(worst_calls=(worst("call_9", url=None),)),)))
    assert "call_9" in page
    assert "/calls/call_9" not in page


def test_an_empty_page_says_so_in_words():
    """Nothing firing, nothing pending and no silences each say so for people."""
    page = render(snap())
    assert "All clear: nothing firing" in page
    assert "Nothing is firing." in page
    assert "Nothing pending" in page
    assert "No silences in force." in page


def test_the_page_refreshes_fits_phones_and_needs_nothing_external():
    """Meta refresh and viewport are set; no script, no external asset, probe links relative."""
    page = render(snap((alert(),)))
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta http-equiv="refresh" content="30">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page
    assert " src=" not in page
    assert "@import" not in page
    for path in ("/metrics", "/healthz", "/readyz"):
        assert f'<a href="{path}">' in page


def test_values_and_thresholds_carry_their_units():
    """Latencies in ms, ratios in percent, the sync-failing alert as a duration."""
    alerts = (
        alert(),
        alert(
            rule="failed",
            metric="failed_ratio",
            stat=None,
            unit="ratio",
            value=0.075,
            threshold=0.05,
            severity="warning",
        ),
        alert(
            rule="monitor-sync-failing",
            metric="call_count",
            stat=None,
            unit="seconds",
            value=600.0,
            threshold=300.0,
            op=">=",
            group=None,
            worst_calls=(),
        ),
    )
    page = render(snap(alerts))
    assert "2,950 ms" in page
    assert "&gt; 2,500 ms" in page
    assert "7.5%" in page
    assert "&gt; 5%" in page
    assert "10 min" in page
    assert "&gt;= 5 min" in page
    assert "account-wide" in page


def test_times_are_shown_in_utc_with_how_long_ago():
    """Since-times read as UTC clock time and minutes ago; other days show the date."""
    alerts = (alert(since=NOW - timedelta(minutes=3)), alert(since=NOW - timedelta(days=2)))
    page = render(snap(alerts))
    assert "14:27 UTC</time> (3 min ago)" in page
    assert "2026-03-08 14:30 UTC</time> (2 d ago)" in page


def test_the_banner_takes_the_colour_of_the_worst_alert():
    """Critical firing is red, warning amber, stale data grey, all clear green."""
    warning = alert(severity="warning")
    assert 'class="banner critical"' in render(snap((alert(), warning)))
    assert 'class="banner warning"' in render(snap((warning,)))
    assert 'class="banner degraded"' in render(snap(sync=sync(ready=False)))
    assert 'class="banner ok"' in render(snap())


def test_pending_alerts_and_held_notifications_are_explained():
    """A pending alert shows when it became pending; a held one says why."""
    pending = alert(state="pending", severity="warning", since=NOW - timedelta(seconds=90))
    held = alert(held="silenced by abc123 until 2026-03-10 16:00 UTC")
    page = render(snap((held, pending)))
    assert "Pending since" in page
    assert "pending · warning" in page
    assert "silenced by abc123 until 2026-03-10 16:00 UTC" in page


def test_silences_and_api_failures_are_listed():
    """A silence shows its scope, end and author; a failing endpoint its error and count."""
    silence = SilenceView(
        id="abc123",
        rule="ai-*",
        trunk="conn_sim0<1>",
        starts_at=NOW,
        until=NOW + timedelta(hours=2),
        comment="carrier <maintenance>",
        by="ops",
    )
    failing = health(
        failing_since=NOW - timedelta(minutes=5),
        consecutive_failures=10,
        last_error="HTTP 503 from /calls",
    )
    stale = sync(calls=failing, ready=False, ready_reason="last sync 300s ago")
    page = render(snap(silences=(silence,), sync=stale))
    assert "conn_sim0&lt;1&gt;" in page
    assert "carrier &lt;maintenance&gt;" in page
    assert "(in 2 h)" in page
    assert "10 failures in a row" in page
    assert "HTTP 503 from /calls" in page
    assert "not ready</span>: last sync 300s ago" in page


# --- snapshot ----------------------------------------------------------------------------

CONFIG = """
links:
  call: https://dash.example/calls/{call_id}
  trunk: https://dash.example/trunks/{trunk_id}
rules:
  - name: ai-latency-p95
    summary: AI agent answers slowly
    metric: ai_latency_ms
    stat: p95
    window: 5m
    warning: 1500
    critical: 2500
"""


def build_daemon(tmp_path: Path, http: httpx.Client | None = None) -> Daemon:
    """A daemon that is built but never started: nothing is polled or served."""
    path = tmp_path / "alerts.yaml"
    path.write_text(CONFIG)
    settings = load_settings(
        env={
            "TELEPATH_API_KEY": "test-key",
            "TELEPATH_API_URL": "http://127.0.0.1:9",
            "TELEPATH_STATE_DB": str(tmp_path / "state.db"),
            "TELEPATH_LISTEN": "127.0.0.1:0",
        }
    )
    return Daemon(settings, load_config(path), clock=ManualClock(NOW), http=http)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    built = build_daemon(tmp_path)
    yield built
    built.stop()


def test_snapshot_reads_alerts_links_and_silences_from_the_daemon(daemon):
    """A firing alert comes with its threshold, since, percent-encoded call links and silence."""
    rule = daemon.config.rules[0]
    call = Call(HOSTILE, "conn/02", "completed", NOW - timedelta(minutes=1), ai_latency_ms=3100.0)
    firing = AlertState(
        rule.name,
        "conn/02",
        "firing",
        "critical",
        started_at=NOW - timedelta(minutes=4),
        last_notified_at=NOW,
        last_value=3000.0,
        alert_id="a1",
        held="silenced by s1",
    )
    daemon.states = [firing]
    daemon.latest = {firing.key: Observation(rule, "conn/02", 3000.0, 40, None, (call,))}
    daemon.store.add_silence(
        Silence(
            "s1",
            "ai-*",
            "*",
            NOW - timedelta(minutes=1),
            NOW + timedelta(hours=1),
            "carrier work",
            "ops",
            NOW,
        )
    )
    daemon.calls_health.record_success(NOW)

    got = daemon.status_snapshot()

    assert got.generated_at == NOW
    assert got.sync.ready is True
    assert got.sync.rate_limit is None
    assert [s.id for s in got.silences] == ["s1"]
    view = got.firing[0]
    assert (view.threshold, view.op, view.value, view.unit) == (2500.0, ">", 3000.0, "ms")
    assert view.since == NOW - timedelta(minutes=4)
    assert view.held == "silenced by s1"
    assert view.calls_in_window == 40
    assert view.trunk_url == "https://dash.example/trunks/conn%2F02"
    assert view.worst_calls[0].latency_ms == 3100.0
    assert view.worst_calls[0].url == (
        "https://dash.example/calls/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
    )


def test_snapshot_lists_firing_before_pending_and_critical_first(daemon):
    """Order: firing critical, firing warning, then pending; inactive alerts are left out."""
    name = daemon.config.rules[0].name
    states = [
        AlertState(name, "t1", "pending", "critical", pending_since=NOW),
        AlertState(
            name, "t2", "firing", "warning", started_at=NOW, last_notified_at=NOW, alert_id="a2"
        ),
        AlertState(
            name, "t3", "firing", "critical", started_at=NOW, last_notified_at=NOW, alert_id="a3"
        ),
        AlertState(name, "t4"),
    ]
    daemon.states = states
    assert [(a.group, a.state) for a in daemon.status_snapshot().alerts] == [
        ("t3", "firing"),
        ("t2", "firing"),
        ("t1", "pending"),
    ]


def test_the_sync_failing_alert_is_shown_in_seconds(daemon):
    """The daemon's own alert reads as how long sync has failed, with the last error."""
    since = NOW - timedelta(minutes=6)
    daemon.calls_health.record_failure(since, "HTTP 503")
    own = AlertState(
        "monitor-sync-failing",
        None,
        "firing",
        "critical",
        started_at=since,
        last_notified_at=since,
        last_value=360.0,
        alert_id="m1",
    )
    daemon.states = [own]
    got = daemon.status_snapshot()
    assert got.firing[0].unit == "seconds"
    assert got.sync.calls.last_error == "HTTP 503"
    assert got.sync.ready is False
    assert "6 min" in render(got)


def test_the_rate_limit_shown_is_what_the_client_last_heard(tmp_path):
    """The page's rate limit comes from the client's own state, not from metrics."""

    def api(request: httpx.Request) -> httpx.Response:
        headers = {"x-ratelimit-limit": "240", "x-ratelimit-remaining": "199"}
        return httpx.Response(200, json={"avg_ai_latency_ms": 120.0}, headers=headers)

    http = httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(api))
    built = build_daemon(tmp_path, http)
    try:
        assert built.status_snapshot().sync.rate_limit is None
        built.poll_overview()
        sync = built.status_snapshot().sync
    finally:
        built.stop()
    assert (sync.rate_limit, sync.rate_limit_remaining) == (240, 199)


# --- server ------------------------------------------------------------------------------
# Served over HTTP on 127.0.0.1: tests/integration/test_status_server.py
