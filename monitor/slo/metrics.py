"""The SLO families on /metrics.

- ``telepath_slo_events_total{slo, trunk_id}`` and
  ``telepath_slo_good_events_total{slo, trunk_id}``: counted and good calls, incremented
  once per ingested call (so ``rate()`` over them is the daemon's burn rate); per trunk
  under the export cap, later trunks under ``trunk_id="_other"``.
- ``telepath_slo_objective_ratio{slo}``.
- ``telepath_slo_error_budget_remaining_ratio{slo, trunk_id}`` and
  ``telepath_slo_burn_rate{slo, trunk_id, window}``: the latest evaluation's figures
  (exact, from the history's per-minute counts); ``trunk_id=""`` for ``per: account``.

Cardinality: two counters per (SLO, trunk), one budget gauge per (SLO, group) and one
burn-rate gauge per (SLO, group, distinct window): 8 series per trunk for an SLO with
the default alerts (``bench/bench_slo.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.config import LATENCY_METRICS, Config, Slo, format_duration
from monitor.exposition import latency_buckets
from monitor.models import Call
from monitor.slo.counts import SloFigures, is_counted, is_good

__all__ = ["SloCollector", "histogram_edges"]


def histogram_edges(config: Config) -> tuple[float, ...]:
    """The latency histograms' edges: the dense defaults plus every SLO threshold and
    every latency rule threshold (warning, critical, recovery) in the config."""
    thresholds = [slo.good.threshold for slo in config.slos]
    for rule in config.rules:
        if rule.source == "calls" and rule.metric in LATENCY_METRICS:
            thresholds += [t for t in (rule.warning, rule.critical, rule.recovery) if t]
    return latency_buckets(thresholds)


class SloCollector(Collector):
    """Counters fed by :meth:`on_new_calls`, gauges read from the latest figures.

    Args:
        slos: returns the SLOs in force (they change on reload).
        figures: returns the latest evaluation's figures.
        label: a trunk's label under the export cap (admitting it if there is room).
        exported: whether a trunk has its own label (gauges of the others are left out).
    """

    def __init__(
        self,
        slos: Callable[[], Sequence[Slo]],
        figures: Callable[[], Sequence[SloFigures]],
        label: Callable[[str], str],
        exported: Callable[[str], bool],
    ) -> None:
        self._slos = slos
        self._figures = figures
        self._label = label
        self._exported = exported
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[int]] = {}  # (slo, trunk) -> [good, total]

    def on_new_calls(self, calls: Iterable[Call]) -> None:
        slos = self._slos()
        if not slos:
            return
        with self._lock:
            for call in calls:
                for slo in slos:
                    if not (slo.counts(call.trunk_id) and is_counted(slo, call)):
                        continue
                    key = (slo.name, self._label(call.trunk_id))
                    counts = self._counts.setdefault(key, [0, 0])
                    counts[1] += 1
                    if is_good(slo, call):
                        counts[0] += 1

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        events = CounterMetricFamily(
            "telepath_slo_events",
            "Calls an SLO counts (its statuses and trunks), by SLO and trunk.",
            labels=("slo", "trunk_id"),
        )
        good = CounterMetricFamily(
            "telepath_slo_good_events",
            "Calls an SLO counts that were good, by SLO and trunk.",
            labels=("slo", "trunk_id"),
        )
        with self._lock:
            for (name, trunk), (n_good, n_total) in sorted(self._counts.items()):
                events.add_metric((name, trunk), n_total)
                good.add_metric((name, trunk), n_good)
        objective = GaugeMetricFamily(
            "telepath_slo_objective_ratio",
            "The share of counted calls an SLO wants good, 0..1.",
            labels=("slo",),
        )
        for slo in self._slos():
            objective.add_metric((slo.name,), slo.objective)
        budget = GaugeMetricFamily(
            "telepath_slo_error_budget_remaining_ratio",
            "Share of the SLO's error budget left over its period (negative: overspent), "
            'per trunk (trunk_id="" for per: account).',
            labels=("slo", "trunk_id"),
        )
        burn = GaugeMetricFamily(
            "telepath_slo_burn_rate",
            "How many times faster than the period allows the error budget burns, over "
            "each alert window.",
            labels=("slo", "trunk_id", "window"),
        )
        for fig in self._figures():
            if fig.group is not None and not self._exported(fig.group):
                continue
            trunk = fig.group or ""
            budget.add_metric((fig.slo.name, trunk), fig.budget_remaining)
            for window in sorted({w for a in fig.slo.alerts for w in (a.long, a.short)}):
                labels = (fig.slo.name, trunk, format_duration(window))
                burn.add_metric(labels, fig.burn_rate(window))
        return [events, good, objective, budget, burn]
