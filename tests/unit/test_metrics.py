"""The metrics registry: scrape-time window figures, cumulative series, the trunk cap."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter as Tally
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from monitor.alerts import AlertState
from monitor.clock import ManualClock
from monitor.exposition import LATENCY_BUCKETS, sample_value
from monitor.metrics import COMPONENTS, MonitorMetrics
from monitor.models import Call, Overview
from monitor.telepath.client import PaginationStopped, RecordSkipped, RequestRecord
from monitor.windows import CallWindows

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
#: A trunk id as hostile as the API could send: quote, backslash, newline.
HOSTILE = 'a"b\\c\nd'

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


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


def parse(body: bytes) -> Samples:
    """Every sample of a page by (name, sorted labels), ``_created`` left out."""
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate sample {key}"
            if not s.name.endswith("_created"):
                out[key] = s.value
    return out


def samples(metrics: MonitorMetrics) -> Samples:
    """What /metrics serves."""
    return parse(metrics.render())


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
    metrics.overview = lambda: Overview(
        fetched_at=T0 - timedelta(seconds=30),
        values={"ai_latency_ms": 640, "failed_ratio": 0.02},
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


def random_calls(seed: int = 7) -> list[Call]:
    """Calls over a few trunks, one of them hostile, with latencies on and between bounds."""
    rng = random.Random(seed)
    on_bounds = [round(b * 1000, 3) for b in LATENCY_BUCKETS]  # exactly b once / 1000
    calls = []
    for n in range(400):
        trunk = rng.choice(["conn_a", "conn_b", HOSTILE, "conn_\u00e9t\u00e9"])
        ai = rng.choice(on_bounds) if n % 5 == 0 else rng.uniform(0, 12_000)
        status = rng.choice(["connected", "failed", 'odd"status'])
        call = make_call(n % 250, trunk, ai, status=status)
        gateway = None if n % 7 == 0 else rng.choice([*on_bounds, 0.0, 3.5])
        calls.append(replace(call, id=f"c{n}", gateway_processing_ms=gateway))
    return calls


def independent(calls: list[Call]) -> Samples:
    """The cumulative series as stock prometheus_client metrics count the same calls."""
    registry = CollectorRegistry()
    latency = Histogram(
        "telepath_call_latency_seconds",
        "reference",
        ["trunk_id", "component"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    counts = Counter("telepath_calls", "reference", ["trunk_id", "status"], registry=registry)
    for call in calls:
        counts.labels(call.trunk_id, call.status).inc()
        for metric, component in COMPONENTS.items():
            value = call.latency(metric)
            if value is not None:
                latency.labels(call.trunk_id, component).observe(value / 1000)
    return parse(generate_latest(registry))


def test_render_serves_the_same_samples_as_the_registry():
    """render() and generate_latest(registry) agree on every sample, hostile labels included."""
    metrics = build(random_calls())
    metrics.on_client_event(RequestRecord("/calls", "ok", 200, 0.05, 1, 41, 6000))
    metrics.overview = lambda: Overview(
        fetched_at=T0, values={"ai_latency_ms": 640, "call_count": 9}
    )
    metrics.alert_states = lambda: [
        AlertState("p95", HOSTILE, "firing", "warning", alert_id="a1"),
        AlertState('rule "x"\\', None, "pending", "critical", alert_id="a2"),
    ]
    metrics.outbox_stats = lambda: [("on\ncall", 2, 30.0)]
    assert parse(metrics.render()) == parse(generate_latest(metrics.registry))


def test_cumulative_series_match_stock_prometheus_client():
    """The latency histograms and call counts equal those of stock prometheus_client metrics."""
    calls = random_calls()
    expected = independent(calls)
    served = {
        key: value
        for key, value in samples(build(calls)).items()
        if key[0].startswith(("telepath_call_latency_seconds", "telepath_calls_total"))
    }
    assert served == pytest.approx(expected, rel=1e-12)


def test_hostile_trunk_ids_round_trip_through_the_page():
    """A quote, backslash and newline in a trunk id come back intact from the parsed page."""
    got = samples(build([make_call(0, HOSTILE, ai=300)]))
    trunks = {dict(labels).get("trunk_id") for (_, labels) in got} - {None}
    assert trunks == {HOSTILE}


def test_each_family_is_described_once():
    """HELP and TYPE appear once per family, and the page holds the registry's families."""
    metrics = build(random_calls())
    lines = metrics.render().decode().splitlines()
    helps = [line.split(" ")[2] for line in lines if line.startswith("# HELP ")]
    types = Tally(line.split(" ")[2] for line in lines if line.startswith("# TYPE "))
    registry = generate_latest(metrics.registry).decode().splitlines()
    expected = sorted(line.split(" ")[2] for line in registry if line.startswith("# HELP "))
    assert (sorted(helps), set(types.values())) == (expected, {1})


def test_the_histogram_stays_visible_to_registry_readers():
    """Tools that read the registry still see the latency histogram, typed as one."""
    metrics = build([make_call(0, "conn_a", ai=300)])
    kinds = {family.name: family.type for family in metrics.registry.collect()}
    assert (kinds["telepath_call_latency_seconds"], kinds["telepath_calls"]) == (
        "histogram",
        "counter",
    )


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 0.1, 2.5, 1e-7, 999_999.9, 1e6, 1_234_567.0, 3e21, -5e8, 7, math.inf, -math.inf],
)
def test_sample_values_are_written_as_prometheus_client_writes_them(value: float) -> None:
    """The fast value format is prometheus_client's, large and special values included."""
    assert sample_value(value) == floatToGoString(value)


def test_nan_sample_values_are_written_as_nan():
    """NaN, which compares false with everything, still takes the slow path."""
    assert sample_value(math.nan) == "NaN"
