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

With 1,000 trunks the page has about 120,000 lines, almost all of them the latency
histograms, the call counts and the per-trunk window figures. ``prometheus_client``
builds a sample object and formats it for each line (several microseconds a line), so
:meth:`MonitorMetrics.render`, which /metrics serves, writes those families itself
from label strings escaped once per series, and leaves the small families to
``generate_latest``. :attr:`MonitorMetrics.registry` still yields every family, with
the same samples, for anything that reads it (tests, the metrics reference).
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.alerts import AlertState
from monitor.clock import Clock
from monitor.exposition import (
    LATENCY_BUCKETS,
    OTHER_TRUNKS,
    CallCounts,
    LatencyHistograms,
    escape_label_value,
    help_line,
    sample_value,
)
from monitor.models import LATENCY_METRICS, Call, Overview
from monitor.notify.outbox import DeliveryEvent
from monitor.telepath.client import (
    ClientEvent,
    HeaderIgnored,
    PaginationStopped,
    RecordSkipped,
    RequestRecord,
)
from monitor.trunks import TrunkInfo
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
        alert_states: returns the alert states, for the alerts gauge.
        trunk_info: returns the trunk catalogue, for ``telepath_trunk_info``.
        outbox_stats: returns (notifier, pending entries, oldest pending age in seconds
            or None) rows, for the outbox gauges.
        overview: returns the latest /analytics/overview (None before the first one).
        latency_buckets: the latency histograms' upper bounds in seconds (fixed for the
            life of the series: a reload cannot change them).
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
        alert_states: Callable[[], Sequence[AlertState]] = list,
        trunk_info: Callable[[], Sequence[TrunkInfo]] = list,
        outbox_stats: Callable[[], Sequence[tuple[str, int, float | None]]] = list,
        overview: Callable[[], Overview | None] = lambda: None,
        latency_buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        #: Every family the daemon serves, for anything that reads samples (tests, docs).
        self.registry = CollectorRegistry(auto_describe=True)
        self.cap = TrunkCap(max_trunks)
        self.export_window = export_window
        self.alert_states = alert_states
        self.trunk_info = trunk_info
        self.outbox_stats = outbox_stats
        self.overview = overview
        # The small families, which generate_latest renders quickly enough on its own.
        # A new metric goes here (registry=r), or render() would leave it out.
        self._plain = r = CollectorRegistry(auto_describe=True)

        self.call_latency = LatencyHistograms(latency_buckets)
        self.calls = CallCounts()
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
        self.headers_ignored = Counter(
            "telepath_monitor_rate_limit_headers_ignored",
            "X-RateLimit-* headers ignored because their value was not a usable number.",
            ["endpoint", "header"],
            registry=r,
        )
        self.late_calls = Counter(
            "telepath_monitor_late_calls",
            "Calls found only by a sweep of poll.overlap: longer than any call the fast "
            "path allowed for.",
            registry=r,
        )
        self.calls_in_progress = Gauge(
            "telepath_calls_in_progress",
            "Calls the API listed as still in progress at the last poll (not yet ingested).",
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
        self.http_auth_failures = Counter(
            "telepath_monitor_http_auth_failures",
            "Requests refused by basic auth (TELEPATH_WEB_CONFIG), by reason (missing, "
            "malformed, wrong: an unknown user or a wrong password).",
            ["reason"],
            registry=r,
        )
        self.http_connections_rejected = Counter(
            "telepath_monitor_http_connections_rejected",
            "Connections to the HTTP server not served in full, by reason (tls_failed: "
            "no TLS handshake; idle_closed: the longest idle one, closed for a new one at "
            "the connection cap; over_capacity: answered 503, every connection busy; "
            "refused: closed at once, the probe lane full too).",
            ["reason"],
            registry=r,
        )
        build = Gauge(
            "telepath_monitor_build_info",
            "Version of telepath-monitor and Python; always 1.",
            ["version", "python_version"],
            registry=r,
        )
        build.labels(__version__, platform.python_version()).set(1)
        self._windows = _WindowCollector(self, windows, lock, clock, sync_watermark)
        for collector in (self._plain, self.calls, self.call_latency, self._windows):
            self.registry.register(collector)

    def add_collector(self, collector: Collector) -> None:
        """Serve a feature's own small families (rendered with the plain ones)."""
        self._plain.register(collector)

    def render(self) -> bytes:
        """The whole /metrics page in the text format 0.0.4 (``CONTENT_TYPE_LATEST``).

        The same families and samples as ``generate_latest(self.registry)``, several
        times faster with many trunks. Safe to call from any thread.
        """
        windows = "".join(line for g in self._windows.gauges() for line in _gauge_text(g))
        ours = self.calls.render() + self.call_latency.render() + windows
        return generate_latest(self._plain) + ours.encode()

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
        elif isinstance(event, HeaderIgnored):
            self.headers_ignored.labels(event.endpoint, event.header).inc()

    def on_delivery(self, event: DeliveryEvent) -> None:
        """Listener for :class:`~monitor.notify.outbox.DeliveryWorker`."""
        if event.outcome == "delivered":
            self.notifications_sent.labels(event.notifier).inc()
        elif event.outcome == "failed":
            self.notifications_failed.labels(event.notifier).inc()
        else:
            self.notifications_dead_lettered.labels(event.notifier, event.reason or "").inc()

    def on_server_event(self, event: str) -> None:
        """Listener for :class:`~monitor.server.MetricsServer`."""
        if event.startswith("auth_"):
            self.http_auth_failures.labels(event.removeprefix("auth_")).inc()
        else:
            self.http_connections_rejected.labels(event).inc()

    def on_new_calls(self, calls: Sequence[Call]) -> None:
        """Feed cumulative series with newly ingested calls."""
        latencies: list[tuple[str, str, float]] = []
        statuses: list[tuple[str, str]] = []
        for call in calls:
            label = self.cap.label(call.trunk_id)
            if label == OTHER_TRUNKS:
                self.capped_calls.inc()
            statuses.append((label, call.status))
            for metric, component in COMPONENTS.items():
                value = call.latency(metric)
                if value is not None:
                    latencies.append((label, component, value / 1000))
        self.calls.inc_many(statuses)
        self.call_latency.observe_many(latencies)
        self.calls_ingested.inc(len(calls))

    def on_sync(self, endpoint: str, *, ok: bool, at: datetime) -> None:
        self.syncs.labels(endpoint, "ok" if ok else "error").inc()
        if ok:
            self.last_sync.labels(endpoint).set(at.timestamp())


@dataclass(frozen=True, slots=True)
class _Gauge:
    """A gauge family as plain data: one source for the registry and for the fast text."""

    name: str
    documentation: str
    labelnames: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    @classmethod
    def single(cls, name: str, documentation: str, value: float) -> _Gauge:
        return cls(name, documentation, (), [((), value)])

    def add(self, labels: tuple[str, ...], value: float) -> None:
        self.samples.append((labels, value))

    def metric(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self.samples:
            family.add_metric(labels, value)
        return family


def _gauge_text(gauge: _Gauge) -> Iterator[str]:
    """The family in the text format, label names sorted as ``generate_latest`` does."""
    yield help_line(gauge.name, gauge.documentation, "gauge")
    names = gauge.labelnames
    if not names:
        for _, value in gauge.samples:
            yield f"{gauge.name} {sample_value(value)}\n"
        return
    order = sorted(range(len(names)), key=names.__getitem__)
    # The names are our own identifiers, so "%" can only be the placeholders.
    line = gauge.name + "{" + ",".join(f'{names[i]}="%s"' for i in order) + "} %s\n"
    escaped: dict[str, str] = {}  # a trunk id recurs on 29 lines: escape it once
    for labels, value in gauge.samples:
        values = []
        for i in order:
            raw = labels[i]
            text = escaped.get(raw)
            if text is None:
                text = escaped[raw] = escape_label_value(raw)
            values.append(text)
        values.append(sample_value(value))
        yield line % tuple(values)


def trunk_info_gauge(trunks: Iterable[TrunkInfo], cap: TrunkCap) -> _Gauge:
    """``telepath_trunk_info``: one series per catalogued trunk within the cap, for joins."""
    gauge = _Gauge(
        "telepath_trunk_info",
        "Trunk names, AI providers and statuses from GET /trunks; always 1.",
        ("trunk_id", "name", "provider", "status"),
    )
    for trunk in trunks:
        if cap.admits(trunk.id):
            gauge.add((trunk.id, trunk.name or "", trunk.provider or "", trunk.status or ""), 1)
    return gauge


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
        return [gauge.metric() for gauge in self.gauges()]

    def gauges(self) -> list[_Gauge]:
        """Every scrape-time family, computed now from the latest windows."""
        now = self._clock.now()
        window = min(self._metrics.export_window, self._windows.retention)
        with self._lock:
            views = self._windows.views(now, window)
            account = self._windows.view(None, now, window)
            held = self._windows.total_calls
        exported = {t: v for t, v in sorted(views.items()) if self._metrics.cap.admits(t)}

        latency = _Gauge(
            "telepath_window_latency_seconds",
            "Latency statistic over the export window, per trunk and component.",
            ("trunk_id", "component", "stat"),
        )
        calls = _Gauge(
            "telepath_window_calls", "Calls in the export window, per trunk.", ("trunk_id",)
        )
        failed = _Gauge(
            "telepath_window_failed_ratio",
            "Share of calls with status failed in the export window (0..1), per trunk.",
            ("trunk_id",),
        )
        for trunk_id, view in exported.items():
            calls.add((trunk_id,), view.count)
            _add_ratio(failed, (trunk_id,), view)
            _add_latencies(latency, (trunk_id,), view)

        account_latency = _Gauge(
            "telepath_account_window_latency_seconds",
            "Latency statistic over the export window across all trunks, per component.",
            ("component", "stat"),
        )
        _add_latencies(account_latency, (), account)
        account_failed = _Gauge(
            "telepath_account_window_failed_ratio",
            "Share of failed calls in the export window across all trunks (0..1).",
        )
        _add_ratio(account_failed, (), account)
        return [
            latency,
            calls,
            failed,
            account_latency,
            account_failed,
            _Gauge.single(
                "telepath_account_window_calls",
                "Calls in the export window across all trunks.",
                account.count,
            ),
            _Gauge.single(
                "telepath_window_length_seconds",
                "Length of the export window.",
                window.total_seconds(),
            ),
            _Gauge.single(
                "telepath_monitor_trunks_over_cap",
                "Trunks in the window not exported per trunk because of the cap.",
                len(views) - len(exported),
            ),
            _Gauge.single("telepath_monitor_window_calls_held", "Calls held in the windows.", held),
            self._trunk_info(),
            *self._sync_lag(now),
            self._alerts(),
            *self._outbox(),
            *self._overview_families(now),
        ]

    def _outbox(self) -> Iterable[_Gauge]:
        depth = _Gauge(
            "telepath_monitor_outbox_depth",
            "Notifications waiting to be delivered, by notifier.",
            ("notifier",),
        )
        oldest = _Gauge(
            "telepath_monitor_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification waiting to be delivered, by notifier.",
            ("notifier",),
        )
        for notifier, pending, age in self._metrics.outbox_stats():
            depth.add((notifier,), pending)
            if age is not None:
                oldest.add((notifier,), age)
        return (depth, oldest)

    def _alerts(self) -> _Gauge:
        family = _Gauge(
            "telepath_monitor_alerts",
            "Alerts by rule, severity and state (pending, firing, no_data).",
            ("rule", "severity", "state"),
        )
        counts: dict[tuple[str, str, str], int] = {}
        for st in self._metrics.alert_states():
            state = st.display_state
            if state == "inactive":
                continue
            key = (st.rule, st.severity or "", state)
            counts[key] = counts.get(key, 0) + 1
        for labels, count in sorted(counts.items()):
            family.add(labels, count)
        return family

    def _trunk_info(self) -> _Gauge:
        return trunk_info_gauge(self._metrics.trunk_info(), self._metrics.cap)

    def _sync_lag(self, now: datetime) -> Iterable[_Gauge]:
        watermark = self._watermark()
        if watermark is not None:
            yield _Gauge.single(
                "telepath_monitor_sync_lag_seconds",
                "Age of the newest call start time synced.",
                max(0.0, (now - watermark).total_seconds()),
            )

    def _overview_families(self, now: datetime) -> Iterable[_Gauge]:
        overview = self._metrics.overview()
        if overview is None:
            return
        latency = _Gauge(
            "telepath_overview_latency_seconds",
            "Account-wide average latency as /analytics/overview reports it, per component.",
            ("component",),
        )
        for metric, component in COMPONENTS.items():
            value = overview.get(metric)
            if value is not None:
                latency.add((component,), value / 1000)
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
                yield _Gauge.single(name, doc, value)
        yield _Gauge.single(
            "telepath_overview_age_seconds",
            "Time since /analytics/overview was last read successfully.",
            max(0.0, (now - overview.fetched_at).total_seconds()),
        )


def _add_latencies(family: _Gauge, labels: tuple[str, ...], view: WindowView) -> None:
    append = family.samples.append  # 28 samples a trunk: skip the method call
    for metric in LATENCY_METRICS:
        component = COMPONENTS[metric]
        for stat in EXPORTED_STATS:
            value = view.stat(metric, stat)
            if value is not None:
                append(((*labels, component, stat), value / 1000))


def _add_ratio(family: _Gauge, labels: tuple[str, ...], view: WindowView) -> None:
    ratio = view.failed_ratio()
    if ratio is not None:
        family.add(labels, ratio)
