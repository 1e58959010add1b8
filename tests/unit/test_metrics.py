"""The metrics registry: scrape-time window figures, cumulative series, the trunk cap."""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import ManualClock
from monitor.metrics import MonitorMetrics
from monitor.models import Call, Overview
from monitor.telepath.client import PaginationStopped, RecordSkipped, RequestRecord
from monitor.windows import CallWindows

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def make_call(n: int, trunk: str, ai: float, *, status: str = "connected") -> Call:
    end = T0 - timedelta(seconds=n + 1)
    return Call(
        id=f"call_{trunk}_{n}",
        trunk_id=trunk,
        status=status,
        start_time=end - timedelta(seconds=60),
        end_time=end,
        ai_latency_ms=ai,
        carrier_lag_ms=100.0,
        gateway_processing_ms=20.0,
    )


def samples(metrics: MonitorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def build(calls: list[Call], *, max_trunks: int = 500) -> MonitorMetrics:
    windows = CallWindows(timedelta(minutes=30))
    windows.add_many(calls)
    metrics = MonitorMetrics(
        windows,
        threading.RLock(),
        ManualClock(T0),
        max_trunks=max_trunks,
        sync_watermark=lambda: T0 - timedelta(seconds=90),
    )
    metrics.on_new_calls(calls)
    return metrics


def test_window_figures_are_computed_at_scrape_time_in_seconds():
    """Per-trunk p50 and failed ratio come from the windows, converted to seconds."""
    calls = [make_call(n, "conn_a", ai=100.0 * (n + 1)) for n in range(5)]
    calls.append(make_call(9, "conn_a", ai=0, status="failed"))
    got = samples(build(calls))
    key = (("component", "ai"), ("stat", "p50"), ("trunk_id", "conn_a"))
    assert got[("telepath_window_latency_seconds", key)] == pytest.approx(0.25)
    assert got[("telepath_window_calls", (("trunk_id", "conn_a"),))] == 6
    assert got[("telepath_window_failed_ratio", (("trunk_id", "conn_a"),))] == pytest.approx(1 / 6)
    total = (("component", "total"), ("stat", "max"))
    assert got[("telepath_account_window_latency_seconds", total)] == pytest.approx(0.62)
    assert got[("telepath_monitor_sync_lag_seconds", ())] == 90


def test_each_ingested_call_feeds_the_histograms_and_counters():
    """Histogram counts and calls_total reflect every ingested call once."""
    calls = [make_call(n, "conn_a", ai=300) for n in range(3)]
    got = samples(build(calls))
    labels = (("component", "ai"), ("trunk_id", "conn_a"))
    assert got[("telepath_call_latency_seconds_count", labels)] == 3
    assert got[("telepath_call_latency_seconds_sum", labels)] == pytest.approx(0.9)
    status = (("status", "connected"), ("trunk_id", "conn_a"))
    assert got[("telepath_calls_total", status)] == 3
    assert got[("telepath_monitor_calls_ingested_total", ())] == 3


def test_trunks_beyond_the_cap_fold_into_other():
    """The cap bounds label values; capped calls are counted and still count account-wide."""
    calls = [make_call(0, f"conn_{i}", ai=200) for i in range(4)]
    got = samples(build(calls, max_trunks=2))
    trunks = {dict(labels)["trunk_id"] for (name, labels) in got if name == "telepath_calls_total"}
    assert trunks == {"conn_0", "conn_1", "_other"}
    assert got[("telepath_monitor_capped_calls_total", ())] == 2
    assert got[("telepath_monitor_trunks_over_cap", ())] == 2
    assert got[("telepath_account_window_calls", ())] == 4


def test_client_events_become_health_metrics():
    """Request records, skipped records and early stops are counted by endpoint."""
    metrics = build([])
    metrics.on_client_event(RequestRecord("/calls", "ok", 200, 0.05, 1, 41, 6000))
    metrics.on_client_event(RequestRecord("/calls", "timeout", None, 10.0, 2))
    metrics.on_client_event(RecordSkipped("/calls", "missing_id", None))
    metrics.on_client_event(PaginationStopped("/calls", "repeated_cursor"))
    got = samples(metrics)
    assert (
        got[("telepath_monitor_api_requests_total", (("endpoint", "/calls"), ("outcome", "ok")))]
        == 1
    )
    assert (
        got[
            (
                "telepath_monitor_api_requests_total",
                (("endpoint", "/calls"), ("outcome", "timeout")),
            )
        ]
        == 1
    )
    assert got[("telepath_monitor_rate_limit_remaining", ())] == 41
    assert (
        got[
            (
                "telepath_monitor_records_skipped_total",
                (("endpoint", "/calls"), ("reason", "missing_id")),
            )
        ]
        == 1
    )
    assert (
        got[
            (
                "telepath_monitor_pagination_stopped_total",
                (("endpoint", "/calls"), ("reason", "repeated_cursor")),
            )
        ]
        == 1
    )


def test_overview_figures_are_exported_when_known():
    """Only the overview fields that were found are exported; ms become seconds."""
    metrics = build([])
    metrics.set_overview(
        Overview(
            fetched_at=T0 - timedelta(seconds=30),
            values={"ai_latency_ms": 640, "failed_ratio": 0.02},
        )
    )
    got = samples(metrics)
    assert got[("telepath_overview_latency_seconds", (("component", "ai"),))] == pytest.approx(0.64)
    assert got[("telepath_overview_failed_ratio", ())] == pytest.approx(0.02)
    assert got[("telepath_overview_age_seconds", ())] == 30
    assert ("telepath_overview_latency_seconds", (("component", "carrier"),)) not in got


def test_build_info_is_always_one():
    """build_info carries the version as a label."""
    got = samples(build([]))
    assert [v for (name, _), v in got.items() if name == "telepath_monitor_build_info"] == [1]


def test_promtool_finds_nothing_to_complain_about():
    """`promtool check metrics` accepts a realistic scrape."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    calls = [make_call(n, f"conn_{n % 3}", ai=150.0 * n) for n in range(30)]
    metrics = build(calls)
    metrics.on_client_event(RequestRecord("/calls", "ok", 200, 0.05, 1, 41, 6000))
    metrics.set_overview(Overview(fetched_at=T0, values={"ai_latency_ms": 640, "call_count": 10}))
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=generate_latest(metrics.registry),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")
