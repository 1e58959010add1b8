"""Prometheus metrics: a scrape-time collector over the windows, plus the daemon's health.

Names start with ``telepath_`` (data about calls) or ``telepath_monitor_`` (the daemon
itself); values are in base units (seconds, ratios 0..1). Window figures are computed
when Prometheus scrapes, from the latest windows under the sync lock; nothing pushes
gauges from another thread. Cumulative histograms are fed once per ingested call, so
``histogram_quantile`` works over any range.

Cardinality is bounded: at most ``max_trunks`` trunks get their own ``trunk_id``
series; calls of later trunks are exported under ``trunk_id="_other"`` in cumulative
series, left out of per-trunk window figures (they still count account-wide), and
counted in ``telepath_monitor_capped_calls_total``.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.alerts import AlertState
from monitor.clock import Clock
from monitor.models import LATENCY_METRICS, Call, Overview
from monitor.notify.outbox import DeliveryEvent
from monitor.telepath.client import ClientEvent, PaginationStopped, RecordSkipped, RequestRecord
from monitor.windows import CallWindows, WindowView

#: Label value of each latency metric: ai_latency_ms → ai.
COMPONENTS: Final = {
    "ai_latency_ms": "ai",
    "carrier_lag_ms": "carrier",
    "gateway_processing_ms": "gateway",
    "total_latency_ms": "total",
}
#: Window statistics exported per trunk and account-wide.
EXPORTED_STATS: Final = ("avg", "min", "max", "p50", "p90", "p95", "p99")
#: Voice latency spans tens of milliseconds (gateway) to seconds (a struggling AI agent).
LATENCY_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8,
    1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip
OTHER_TRUNKS: Final = "_other"


class TrunkCap:
    """Assigns each trunk its label, first come first served, up to ``limit`` trunks."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._admitted: set[str] = set()
        self._lock = threading.Lock()

    def label(self, trunk_id: str) -> str:
        with self._lock:
            if trunk_id in self._admitted:
                return trunk_id
            if len(self._admitted) < self.limit:
                self._admitted.add(trunk_id)
                return trunk_id
        return OTHER_TRUNKS

    def admits(self, trunk_id: str) -> bool:
        return self.label(trunk_id) != OTHER_TRUNKS


class MonitorMetrics:
    """Every metric the daemon serves, in its own registry.

    Args:
        windows: the sliding windows, read at scrape time under ``lock``.
        lock: the sync lock.
        clock: time, for window ends and ages.
        export_window: the window of the exported per-trunk figures.
        max_trunks: the cardinality cap.
        sync_watermark: returns the sync's watermark, for the lag gauge.
    """

    def __init__(
        self,
        windows: CallWindows,
        lock: threading.RLock,
        clock: Clock,
        *,
        export_window: timedelta = timedelta(minutes=5),
        max_trunks: int = 500,
        sync_watermark: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cap = TrunkCap(max_trunks)
        self.export_window = export_window
        self._overview: Overview | None = None
        r = self.registry

        self.call_latency = Histogram(
            "telepath_call_latency_seconds",
            "Latency of each ingested call, by component (ai, carrier, gateway, total).",
            ["trunk_id", "component"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.calls = Counter(
            "telepath_calls", "Calls ingested, by trunk and final status.",
            ["trunk_id", "status"], registry=r,
        )  # fmt: skip
        self.capped_calls = Counter(
            "telepath_monitor_capped_calls",
            'Calls of trunks beyond the export cap, exported under trunk_id="_other".',
            registry=r,
        )
        self.api_requests = Counter(
            "telepath_monitor_api_requests",
            "Telepath API requests by endpoint and outcome (ok, http_error, rate_limited, "
            "timeout, connection_error, malformed).",
            ["endpoint", "outcome"],
            registry=r,
        )
        self.api_duration = Histogram(
            "telepath_monitor_api_request_duration_seconds",
            "Time for one Telepath API request.",
            ["endpoint"],
            registry=r,
        )
        self.rate_limit_remaining = Gauge(
            "telepath_monitor_rate_limit_remaining",
            "Requests the API says remain in this minute (X-RateLimit-Remaining).",
            registry=r,
        )
        self.rate_limit_limit = Gauge(
            "telepath_monitor_rate_limit_limit",
            "The API's per-minute request limit for our key (X-RateLimit-Limit).",
            registry=r,
        )
        self.records_skipped = Counter(
            "telepath_monitor_records_skipped",
            "Records left out of API pages because they were unusable, by reason.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.pagination_stopped = Counter(
            "telepath_monitor_pagination_stopped",
            "Page walks ended early to protect against a misbehaving API, by reason.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.syncs = Counter(
            "telepath_monitor_syncs",
            "Polls of an endpoint by result (ok, error).",
            ["endpoint", "result"],
            registry=r,
        )
        self.calls_ingested = Counter(
            "telepath_monitor_calls_ingested", "New calls added to the windows.", registry=r
        )
        self.duplicates = Counter(
            "telepath_monitor_duplicate_records",
            "Records dropped because their call id was already ingested.",
            registry=r,
        )
        self.last_sync = Gauge(
            "telepath_monitor_last_successful_sync_timestamp_seconds",
            "When an endpoint was last polled successfully (Unix time).",
            ["endpoint"],
            registry=r,
        )
        self.sync_duration = Histogram(
            "telepath_monitor_sync_duration_seconds",
            "Time for one poll of /calls, all pages.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.rule_evaluation = Histogram(
            "telepath_monitor_rule_evaluation_duration_seconds",
            "Time to evaluate every rule after a poll.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.config_reloads = Counter(
            "telepath_monitor_config_reloads",
            "Config reloads by result (ok, error); on error the old config stays in force.",
            ["result"],
            registry=r,
        )
        self.notifications_sent = Counter(
            "telepath_monitor_notifications_sent",
            "Notifications delivered, by notifier.",
            ["notifier"],
            registry=r,
        )
        self.notifications_failed = Counter(
            "telepath_monitor_notifications_failed",
            "Delivery attempts that failed and will be retried, by notifier.",
            ["notifier"],
            registry=r,
        )
        self.notifications_dead_lettered = Counter(
            "telepath_monitor_notifications_dead_lettered",
            "Notifications given up on, by notifier and reason (rejected, expired).",
            ["notifier", "reason"],
            registry=r,
        )
        self.notifications_held = Counter(
            "telepath_monitor_notifications_held",
            "Notifications not sent because a silence, maintenance window or inhibition "
            "held them, by reason (silenced, maintenance, inhibited).",
            ["reason"],
            registry=r,
        )
        self.heartbeats = Counter(
            "telepath_monitor_heartbeats",
            "Dead-man's-switch pings by result (sent, failed, skipped while unhealthy).",
            ["result"],
            registry=r,
        )
        #: Returns the alert states for the alerts gauge; the daemon sets it.
        self.alert_states: Callable[[], Sequence[AlertState]] = list
        #: Returns (notifier, pending entries, oldest pending age in seconds or None) rows
        #: for the outbox gauges; the daemon sets it.
        self.outbox_stats: Callable[[], Sequence[tuple[str, int, float | None]]] = list
        build = Gauge(
            "telepath_monitor_build_info",
            "Version of telepath-monitor and Python; always 1.",
            ["version", "python_version"],
            registry=r,
        )
        build.labels(__version__, platform.python_version()).set(1)
        r.register(_WindowCollector(self, windows, lock, clock, sync_watermark))

    # --- adapters: records in, metrics out -------------------------------------------------

    def on_client_event(self, event: ClientEvent) -> None:
        """Listener for :class:`~monitor.telepath.client.TelepathClient`."""
        if isinstance(event, RequestRecord):
            self.api_requests.labels(event.endpoint, event.outcome).inc()
            self.api_duration.labels(event.endpoint).observe(event.duration_seconds)
            if event.rate_limit_remaining is not None:
                self.rate_limit_remaining.set(event.rate_limit_remaining)
            if event.rate_limit_limit is not None:
                self.rate_limit_limit.set(event.rate_limit_limit)
        elif isinstance(event, RecordSkipped):
            self.records_skipped.labels(event.endpoint, event.reason).inc()
        elif isinstance(event, PaginationStopped):
            self.pagination_stopped.labels(event.endpoint, event.reason).inc()

    def on_delivery(self, event: DeliveryEvent) -> None:
        """Listener for :class:`~monitor.notify.outbox.DeliveryWorker`."""
        if event.outcome == "delivered":
            self.notifications_sent.labels(event.notifier).inc()
        elif event.outcome == "failed":
            self.notifications_failed.labels(event.notifier).inc()
        else:
            self.notifications_dead_lettered.labels(event.notifier, event.reason or "").inc()

    def on_new_calls(self, calls: Sequence[Call]) -> None:
        """Feed cumulative series with newly ingested calls."""
        for call in calls:
            label = self.cap.label(call.trunk_id)
            if label == OTHER_TRUNKS:
                self.capped_calls.inc()
            self.calls.labels(label, call.status).inc()
            for metric, component in COMPONENTS.items():
                value = call.latency(metric)
                if value is not None:
                    self.call_latency.labels(label, component).observe(value / 1000)
        self.calls_ingested.inc(len(calls))

    def on_sync(self, endpoint: str, *, ok: bool, at: datetime) -> None:
        self.syncs.labels(endpoint, "ok" if ok else "error").inc()
        if ok:
            self.last_sync.labels(endpoint).set(at.timestamp())

    def set_overview(self, overview: Overview) -> None:
        self._overview = overview

    @property
    def overview(self) -> Overview | None:
        return self._overview


class _WindowCollector(Collector):
    """Computes window figures when Prometheus scrapes."""

    def __init__(
        self,
        metrics: MonitorMetrics,
        windows: CallWindows,
        lock: threading.RLock,
        clock: Clock,
        sync_watermark: Callable[[], datetime | None],
    ) -> None:
        self._metrics = metrics
        self._windows = windows
        self._lock = lock
        self._clock = clock
        self._watermark = sync_watermark

    def describe(self) -> Iterable[Metric]:
        # Families vary with the data; an empty describe keeps registration cheap.
        return []

    def collect(self) -> Iterable[Metric]:
        now = self._clock.now()
        window = min(self._metrics.export_window, self._windows.retention)
        with self._lock:
            views = self._windows.views(now, window)
            account = self._windows.view(None, now, window)
            held = self._windows.total_calls
        exported = {t: v for t, v in sorted(views.items()) if self._metrics.cap.admits(t)}

        latency = GaugeMetricFamily(
            "telepath_window_latency_seconds",
            "Latency statistic over the export window, per trunk and component.",
            labels=["trunk_id", "component", "stat"],
        )
        calls = GaugeMetricFamily(
            "telepath_window_calls", "Calls in the export window, per trunk.", labels=["trunk_id"]
        )
        failed = GaugeMetricFamily(
            "telepath_window_failed_ratio",
            "Share of calls with status failed in the export window (0..1), per trunk.",
            labels=["trunk_id"],
        )
        for trunk_id, view in exported.items():
            calls.add_metric([trunk_id], view.count)
            _add_ratio(failed, [trunk_id], view)
            _add_latencies(latency, [trunk_id], view)

        account_latency = GaugeMetricFamily(
            "telepath_account_window_latency_seconds",
            "Latency statistic over the export window across all trunks, per component.",
            labels=["component", "stat"],
        )
        _add_latencies(account_latency, [], account)
        account_failed = GaugeMetricFamily(
            "telepath_account_window_failed_ratio",
            "Share of failed calls in the export window across all trunks (0..1).",
        )
        _add_ratio(account_failed, [], account)
        yield from (latency, calls, failed, account_latency, account_failed)
        yield GaugeMetricFamily(
            "telepath_account_window_calls",
            "Calls in the export window across all trunks.",
            value=account.count,
        )
        yield GaugeMetricFamily(
            "telepath_window_length_seconds",
            "Length of the export window.",
            value=window.total_seconds(),
        )
        yield GaugeMetricFamily(
            "telepath_monitor_trunks_over_cap",
            "Trunks in the window not exported per trunk because of the cap.",
            value=len(views) - len(exported),
        )
        yield GaugeMetricFamily(
            "telepath_monitor_window_calls_held", "Calls held in the windows.", value=held
        )
        yield from self._sync_lag(now)
        yield self._alerts()
        yield from self._outbox()
        yield from self._overview_families(now)

    def _outbox(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "telepath_monitor_outbox_depth",
            "Notifications waiting to be delivered, by notifier.",
            labels=["notifier"],
        )
        oldest = GaugeMetricFamily(
            "telepath_monitor_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification waiting to be delivered, by notifier.",
            labels=["notifier"],
        )
        for notifier, pending, age in self._metrics.outbox_stats():
            depth.add_metric([notifier], pending)
            if age is not None:
                oldest.add_metric([notifier], age)
        yield from (depth, oldest)

    def _alerts(self) -> Metric:
        family = GaugeMetricFamily(
            "telepath_monitor_alerts",
            "Alerts by rule, severity and state (pending, firing, no_data).",
            labels=["rule", "severity", "state"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for st in self._metrics.alert_states():
            state = st.display_state
            if state == "inactive":
                continue
            key = (st.rule, st.severity or "", state)
            counts[key] = counts.get(key, 0) + 1
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        return family

    def _sync_lag(self, now: datetime) -> Iterable[Metric]:
        watermark = self._watermark()
        if watermark is not None:
            yield GaugeMetricFamily(
                "telepath_monitor_sync_lag_seconds",
                "Age of the newest call start time synced.",
                value=max(0.0, (now - watermark).total_seconds()),
            )

    def _overview_families(self, now: datetime) -> Iterable[Metric]:
        overview = self._metrics.overview
        if overview is None:
            return
        latency = GaugeMetricFamily(
            "telepath_overview_latency_seconds",
            "Account-wide average latency as /analytics/overview reports it, per component.",
            labels=["component"],
        )
        for metric, component in COMPONENTS.items():
            value = overview.get(metric)
            if value is not None:
                latency.add_metric([component], value / 1000)
        yield latency
        for name, metric, doc in (
            ("telepath_overview_calls", "call_count", "Calls as /analytics/overview counts them."),
            (
                "telepath_overview_failed_ratio",
                "failed_ratio",
                "Failed share as /analytics/overview reports it (0..1).",
            ),
        ):
            value = overview.get(metric)
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily(
            "telepath_overview_age_seconds",
            "Time since /analytics/overview was last read successfully.",
            value=max(0.0, (now - overview.fetched_at).total_seconds()),
        )


def _add_latencies(family: GaugeMetricFamily, labels: list[str], view: WindowView) -> None:
    for metric in LATENCY_METRICS:
        component = COMPONENTS[metric]
        for stat in EXPORTED_STATS:
            value = view.stat(metric, stat)
            if value is not None:
                family.add_metric([*labels, component, stat], value / 1000)


def _add_ratio(family: GaugeMetricFamily, labels: list[str], view: WindowView) -> None:
    ratio = view.failed_ratio()
    if ratio is not None:
        family.add_metric(labels, ratio)
